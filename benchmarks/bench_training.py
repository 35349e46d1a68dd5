"""lora_stage_*: training tokens/s of our stage configuration against a plain baseline.

The `small` profile (SmolLM2-135M-Instruct, LoRA, on the CPU) on the demo's conversational
training records, the same records the pipeline's mixed_dataset gives the first stage.

* ours: `train_lora_stage` as the pipeline runs it: TRL's SFTTrainer, loss on the owner's
  tokens only, padding-free batches where the attention keeps flattened examples apart
  (`stages._padding_free_attention`), and on a CPU only the scored (owner) positions
  projected through the LM head (`stages._owner_token_trainer`).
* baseline: `transformers.Trainer` + `peft.get_peft_model` with the same LoRA config, the
  same chat template and assistant-only labels, padded batches (`DataCollatorForSeq2Seq`),
  random order, no grouping, no packing.

Both train the same examples (same seed, so the same random order), batch size,
max_length, learning rate, warmup and number of steps, each in its own child process (its
own peak RSS). Tokens/s = non-padding tokens trained / seconds of the training loop only
(model loading, tokenization and evaluation excluded). The two alternate (ours, baseline,
baseline, ours) so that a machine shared with other work slows both alike; the load average
is printed beside each figure. Goal of the issue: ours >= 1.5x the baseline.

`BENCH_TRAINING_STEPS` (default 12) sets the steps per run, `BENCH_TRAINING_THREADS` the
torch threads of both runs (default: torch's own choice, one per core).
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

from _harness import measure

from astrabot_pipeline.conversations import (
    ConversationProcessor,
    build_window_profiles,
    relationship_dynamics,
)
from astrabot_pipeline.dataset import TrainingDataCreator, records_from_frame
from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup
from astrabot_pipeline.training import (
    get_model_profile,
    load_base_model,
    prepare_small_base_model,
    train_lora_stage,
)
from astrabot_pipeline.training.base_model import load_tokenizer, quiet_progress_bars
from astrabot_pipeline.training.stages import _lora_config

N_MESSAGES = 5_000
STEPS = int(os.environ.get("BENCH_TRAINING_STEPS", "12"))
# Intra-op threads of both runs alike (default: torch's, one per core). On a machine shared
# with other work, one thread avoids OpenMP's oversubscription stalls.
THREADS = int(os.environ.get("BENCH_TRAINING_THREADS", "0"))
VALIDATION_EXAMPLES = 4  # scored before and after by train_lora_stage; not timed
GOAL = 1.5


def _records(tmp: Path) -> tuple[list[dict], list[dict]]:
    """The demo's conversational train and validation records (raw bodies: a benchmark)."""
    demo = write_demo_backup(tmp / "in", n_messages=N_MESSAGES, seed=4)
    tables = (
        SignalProcessor(DEMO_PASSPHRASE, extract_attachments=False)
        .decode(demo.path, tmp / "out")
        .read_tables()
    )
    windows = ConversationProcessor().create_conversation_windows(tables["messages"])
    creator = TrainingDataCreator(text_column="body")
    profiles = build_window_profiles(windows, time_zone="UTC", text_column="body")
    dynamics = relationship_dynamics(windows, profiles, time_zone="UTC", text_column="body")
    examples = creator.combine(*creator.all_families(windows, dynamics, profiles)).examples
    examples = examples[examples["kind"] == "conversational"]
    split = {name: records_from_frame(part) for name, part in examples.groupby("split")}
    return split["train"], split["validation"]


def _token_lengths(tokenizer, records: list[dict]) -> list[int]:
    return [
        len(
            tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)[
                "input_ids"
            ]
        )
        for r in records
    ]


def _threads() -> int:
    import torch

    if THREADS:
        torch.set_num_threads(THREADS)
    return torch.get_num_threads()


def _ours(base: Path, train, validation, out: Path, config) -> tuple[int, float, str]:
    _threads()
    result = train_lora_stage(base, train, validation, out, config, profile="small")
    return result.tokens_seen, result.runtime_seconds, result.batching


def _baseline(base: Path, train, config, out: Path) -> tuple[int, float, str]:
    """Plain HF Trainer + PEFT: padded batches in random order, nothing else."""
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainingArguments

    _threads()
    model, tokenizer = load_base_model(base)
    model = get_peft_model(model, _lora_config(config))

    def encode(record: dict) -> dict:
        encoded = tokenizer.apply_chat_template(
            record["messages"],
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids = encoded["input_ids"][: config.max_length]
        owner = encoded["assistant_masks"][: config.max_length]
        labels = [token if keep else -100 for token, keep in zip(ids, owner, strict=True)]
        return {"input_ids": ids, "attention_mask": [1] * len(ids), "labels": labels}

    args = TrainingArguments(
        output_dir=str(out),
        max_steps=config.max_steps,
        per_device_train_batch_size=config.batch_size,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_ratio,
        lr_scheduler_type=config.lr_scheduler_type,
        seed=config.seed,
        data_seed=config.seed,
        use_cpu=True,
        save_strategy="no",
        logging_strategy="no",
        report_to="none",
        disable_tqdm=True,
        include_num_input_tokens_seen="non_padding",
    )
    with quiet_progress_bars():
        trainer = Trainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list([encode(r) for r in train]),
            data_collator=DataCollatorForSeq2Seq(tokenizer, padding=True, label_pad_token_id=-100),
        )
        trainer.remove_callback(PrinterCallback)  # it prints the final metrics dict
        started = time.perf_counter()
        trainer.train()
    return trainer.state.num_input_tokens_seen, time.perf_counter() - started, "padded, random"


def _row(label: str, tokens: int, seconds: float, peak_mib: float, load: float) -> float:
    rate = tokens / seconds
    print(
        f"  {label:<30} {tokens:>7,} tokens in {seconds:6.1f} s = {rate:6.1f} tokens/s, "
        f"peak RSS {peak_mib:6.0f} MiB (load {load:.1f})"
    )
    return rate


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        train, validation = _records(tmp)
        base = prepare_small_base_model(tmp / "base-small")
        profile = get_model_profile("small")
        config = profile.stage_config("bench", max_steps=STEPS)
        tokenizer = load_tokenizer(base)
        lengths = _token_lengths(tokenizer, train)
        # Both runs see every record whole (the pipeline trims contexts to max_length
        # tokens before training; the demo's examples fit).
        train = [r for r, n in zip(train, lengths, strict=True) if n <= config.max_length]
        validation = validation[:VALIDATION_EXAMPLES]
        lengths = sorted(n for n in lengths if n <= config.max_length)
        print(
            f"small profile, CPU ({os.cpu_count()} cores, {measure(_threads)[2]} torch "
            f"threads): {STEPS} steps x batch "
            f"{config.batch_size}, max_length {config.max_length}; {len(train)} conversational "
            f"training records, tokens median {lengths[len(lengths) // 2]}, max {lengths[-1]}"
        )
        rates: dict[str, list[float]] = {"ours": [], "baseline": []}
        for round_, order in enumerate((("ours", "baseline"), ("baseline", "ours"))):
            for which in order:
                out = tmp / f"{which}-{round_}"
                if which == "ours":
                    fn = lambda out=out: _ours(base, train, validation, out, config)  # noqa: E731
                else:
                    fn = lambda out=out: _baseline(base, train, config, out)  # noqa: E731
                _, peak, (tokens, seconds, batching) = measure(fn)
                label = f"{which} ({batching})"
                rates[which].append(_row(label, tokens, seconds, peak, os.getloadavg()[0]))
        ours = sum(rates["ours"]) / len(rates["ours"])
        baseline = sum(rates["baseline"]) / len(rates["baseline"])
        ratio = ours / baseline
        # Runs of one side that differ by more than 20 % mean the machine's load changed
        # under them: the ratio is then noise, whatever it says.
        spread = max(max(r) / min(r) for r in rates.values())
        if spread > 1.2:
            print(
                f"  WARNING: runs of the same side differ {spread:.1f}x (a busy machine); "
                "rerun on an idle one or with BENCH_TRAINING_THREADS=1"
            )
        print(
            f"  training tokens/s, mean of 2 runs: ours {ours:.1f}, baseline {baseline:.1f}: "
            f"{ratio:.2f}x, goal >= {GOAL}x {'met' if ratio >= GOAL else 'NOT met'}"
        )


if __name__ == "__main__":
    main()
