"""The training curriculum: one LoRA stage per dataset family, each resuming the last.

The families and their order are the dataset's (`EXAMPLE_KINDS`: conversational, then
adaptive, then burst); everything that names a stage (the Dagster assets, the
evaluation, the tests) derives it from `CURRICULUM`, so adding or reordering a family
happens in one place.

`curriculum: single` (the `training` resource) trains one adapter instead, on the
shuffled union of the families' examples with the chain's total budget
(`stage_plan.single_adapter_examples`, `TrainBudget.single_adapter_overrides`): the first
stage asset trains it and the later ones pass it on, so the graph and the evaluation stay
the same. The chain is the default; the single adapter is there to be compared with it.
"""

from __future__ import annotations

from dataclasses import dataclass

from astrabot_pipeline.dataset.builder import EXAMPLE_KINDS


@dataclass(frozen=True)
class CurriculumStage:
    """One stage: its asset name, the family it trains on, the stage it resumes (if any)."""

    name: str
    family: str
    previous: str | None


def _curriculum(families: tuple[str, ...]) -> tuple[CurriculumStage, ...]:
    names = [f"lora_stage_{number}_{family}" for number, family in enumerate(families, 1)]
    return tuple(
        CurriculumStage(name, family, names[index - 1] if index else None)
        for index, (name, family) in enumerate(zip(names, families, strict=True))
    )


CURRICULUM = _curriculum(EXAMPLE_KINDS)
CURRICULUM_MODES = ("chain", "single")
STAGE_NAMES = tuple(stage.name for stage in CURRICULUM)
FINAL_STAGE = CURRICULUM[-1].name
