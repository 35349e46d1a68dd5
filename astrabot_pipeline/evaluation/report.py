"""The perplexity part of the evaluation: base model vs each LoRA stage on the test slice,
and the report built from it (`build_report`), written by `report_render.write_report`.

Only numbers, model names and adapter folder names go in: never an example's text. Other
results join the report as `ReportSection`s (see `report_model.py`).
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
from astrabot_pipeline.evaluation.perplexity import ModelEvaluator, PerplexityResult
from astrabot_pipeline.evaluation.report_model import (
    ChartSpec,
    Check,
    Column,
    EvaluationReport,
    ReportSection,
)
from astrabot_pipeline.evaluation.report_notes import with_standard_notes
from astrabot_pipeline.evaluation.report_render import (
    METRICS_JSON_FILE,
    REPORT_HTML_FILE,
    REPORT_MARKDOWN_FILE,
    ReportPaths,
    render_report,
    write_report,
)
from astrabot_pipeline.training.base_model import device_summary
from astrabot_pipeline.training.model_folder import is_tiny_base_model
from astrabot_pipeline.training.stage_result import StageResult
from astrabot_pipeline.training.token_budget import fit_to_token_budget

DEFAULT_MAX_LENGTH = 256  # with no stage to say what it trained with

BASE_ROW_NAME = "base"
REPORT_TITLE = "Evaluation report"
PERPLEXITY_SECTION = "perplexity"
# Below this many scored tokens, differences of a few percent are within noise.
FEW_TOKENS = 2000

TINY_MODEL_NOTE = (
    "The base model is the tiny, randomly initialised Qwen2-architecture model whose "
    "tokenizer was trained on this same anonymized training text. Its base perplexity is "
    "that of an untrained network, so large drops are expected: they show that the stages "
    "run, resume each other and learn the corpus's surface statistics (frequent words, turn "
    "shapes, reply lengths). They do not show that a model writes like the backup owner, "
    "and the numbers are not comparable with any real model's. For that, set the base "
    "model to a real checkpoint (e.g. Qwen/Qwen2.5-7B-Instruct, 4-bit on a CUDA GPU)."
)


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


def _base_row(rows: Sequence[ModelRow]) -> ModelRow | None:
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
    base = _base_row(results.rows)
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
    base = _base_row(results.rows)
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


def display_model_name(model: str | Path) -> str:
    """A base model as a report shows it: a hub id as is, a local folder by its name only
    (a home folder's name can be a person's name)."""
    text = str(model)
    if (
        Path(text).expanduser().is_dir()
        or text.startswith(("/", "~", "."))
        or "\\" in text
        or text.count("/") > 1
    ):
        return Path(text).name or "(a local folder)"
    return text


def _reduced(value: Any) -> Any:
    """A settings record with every path-like string cut to its last part."""
    if isinstance(value, Mapping):
        return {str(k): _reduced(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_reduced(v) for v in value]
    if isinstance(value, str | Path):
        return display_model_name(value)
    return value


def evaluation_library_versions() -> dict[str, str]:
    """The versions of what the evaluation ran on (the stages record their own)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    versions = {"python": platform.python_version()}
    for package in ("torch", "transformers", "peft", "matplotlib", "sacrebleu"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "absent"
    return versions


def reproducibility_record(
    stages: Sequence[StageResult],
    *,
    profile: str,
    base_model: str,
    evaluation: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Versions, seeds, dataset hashes, profile and configuration of what the report judged."""
    trained = [stage for stage in stages if not stage.skipped]
    return {
        "profile": profile,
        "base_model": base_model,
        "seeds": {stage.stage: stage.seed for stage in trained},
        "dataset_hashes": {stage.stage: stage.dataset_hash for stage in trained},
        "run_keys": {stage.stage: stage.run_key for stage in trained},
        "stage_configs": {stage.stage: _reduced(stage.config) for stage in trained},
        "evaluation": _reduced(dict(evaluation or {})),
        "library_versions": {
            "training": dict(trained[-1].library_versions) if trained else {},
            "evaluation": evaluation_library_versions(),
        },
    }


def loss_curve(stage: StageResult) -> list[dict[str, Any]]:
    """A stage's `{"step", "train_loss", "validation_loss"}` rows, ending with the validation
    loss measured after training (at its last step) when the history lacks it."""
    rows = [dict(row) for row in stage.loss_history]
    if stage.steps <= 0 or not math.isfinite(stage.validation_loss_after):
        return rows
    last = next((row for row in rows if row.get("step") == stage.steps), None)
    if last is None:
        rows.append({"step": stage.steps, "train_loss": None, "validation_loss": None})
        last = rows[-1]
    if last.get("validation_loss") is None:
        last["validation_loss"] = stage.validation_loss_after
    return rows


def build_report(
    results: EvalResults,
    stages: Sequence[StageResult],
    *,
    profile: str = "",
    settings: Mapping[str, Any] | None = None,
) -> EvaluationReport:
    """The report of a perplexity evaluation: its section, the perplexity check, every
    stage's loss curve, notes and the reproducibility record. `settings` (numbers and
    short identifiers) join the record's `evaluation` part."""
    profile = profile or next((s.profile for s in stages if s.profile), "")
    base_model = display_model_name(results.model_name)
    section = perplexity_section(results)
    check = perplexity_check(results)
    notes = [TINY_MODEL_NOTE] if results.tiny_model else []
    notes += [
        f"Stage '{stage.stage}' had no examples of its family and was skipped: its row is "
        "the previous stage's adapter."
        for stage in stages
        if stage.skipped
    ]
    notes += list(results.notes)
    base = _base_row(results.rows)
    evaluation = {"max_length": results.max_length, "row_tokens": results.row_tokens}
    evaluation |= dict(settings or {})
    return EvaluationReport(
        title=REPORT_TITLE,
        base_model=base_model,
        profile=profile,
        device=results.device,
        sample_sizes={
            "training_examples": results.train_examples,
            "test_examples": results.validation_examples,
            "test_tokens_scored": base.tokens if base is not None else 0,
        },
        sections=[section],
        checks=[check] if check is not None else [],
        loss_curves={stage.stage: loss_curve(stage) for stage in stages if not stage.skipped},
        notes=notes,
        reproducibility=reproducibility_record(
            stages, profile=profile, base_model=base_model, evaluation=evaluation
        ),
        started_at=results.started_at,
        finished_at=results.finished_at,
        adapters={
            row.name: None if row.adapter_dir is None else Path(row.adapter_dir).name
            for row in results.rows
        },
    )


__all__ = [
    "BASE_ROW_NAME",
    "METRICS_JSON_FILE",
    "REPORT_HTML_FILE",
    "REPORT_MARKDOWN_FILE",
    "EvalResults",
    "ModelRow",
    "ReportPaths",
    "build_report",
    "loss_curve",
    "evaluate_stages",
    "perplexity_check",
    "perplexity_section",
    "render_report",
    "reproducibility_record",
    "write_report",
]
