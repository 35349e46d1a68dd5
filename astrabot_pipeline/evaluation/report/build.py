"""The report of an evaluation, assembled: the perplexity section and check, every stage's
loss curve, the notes and the reproducibility record (`build_report`); other results join
it as `ReportSection`s (model.py), and render.py writes it.

Only numbers, model names and adapter folder names go in: never an example's text. A base
model given as a local folder is shown by its name only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from astrabot_pipeline.evaluation.report.model import EvaluationReport
from astrabot_pipeline.evaluation.report.perplexity_section import (
    EvalResults,
    base_row,
    perplexity_check,
    perplexity_section,
)
from astrabot_pipeline.training.stage_result import StageResult

REPORT_TITLE = "Evaluation report"

TINY_MODEL_NOTE = (
    "The base model is the tiny, randomly initialised Qwen2-architecture model whose "
    "tokenizer was trained on this same anonymized training text. Its base perplexity is "
    "that of an untrained network, so large drops are expected: they show that the stages "
    "run, resume each other and learn the corpus's surface statistics (frequent words, turn "
    "shapes, reply lengths). They do not show that a model writes like the backup owner, "
    "and the numbers are not comparable with any real model's. For that, set the base "
    "model to a real checkpoint (e.g. Qwen/Qwen2.5-7B-Instruct, 4-bit on a CUDA GPU)."
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
    base = base_row(results.rows)
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


__all__ = ["build_report", "display_model_name", "loss_curve", "reproducibility_record"]
