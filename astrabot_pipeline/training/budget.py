"""The training budget: how much each stage trains, one setting for the whole chain.

A budget is written as text (the launchpad's `training` resource, or the environment
variable ASTRABOT_TRAIN_BUDGET):

* `demo`: the model profile's own short `max_steps` (today's budget; the generated demo
  trains with it so `make run` stays short);
* `epochs:N`: N passes over each family's training examples (N may be fractional,
  e.g. `epochs:0.5`); the steps follow from the examples, the batch size and the
  gradient accumulation;
* `minutes:N`: as many steps as fit in N minutes per stage, from the speed of the
  stage's first steps (see step_plan.py); the count chosen is stored with the run, so a
  resumed run continues the same plan.

Unset, a generated demo history trains with `demo` and any other history with
`epochs:1`. A stage's own `max_steps` (launchpad config) wins over every budget.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.settings import TRAIN_BUDGET_ENV
from astrabot_pipeline.training.base_model import TrainingError

BudgetKind = Literal["demo", "epochs", "minutes"]
BUDGET_KINDS: tuple[BudgetKind, ...] = ("demo", "epochs", "minutes")


class TrainBudgetError(TrainingError, SettingError):
    """A training budget that cannot be read (ASTRABOT_TRAIN_BUDGET or the launchpad)."""


@dataclass(frozen=True)
class TrainBudget:
    """A parsed budget: its kind and, for epochs and minutes, how many."""

    kind: BudgetKind
    amount: float | None = None

    def __str__(self) -> str:
        if self.amount is None:
            return self.kind
        return f"{self.kind}:{self.amount:g}"

    def stage_overrides(self) -> dict[str, Any]:
        """The StageConfig settings this budget sets (none for `demo`: the profile's own)."""
        if self.kind == "epochs":
            return {"num_train_epochs": self.amount}
        if self.kind == "minutes":
            return {"max_minutes": self.amount}
        return {}

    def single_adapter_overrides(self, stage_max_steps: int, stages: int) -> dict[str, Any]:
        """The settings that give one adapter on the union of `stages` families the chain's
        total budget: N epochs of the union are N epochs of each family; `stages` times a
        stage's steps (`demo`) or minutes."""
        if self.kind == "epochs":
            return {"num_train_epochs": self.amount}
        if self.kind == "minutes":
            return {"max_minutes": (self.amount or 0) * stages}
        return {"max_steps": stage_max_steps * stages}


DEMO_BUDGET = TrainBudget("demo")
USER_DEFAULT_BUDGET = TrainBudget("epochs", 1.0)

_EXAMPLES = "demo, epochs:1, epochs:0.5 or minutes:90"


def parse_train_budget(text: str) -> TrainBudget:
    """`demo`, `epochs:N` or `minutes:N` (N > 0) as a TrainBudget; TrainBudgetError otherwise."""
    cleaned = text.strip().lower()
    kind, separator, amount_text = cleaned.partition(":")
    if kind not in BUDGET_KINDS:
        raise TrainBudgetError(
            f"unknown training budget {text!r}: write demo, epochs:N or minutes:N "
            f"(e.g. {_EXAMPLES}) in ASTRABOT_TRAIN_BUDGET or the launchpad's training resource"
        )
    if kind == "demo":
        if separator:
            raise TrainBudgetError(
                f"the demo budget takes no number: write 'demo' (or epochs:N), not {text!r}"
            )
        return DEMO_BUDGET
    try:
        amount = float(amount_text)
    except ValueError:
        amount = float("nan")
    if not amount > 0 or amount == float("inf"):
        raise TrainBudgetError(
            f"training budget {text!r} needs a positive number after '{kind}:' (e.g. {_EXAMPLES})"
        )
    return TrainBudget("epochs" if kind == "epochs" else "minutes", amount)


def resolve_train_budget(
    configured: str | None,
    *,
    generated_demo: bool,
    environ: Mapping[str, str] | None = None,
) -> TrainBudget:
    """The budget a run trains with: the configured text, else ASTRABOT_TRAIN_BUDGET, else
    `demo` for the generated demo history and `epochs:1` for any other."""
    environ = os.environ if environ is None else environ
    text = (configured or "").strip() or (environ.get(TRAIN_BUDGET_ENV) or "").strip()
    if text:
        return parse_train_budget(text)
    return DEMO_BUDGET if generated_demo else USER_DEFAULT_BUDGET


def steps_for_minutes(minutes: float, seconds_per_step: float) -> int:
    """Optimizer steps that fit in `minutes` at `seconds_per_step` (at least one)."""
    if not seconds_per_step > 0:
        raise TrainBudgetError("a time budget needs a measured, positive time per step")
    return max(1, int(minutes * 60 // seconds_per_step))
