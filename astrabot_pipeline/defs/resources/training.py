"""The training settings every stage shares: the budget (training/budget.py)."""

import dagster as dg

from astrabot_pipeline.training.budget import TrainBudget, resolve_train_budget


class TrainingResource(dg.ConfigurableResource):
    """How long every stage trains: `demo`, `epochs:N` or `minutes:N`; empty: from
    ASTRABOT_TRAIN_BUDGET, else `demo` for the generated demo and `epochs:1` otherwise.
    A stage's own `max_steps` in the launchpad wins over the budget."""

    budget: str = ""

    def train_budget(self, *, generated_demo: bool) -> TrainBudget:
        return resolve_train_budget(self.budget, generated_demo=generated_demo)
