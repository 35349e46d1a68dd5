"""lora_stage_*: training tokens/s of our stage configuration against a plain baseline.

The `small` profile (SmolLM2-135M-Instruct, LoRA, on the CPU) on the demo's conversational
training records, the same records the pipeline's mixed_dataset gives the first stage.

* ours: `train_lora_stage` as the pipeline runs it: TRL's SFTTrainer, loss on the owner's
  tokens only, padding-free batches where the attention keeps flattened examples apart
  (`trainer.padding_free_attention`), and on a CPU only the scored (owner) positions
  projected through the LM head (`trainer.owner_token_trainer`), and LoRA's dropout
  drawing only the dropped positions (`training/lora_dropout.py`).
* baseline: `transformers.Trainer` + `peft.get_peft_model` with the same LoRA config, the
  same chat template and assistant-only labels, padded batches (`DataCollatorForSeq2Seq`),
  random order, no grouping, no packing.

Ours runs twice: in fp32, and in bf16 (training/precision.py) where this CPU has bf16
instructions (where it has none, the bench says so and measures fp32 only: CI's and many
users' CPUs). The baseline runs in fp32, as a plain Trainer does on a CPU.

All train the same examples (same seed, so the same random order), batch size,
max_length, learning rate, warmup and number of steps, each in its own child process (its
own peak RSS). Tokens/s = non-padding tokens trained / seconds of the training loop only
(model loading, tokenization and evaluation excluded). They take turns, `ROUNDS` rounds,
so that a machine shared with other work slows all alike; the figure of each is the median
of its rounds, and the load average is printed beside each run. Goal of the issue: ours
>= 1.5x the baseline, peak RSS not above the baseline's. The bf16 run's training loss is
checked against the fp32 run's (same steps, same examples): within `BF16_LOSS_TOLERANCE`.

`BENCH_TRAINING_STEPS` (default 12) sets the steps per run, `BENCH_TRAINING_ROUNDS`
(default 5) the rounds, `BENCH_TRAINING_THREADS` the torch threads of every run (default:
torch's own choice, one per core).
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from dataclasses import replace
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
from astrabot_pipeline.training.base_model import (
    load_tokenizer,
    model_widths,
    quiet_progress_bars,
)
from astrabot_pipeline.training.precision import choose_precision
from astrabot_pipeline.training.trainer import lora_config

N_MESSAGES = 5_000
STEPS = int(os.environ.get("BENCH_TRAINING_STEPS", "12"))
ROUNDS = int(os.environ.get("BENCH_TRAINING_ROUNDS", "5"))
# Intra-op threads of both runs alike (default: torch's, one per core). On a machine shared
# with other work, one thread avoids OpenMP's oversubscription stalls.
THREADS = int(os.environ.get("BENCH_TRAINING_THREADS", "0"))
VALIDATION_EXAMPLES = 4  # scored before and after by train_lora_stage; not timed
GOAL = 1.5
BF16_LOSS_TOLERANCE = 0.02  # relative: bf16's training loss against fp32's, same steps


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


def _ours(base: Path, train, validation, out: Path, config) -> tuple[int, float, str, float]:
    _threads()
    result = train_lora_stage(base, train, validation, out, config, profile="small")
    label = f"{result.batching}, {result.precision}"
    return result.tokens_seen, result.runtime_seconds, label, result.train_loss


def _baseline(base: Path, train, config, out: Path) -> tuple[int, float, str, float]:
    """Plain HF Trainer + PEFT: padded batches in random order, nothing else."""
    from datasets import Dataset
    from peft import get_peft_model
    from transformers import DataCollatorForSeq2Seq, PrinterCallback, Trainer, TrainingArguments

    _threads()
    model, tokenizer = load_base_model(base)
    model = get_peft_model(model, lora_config(config))

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
        loss = trainer.train().training_loss
    seconds = time.perf_counter() - started
    return trainer.state.num_input_tokens_seen, seconds, "padded, random, fp32", loss


def _row(label: str, tokens: int, seconds: float, peak_mib: float, load: float) -> float:
    rate = tokens / seconds
    print(
        f"  {label:<46} {tokens:>7,} tokens in {seconds:6.1f} s = {rate:6.1f} tokens/s, "
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
        # Every run sees every record whole (the pipeline trims contexts to max_length
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
        # In a child, as every torch call here: a parent that used torch's thread pool
        # would hand its children a pool that deadlocks.
        auto = measure(lambda: choose_precision("auto", lambda: model_widths(base)))[2]
        print(f"  precision on this machine: {auto.reason}")
        runs = {"ours fp32": replace(config, precision="fp32"), "baseline": None}
        if auto.bf16:
            runs["ours bf16"] = replace(config, precision="bf16")
        rates: dict[str, list[float]] = {name: [] for name in runs}
        peaks: dict[str, list[float]] = {name: [] for name in runs}
        losses: dict[str, float] = {}
        for round_ in range(ROUNDS):
            # Each round starts with another run, so no run always follows the same one.
            names = list(runs)
            names = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in names:
                out = tmp / f"{name.replace(' ', '-')}-{round_}"
                stage = runs[name]
                if stage is None:
                    fn = lambda out=out: _baseline(base, train, config, out)  # noqa: E731
                else:
                    fn = lambda out=out, stage=stage: _ours(  # noqa: E731
                        base, train, validation, out, stage
                    )
                _, peak, (tokens, seconds, batching, loss) = measure(fn)
                losses.setdefault(name, loss)
                peaks[name].append(peak)
                rate = _row(f"{name} ({batching})", tokens, seconds, peak, os.getloadavg()[0])
                rates[name].append(rate)
        median = {name: statistics.median(values) for name, values in rates.items()}
        # Runs of one kind that differ by more than 20 % mean the machine's load changed
        # under them: the ratios are then noise, whatever they say.
        spread = max(max(r) / min(r) for r in rates.values())
        if spread > 1.2:
            print(
                f"  WARNING: runs of the same kind differ {spread:.1f}x (a busy machine); "
                "rerun on an idle one or with BENCH_TRAINING_THREADS=1"
            )
        baseline = median["baseline"]
        print(f"  training tokens/s, median of {ROUNDS} rounds (peak RSS, largest of the rounds):")
        for name in runs:
            ratio = median[name] / baseline
            verdict = (
                ""
                if name == "baseline"
                else (
                    f": {ratio:.2f}x the baseline, goal >= {GOAL}x "
                    f"{'met' if ratio >= GOAL else 'NOT met'}"
                )
            )
            print(f"    {name:<10} {median[name]:6.1f} ({max(peaks[name]):5.0f} MiB){verdict}")
        if "ours bf16" in losses:
            fp32, bf16 = losses["ours fp32"], losses["ours bf16"]
            difference = abs(bf16 - fp32) / abs(fp32)
            print(
                f"  training loss over the {STEPS} steps: fp32 {fp32:.4f}, bf16 {bf16:.4f} "
                f"({difference:.2%} apart, tolerance {BF16_LOSS_TOLERANCE:.0%}: "
                f"{'agrees' if difference <= BF16_LOSS_TOLERANCE else 'DISAGREES'})"
            )


if __name__ == "__main__":
    main()
