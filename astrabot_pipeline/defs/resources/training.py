"""The training settings every stage shares: the budget and the curriculum."""

from typing import Literal

import dagster as dg

from astrabot_pipeline.training.budget import TrainBudget, resolve_train_budget

Curriculum = Literal["chain", "single"]


class TrainingResource(dg.ConfigurableResource):
    """How long every stage trains (`budget`: `demo`, `epochs:N` or `minutes:N`; empty:
    ASTRABOT_TRAIN_BUDGET, else `demo` for the generated demo and `epochs:1` otherwise; a
    stage's own `max_steps` wins) and the curriculum: `chain` (one stage per family, each
    resuming the last) or `single` (one adapter on the shuffled union of the families with
    the chain's total budget, trained by the first stage and passed on by the others)."""

    budget: str = ""
    curriculum: Curriculum = "chain"

    def train_budget(self, *, generated_demo: bool) -> TrainBudget:
        return resolve_train_budget(self.budget, generated_demo=generated_demo)
