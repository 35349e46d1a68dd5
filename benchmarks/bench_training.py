"""lora_stage_*: one LoRA stage vs full-parameter fine-tuning of the same tiny model.

Same records, steps, batch size and sequence length; figures are examples/s and peak RSS.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from _harness import measure, report

from astrabot_pipeline.conversations import ConversationProcessor
from astrabot_pipeline.dataset import TrainingDataCreator, records_from_frame
from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup
from astrabot_pipeline.training import StageConfig, build_tiny_base_model, train_lora_stage

N_MESSAGES = 5_000
STEPS, BATCH, MAX_LENGTH = 60, 8, 256


def _records(tmp: Path) -> tuple[list[dict], list[dict]]:
    """Conversational examples from the demo (raw bodies: a benchmark, not training data)."""
    demo = write_demo_backup(tmp / "in", n_messages=N_MESSAGES, seed=4)
    tables = (
        SignalProcessor(DEMO_PASSPHRASE, extract_attachments=False)
        .decode(demo.path, tmp / "out")
        .read_tables()
    )
    windows = ConversationProcessor().create_conversation_windows(tables["messages"])
    creator = TrainingDataCreator(text_column="body")
    examples = creator.combine_datasets(creator.create_conversational_examples(windows))
    split = {name: records_from_frame(part) for name, part in examples.groupby("split")}
    return split["train"], split["validation"]


def full_fine_tune(base: Path, train: list[dict], out: Path) -> None:
    """The obvious baseline: TRL's SFTTrainer updating every weight, no adapter."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    args = SFTConfig(
        output_dir=str(out),
        max_steps=STEPS,
        per_device_train_batch_size=BATCH,
        max_length=MAX_LENGTH,
        learning_rate=2e-3,
        assistant_only_loss=True,
        bf16=False,
        use_cpu=True,
        save_strategy="no",
        report_to="none",
        disable_tqdm=True,
        logging_strategy="no",
    )
    SFTTrainer(model=str(base), args=args, train_dataset=Dataset.from_list(train)).train()


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, validation = _records(tmp)
        texts = pd.Series([m["content"] for r in train for m in r["messages"]])
        base = build_tiny_base_model(texts, tmp / "base")
        config = StageConfig(name="bench", max_steps=STEPS, batch_size=BATCH, max_length=MAX_LENGTH)
        examples = STEPS * BATCH
        print(f"one training stage: {STEPS} steps x {BATCH} examples, tiny model, CPU")
        seconds, peak, result = measure(
            lambda: train_lora_stage(base, train, validation, tmp / "lora", config)
        )
        report("LoRA stage (incl. 2 held-out evals)", examples, "examples", seconds, peak)
        print(
            f"  {'':<38} held-out loss {result.validation_loss_before:.3f} -> "
            f"{result.validation_loss_after:.3f}"
        )
        seconds, peak, _ = measure(lambda: full_fine_tune(base, train, tmp / "full"))
        report("baseline: full-parameter SFT", examples, "examples", seconds, peak)


if __name__ == "__main__":
    main()
