"""What a stage produced (`StageResult`): where its adapter is, and numbers only, never text.

The result is saved beside the adapter as stage_result.json, crosses asset boundaries
typed, and says which of its figures a run shows (`to_metadata`).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from astrabot_pipeline.training.base_model import TrainingError
from astrabot_pipeline.training.loss_plot import LOSS_CURVE_FILE
from astrabot_pipeline.training.run_plan import RunPlan, actual_figures

STAGE_RESULT_FILE = "stage_result.json"


class StageResultError(TrainingError, ValueError):
    """A saved stage_result.json cannot be read as a StageResult."""


@dataclass
class StageResult:
    """What a stage produced: where its adapter is, and numbers only (never text).

    `seconds` is the whole call (loading included), `runtime_seconds` the training
    loop of this call only; `steps` is the final global step, `steps_trained` the steps
    this call took (fewer when it resumed from `resumed_from_step`). `loss_history`
    holds `{"step", "train_loss", "validation_loss"}` rows (step 0: before training);
    `token_budget` what fitting each split into `max_length` took (`BudgetFit.counts`).
    `reused` is True when the same inputs had already been trained and nothing ran;
    `skipped` when the stage had no examples of its family and passes the previous
    stage's adapter (and numbers) on under its own name. `plan` is what the stage
    planned before its first step (`RunPlan.to_dict`: examples, steps, tokens, the
    measured speed and the time it estimated).
    Fields after `validation_examples` have defaults so results of older versions load.
    """

    stage: str
    adapter_dir: str
    base_model: str
    train_loss: float
    validation_loss_before: float
    validation_loss_after: float
    steps: int
    seconds: float
    train_examples: int
    validation_examples: int
    max_length: int = 256
    tokens_seen: int = 0
    runtime_seconds: float = 0.0
    steps_trained: int = 0
    resumed_from_step: int = 0
    best_step: int | None = None
    run_key: str = ""
    batching: str = ""
    profile: str = ""
    seed: int = 0
    dataset_hash: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    loss_history: list[dict[str, Any]] = field(default_factory=list)
    token_budget: dict[str, dict[str, int]] = field(default_factory=dict)
    reused: bool = False
    skipped: bool = False
    plan: dict[str, Any] = field(default_factory=dict)
    reply_line_cap: int | None = None  # generation's line cap (dataset/reply_lines.py)
    precision: str = ""  # what the stage trained in: "bf16", "fp16" or "fp32"
    precision_reason: str = ""  # why, in words (training/precision.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_metadata(self) -> dict[str, Any]:
        """The figures a run shows for this stage, as plain JSON-able values: the adapter's
        path, losses, counts and timings, the plan beside what the stage did, the loss
        curve's rows and its PNG inline in Markdown. A skipped stage shows only that it
        was skipped and the adapter it passed on."""
        if self.skipped:
            return {"skipped": True, "adapter_dir": self.adapter_dir}
        return {
            "adapter_dir": str(self.adapter_dir),
            "train_loss": self.train_loss,
            "validation_loss_before": self.validation_loss_before,
            "validation_loss_after": self.validation_loss_after,
            "steps": self.steps,
            "seconds": round(self.seconds, 2),
            "train_examples": self.train_examples,
            "validation_examples": self.validation_examples,
            "tokens_seen": self.tokens_seen,
            "precision": self.precision_reason or self.precision,
            "runtime_seconds": round(self.runtime_seconds, 2),
            "best_step": self.best_step,
            "reply_line_cap": self.reply_line_cap,
            "resumed_from_step": self.resumed_from_step,
            **self._plan_figures(),
            "loss_curve": _plottable(self.loss_history),
            **_loss_curve_markdown(Path(self.adapter_dir)),
        }

    def _plan_figures(self) -> dict[str, float]:
        """The plan made before the first step beside what the stage did (numbers only)."""
        if not self.plan:  # a result reused from before plans were recorded
            return {}
        plan = RunPlan.from_dict(self.plan)
        return actual_figures(plan, self.steps, self.tokens_seen, self.runtime_seconds)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> StageResult:
        """Tolerant reader: missing newer keys take their defaults, unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        required = [
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
        ]
        missing = [name for name in required if name not in payload]
        if missing:
            raise StageResultError(
                f"stage result lacks {', '.join(missing)}: re-run the stage to rewrite it"
            )
        return cls(**{key: value for key, value in payload.items() if key in known})

    def save(self, folder: str | Path) -> None:
        """Write the result into the adapter's `folder` (`load` reads it back)."""
        (Path(folder) / STAGE_RESULT_FILE).write_text(json.dumps(self.to_dict(), indent=2) + "\n")

    @classmethod
    def load(cls, adapter_dir: str | Path) -> StageResult:
        """Read the result a stage saved beside its adapter."""
        path = Path(adapter_dir) / STAGE_RESULT_FILE
        try:
            payload = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise StageResultError(f"{path} is not valid JSON: re-run the stage") from error
        if not isinstance(payload, Mapping):
            raise StageResultError(f"{path} does not hold a JSON object: re-run the stage")
        return cls.from_dict(payload)


def _plottable(history: list[dict]) -> list[dict]:
    """Loss history rows (step 0: before training); a loss not measured at a step is None."""
    return [
        {
            "step": int(row["step"]),
            "train_loss": row.get("train_loss"),
            "validation_loss": row.get("validation_loss"),
        }
        for row in history
    ]


def _loss_curve_markdown(adapter_dir: Path) -> dict[str, str]:
    """The stage's loss-curve PNG inline in Markdown (the Dagster UI renders it)."""
    image = adapter_dir / LOSS_CURVE_FILE
    if not image.is_file():  # adapters trained before the plot existed
        return {}
    encoded = base64.b64encode(image.read_bytes()).decode("ascii")
    return {"loss_curve_plot": f"![loss curve](data:image/png;base64,{encoded})"}


def loss_history(log_history: Sequence[Mapping[str, Any]], loss_before: float) -> list[dict]:
    """`{"step", "train_loss", "validation_loss"}` rows from the Trainer's log history."""
    rows: dict[int, dict[str, Any]] = {
        0: {"step": 0, "train_loss": None, "validation_loss": loss_before}
    }
    for entry in log_history:
        step = int(entry.get("step", 0))
        row = rows.setdefault(step, {"step": step, "train_loss": None, "validation_loss": None})
        if "loss" in entry:
            row["train_loss"] = float(entry["loss"])
        if "eval_loss" in entry and step > 0:
            row["validation_loss"] = float(entry["eval_loss"])
    return [rows[step] for step in sorted(rows)]


def library_versions() -> dict[str, str]:
    """The installed versions of the training libraries, recorded with the result."""
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "absent"
    return versions
