"""A stage's plan, made before its first step: examples, steps, tokens and the time they take.

The speed comes from a few probe batches run through the trainer's own training step
(forward and backward, no optimizer step, gradients discarded, random state restored),
so the estimate is this machine's, with this model, on these examples. A `minutes:N`
budget turns that speed into a step count; every budget gets the time estimate.

The plan is written into the run's checkpoint folder (`runs/<key>/plan.json`) before
training starts; a resumed run reads it back instead of measuring again, so it continues
the same number of steps (and its learning-rate schedule) after an interruption. Only
numbers are stored, never text.
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path
from typing import Any, Protocol

from astrabot_pipeline.durations import minutes_seconds
from astrabot_pipeline.storage import write_json
from astrabot_pipeline.training.budget import steps_for_minutes


class PlanSettings(Protocol):
    """What a plan reads of a stage's settings (stage_config.py `StageConfig`); a
    Protocol, so the stage imports the plan and not the other way round."""

    @property
    def max_steps(self) -> int: ...
    @property
    def batch_size(self) -> int: ...
    @property
    def gradient_accumulation_steps(self) -> int: ...
    @property
    def num_train_epochs(self) -> float | None: ...
    @property
    def max_minutes(self) -> float | None: ...
    def planned_steps(self, train_examples: int) -> int: ...
    def logging_interval(self, train_examples: int) -> int: ...
    def checkpoint_interval(self, train_examples: int) -> int: ...
    def with_fixed_steps(self, steps: int) -> PlanSettings: ...


PLAN_FILE = "plan.json"
# Probe batches before the first step; the first one pays one-time costs (allocation,
# kernel selection) and is not timed when there are more.
PROBE_BATCHES = 3


@dataclass(frozen=True)
class RunPlan:
    """What a stage is about to do, and how long it should take (numbers only)."""

    budget: str  # "steps:40", "epochs:1", "minutes:90"
    train_examples: int
    examples_per_step: int
    steps: int
    tokens: int  # planned: steps x examples per step x mean tokens per example
    tokens_per_second: float  # measured on the probe batches
    seconds_per_step: float
    estimated_seconds: float
    probe_batches: int
    resumed: bool = False  # read back from the run folder rather than measured now
    precision: str = ""  # the arithmetic the stage trains in (training/precision.py)

    def describe(self) -> str:
        """The plan as one log line."""
        return (
            f"plan ({self.budget}): {self.train_examples} training examples, {self.steps} "
            f"steps of {self.examples_per_step} examples, ~{self.tokens} tokens at "
            f"{self.tokens_per_second:.0f} tokens/s measured, estimated "
            f"{minutes_seconds(self.estimated_seconds)}"
            + (f", in {self.precision}" if self.precision else "")
            + (" (resumed plan)" if self.resumed else "")
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: dict[str, Any]) -> RunPlan:
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in payload.items() if key in known})


def budget_label(config: PlanSettings) -> str:
    """How the stage's step count is decided, as the plan records it."""
    if config.max_minutes is not None:
        return f"minutes:{config.max_minutes:g}"
    if config.num_train_epochs is not None:
        return f"epochs:{config.num_train_epochs:g}"
    return f"steps:{config.max_steps}"


def measure_training_speed(trainer, batches: int = PROBE_BATCHES) -> tuple[float, float, int]:
    """(seconds per batch, tokens per second, batches run) over the probe batches."""
    import torch

    model = trainer.model
    model.train()
    metrics = getattr(trainer, "_metrics", None)
    total_tokens = getattr(trainer, "_total_train_tokens", None)
    timings: list[tuple[float, int]] = []
    # Set by `train()` for its loop; the probe's training steps read it the same way.
    if not hasattr(trainer, "current_gradient_accumulation_steps"):
        trainer.current_gradient_accumulation_steps = trainer.args.gradient_accumulation_steps
    with torch.random.fork_rng(devices=[]):
        loader = iter(trainer.get_train_dataloader())
        for _ in range(batches):
            batch = next(loader, None)
            if batch is None:
                break
            mask = batch.get("attention_mask")
            tokens = int(mask.sum()) if mask is not None else int(batch["input_ids"].numel())
            started = time.perf_counter()
            trainer.training_step(model, batch)
            timings.append((time.perf_counter() - started, tokens))
            model.zero_grad(set_to_none=True)
    # The probe is not training: its logged metrics and token count are dropped.
    if metrics is not None and "train" in metrics:
        metrics["train"].clear()
    if total_tokens is not None:
        trainer._total_train_tokens = total_tokens
    timed = timings[1:] or timings
    seconds = sum(elapsed for elapsed, _ in timed)
    tokens = sum(count for _, count in timed)
    return seconds / max(len(timed), 1), tokens / max(seconds, 1e-9), len(timings)


def plan_run(trainer, config: PlanSettings, run_dir: Path, token_lengths: list[int]) -> RunPlan:
    """The stage's plan: read back from `run_dir` when resuming, else measured and written
    there. A `max_minutes` stage's trainer gets the plan's step count (and the checkpoint
    and logging intervals that go with it)."""
    path = Path(run_dir) / PLAN_FILE
    examples = len(token_lengths)
    if path.is_file():
        plan = replace(RunPlan.from_dict(json.loads(path.read_text())), resumed=True)
    else:
        seconds_per_batch, tokens_per_second, probed = measure_training_speed(trainer)
        # Rounded before use, so the stored plan reproduces its own step count.
        seconds_per_step = max(
            round(seconds_per_batch * config.gradient_accumulation_steps, 4), 1e-4
        )
        if config.max_minutes is not None:
            steps = steps_for_minutes(config.max_minutes, seconds_per_step)
        else:
            steps = config.planned_steps(examples)
        per_step = config.batch_size * config.gradient_accumulation_steps
        mean_tokens = sum(token_lengths) / max(examples, 1)
        tokens = int(round(steps * per_step * mean_tokens))
        plan = RunPlan(
            budget=budget_label(config),
            train_examples=examples,
            examples_per_step=per_step,
            steps=steps,
            tokens=tokens,
            tokens_per_second=round(tokens_per_second, 2),
            seconds_per_step=seconds_per_step,
            estimated_seconds=round(tokens / max(tokens_per_second, 1e-9), 1),
            probe_batches=probed,
        )
        write_json(path, plan.to_dict())
    if config.max_minutes is not None:
        settled = config.with_fixed_steps(plan.steps)
        args = trainer.args
        args.max_steps = plan.steps
        args.save_steps = settled.checkpoint_interval(examples)
        args.logging_steps = settled.logging_interval(examples)
    return plan


def actual_figures(plan: RunPlan, steps: int, tokens: int, seconds: float) -> dict[str, float]:
    """The plan beside what happened, for the stage's metadata."""
    return {
        "plan_steps": plan.steps,
        "plan_tokens": plan.tokens,
        "plan_estimated_seconds": plan.estimated_seconds,
        "plan_tokens_per_second": plan.tokens_per_second,
        "actual_steps": steps,
        "actual_tokens": tokens,
        "actual_seconds": round(seconds, 2),
        "actual_tokens_per_second": round(tokens / seconds, 2) if seconds > 0 else math.nan,
    }
