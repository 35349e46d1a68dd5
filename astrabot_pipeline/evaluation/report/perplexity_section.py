"""The perplexity section of the report: the base model and each LoRA stage scored on the
test slice (`evaluate_stages`), their rows as a report section and the perplexity check.
build.py assembles the report around it.

Only numbers, model names and adapter folder names go in: never an example's text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from astrabot_pipeline.evaluation.defaults import PERPLEXITY_CHECK
from astrabot_pipeline.evaluation.lm_batches import ROW_TOKENS
from astrabot_pipeline.evaluation.quality.perplexity import ModelEvaluator, PerplexityResult
from astrabot_pipeline.evaluation.report.model import ChartSpec, Check, Column, ReportSection
from astrabot_pipeline.evaluation.report.notes import with_standard_notes
from astrabot_pipeline.training.base_model import device_summary
from astrabot_pipeline.training.model_folder import is_tiny_base_model
from astrabot_pipeline.training.stage_result import StageResult
from astrabot_pipeline.training.token_budget import fit_to_token_budget

DEFAULT_MAX_LENGTH = 256  # with no stage to say what it trained with

BASE_ROW_NAME = "base"
PERPLEXITY_SECTION = "perplexity"
# Below this many scored tokens, differences of a few percent are within noise.
FEW_TOKENS = 2000


@dataclass(frozen=True)
class ModelRow:
    """One evaluated model: the base (no adapter) or base + one stage's adapter."""

    name: str
    adapter_dir: str | None
    loss: float
    perplexity: float
    tokens: int

    @classmethod
    def from_perplexity(
        cls, name: str, adapter_dir: str | Path | None, result: PerplexityResult
    ) -> ModelRow:
        return cls(
            name=name,
            adapter_dir=None if adapter_dir is None else str(adapter_dir),
            loss=result.loss,
            perplexity=result.perplexity,
            tokens=result.tokens,
        )


@dataclass
class EvalResults:
    """Everything the report shows. `rows` lists the base first, then the stages in order."""

    model_name: str
    device: str
    rows: list[ModelRow]
    train_examples: int
    validation_examples: int
    started_at: datetime
    finished_at: datetime
    tiny_model: bool = False
    max_length: int | None = None
    notes: list[str] = field(default_factory=list)
    row_tokens: int | None = None


def evaluate_stages(
    evaluator: ModelEvaluator,
    records: Sequence[Mapping[str, Any]],
    stages: Sequence[StageResult],
    *,
    max_length: int | None = None,
    row_tokens: int = ROW_TOKENS,
) -> EvalResults:
    """Score the base model, then base + each stage's adapter, on the same held-out records.

    `stages` in training order. Records are fitted to the token budget the stages trained
    with (the last stage's `max_length`, unless given) the way training fitted them:
    contexts trimmed from the left, so every model is scored on whole replies.
    """
    started = datetime.now(UTC)
    if max_length is None:
        max_length = stages[-1].max_length if stages else DEFAULT_MAX_LENGTH
    fitted = fit_to_token_budget(records, evaluator.tokenizer, max_length).records
    measure = partial(evaluator.perplexity, fitted, max_length=max_length, row_tokens=row_tokens)
    rows = [ModelRow.from_perplexity(BASE_ROW_NAME, None, measure())]
    for stage in stages:
        adapter_dir = Path(stage.adapter_dir)
        result = measure(adapter_dir)
        rows.append(ModelRow.from_perplexity(stage.stage, adapter_dir, result))
    return eval_results(
        evaluator,
        stages,
        rows,
        validation_examples=len(fitted),
        started=started,
        max_length=max_length,
        row_tokens=row_tokens,
    )


def eval_results(
    evaluator: ModelEvaluator,
    stages: Sequence[StageResult],
    rows: list[ModelRow],
    *,
    validation_examples: int,
    started: datetime,
    max_length: int,
    row_tokens: int,
) -> EvalResults:
    """One evaluation run's perplexity rows with what it ran on (base model, device, the
    stages' training examples, the scored records, timing and truncation)."""
    return EvalResults(
        model_name=evaluator.base_model_path,
        device=device_summary()["description"],
        rows=rows,
        train_examples=sum(stage.train_examples for stage in stages if not stage.skipped),
        validation_examples=validation_examples,
        started_at=started,
        finished_at=datetime.now(UTC),
        tiny_model=is_tiny_base_model(evaluator.base_model_path),
        max_length=max_length,
        row_tokens=row_tokens,
    )


def base_row(rows: Sequence[ModelRow]) -> ModelRow | None:
    """The row of the base model (the one without an adapter), if any was evaluated."""
    for row in rows:
        if row.adapter_dir is None:
            return row
    return None


def _observations(results: EvalResults, base: ModelRow | None) -> list[str]:
    """Plain-language findings that follow from the numbers alone."""
    notes: list[str] = []
    if base is None:
        notes.append("No base-model row was evaluated, so no change vs base can be shown.")
    previous = base
    for row in (row for row in results.rows if row is not base):
        if previous is not None and row.perplexity > previous.perplexity:
            notes.append(
                f"Stage '{row.name}' has a higher perplexity than '{previous.name}': that "
                "stage's examples may pull away from the test slice's mix, or it overfits."
            )
        previous = row
    fewest = min((row.tokens for row in results.rows), default=0)
    if fewest < FEW_TOKENS:
        notes.append(
            f"Only {fewest} test tokens were scored: differences of a few percent are noise."
        )
    return notes


PERPLEXITY_COLUMNS = [
    Column("loss", "Loss (nats per token)", ".4f", "lower"),
    Column("perplexity", "Perplexity", ".2f", "lower"),
    Column("loss_change_vs_base", "Loss vs base", "+.4f", "lower"),
    Column("perplexity_change_vs_base_pct", "Perplexity vs base (%)", "+.1f", "lower"),
    Column("tokens", "Tokens scored", "d"),
]


def perplexity_section(results: EvalResults) -> ReportSection:
    """The test-slice perplexity of the base model and every stage, as a report section."""
    base = base_row(results.rows)
    rows: dict[str, dict[str, Any]] = {}
    for row in results.rows:
        loss_change = ppl_change = None
        if base is not None and row is not base:
            loss_change = row.loss - base.loss
            if base.perplexity > 0 and math.isfinite(base.perplexity):
                ppl_change = 100.0 * (row.perplexity / base.perplexity - 1.0)
        rows[row.name] = {
            "loss": row.loss,
            "perplexity": row.perplexity,
            "loss_change_vs_base": loss_change,
            "perplexity_change_vs_base_pct": ppl_change,
            "tokens": row.tokens,
        }
    settings: dict[str, Any] = {"max_length": results.max_length}
    if results.row_tokens is not None:
        settings["row_tokens"] = results.row_tokens
    section = ReportSection(
        title="Test-slice perplexity (owner's tokens)",
        key=PERPLEXITY_SECTION,
        columns=list(PERPLEXITY_COLUMNS),
        rows=rows,
        notes=_observations(results, base),
        chart=ChartSpec(
            columns=("perplexity",),
            log_scale=True,
            caption="Test-slice perplexity per model (log scale; lower is better)",
        ),
        settings=settings,
    )
    return with_standard_notes(section)


def perplexity_check(results: EvalResults) -> Check | None:
    """Warning-level: the last stage's perplexity is below the base model's."""
    base = base_row(results.rows)
    stages = [row for row in results.rows if row is not base]
    if base is None or not stages:
        return None
    last = stages[-1]
    return Check(
        name=PERPLEXITY_CHECK,
        passed=last.perplexity < base.perplexity,
        value=last.perplexity,
        threshold=base.perplexity,
        severity="warning",
        description="The last stage's test-slice perplexity is below the base model's.",
        metric="perplexity",
    )


__all__ = [
    "BASE_ROW_NAME",
    "EvalResults",
    "ModelRow",
    "base_row",
    "eval_results",
    "evaluate_stages",
    "perplexity_check",
    "perplexity_section",
]
