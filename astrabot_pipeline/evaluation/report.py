"""The evaluation report: base model vs each LoRA stage, as Markdown and as JSON.

Only numbers, model names and adapter locations go in: never an example's text.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from astrabot_pipeline.evaluation.perplexity import ModelEvaluator, PerplexityResult
from astrabot_pipeline.storage import write_json, write_text
from astrabot_pipeline.training.base_model import device_summary
from astrabot_pipeline.training.stages import StageResult
from astrabot_pipeline.training.tiny_model import is_tiny_base_model
from astrabot_pipeline.training.token_budget import fit_to_token_budget

DEFAULT_MAX_LENGTH = 256  # with no stage to say what it trained with

REPORT_MARKDOWN_FILE = "eval_report.md"
REPORT_JSON_FILE = "eval_report.json"
BASE_ROW_NAME = "base"
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
SCOPE_NOTE = (
    "Perplexity is measured on the owner's (assistant) tokens only, on held-out examples "
    "from conversation windows that are not in the training split. Lower is better, but it "
    "says nothing about coherence, factual accuracy or privacy: read it with the leakage "
    "and memorization results. Rows are comparable with each other only (same tokenizer, "
    "same held-out set, same truncation)."
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


@dataclass(frozen=True)
class ReportPaths:
    markdown: Path
    json: Path


def evaluate_stages(
    evaluator: ModelEvaluator,
    records: Sequence[Mapping[str, Any]],
    stages: Sequence[StageResult],
    *,
    max_length: int | None = None,
    batch_size: int = 8,
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
    measure = {"max_length": max_length, "batch_size": batch_size}
    rows = [ModelRow.from_perplexity(BASE_ROW_NAME, None, evaluator.perplexity(fitted, **measure))]
    for stage in stages:
        adapter_dir = Path(stage.adapter_dir)
        result = evaluator.perplexity(fitted, adapter_dir, **measure)
        rows.append(ModelRow.from_perplexity(stage.stage, adapter_dir, result))
    return EvalResults(
        model_name=evaluator.base_model_path,
        device=device_summary()["description"],
        rows=rows,
        train_examples=sum(stage.train_examples for stage in stages if not stage.skipped),
        validation_examples=len(fitted),
        started_at=started,
        finished_at=datetime.now(UTC),
        tiny_model=is_tiny_base_model(evaluator.base_model_path),
        max_length=max_length,
    )


def _base_row(rows: Sequence[ModelRow]) -> ModelRow | None:
    for row in rows:
        if row.adapter_dir is None:
            return row
    return None


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def _row_dict(row: ModelRow, base: ModelRow | None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "name": row.name,
        "adapter_dir": row.adapter_dir,
        "loss": row.loss,
        "perplexity": row.perplexity,
        "tokens": row.tokens,
        "loss_change_vs_base": None,
        "perplexity_change_vs_base_pct": None,
    }
    if base is not None and row is not base:
        payload["loss_change_vs_base"] = row.loss - base.loss
        if base.perplexity > 0 and math.isfinite(base.perplexity):
            payload["perplexity_change_vs_base_pct"] = 100.0 * (
                row.perplexity / base.perplexity - 1.0
            )
    return payload


def _observations(results: EvalResults, base: ModelRow | None) -> list[str]:
    """Plain-language findings that follow from the numbers alone."""
    notes: list[str] = []
    if base is None:
        notes.append("No base-model row was evaluated, so no change vs base can be shown.")
    stages = [row for row in results.rows if row is not base]
    previous = base
    for row in stages:
        if previous is not None and row.perplexity > previous.perplexity:
            notes.append(
                f"Stage '{row.name}' has a higher held-out perplexity than '{previous.name}': "
                "that stage's examples may pull away from the held-out mix, or it overfits."
            )
        previous = row
    fewest = min((row.tokens for row in results.rows), default=0)
    if fewest < FEW_TOKENS:
        notes.append(
            f"Only {fewest} held-out tokens were scored: differences of a few percent are noise."
        )
    return notes


def _fmt(value: float | None, spec: str, suffix: str = "") -> str:
    return "—" if value is None else format(value, spec) + suffix


def render_report(results: EvalResults) -> tuple[str, dict[str, Any]]:
    """The report as Markdown and as a JSON-able dict (same content, no example text)."""
    base = _base_row(results.rows)
    rows = [_row_dict(row, base) for row in results.rows]
    notes = ([TINY_MODEL_NOTE] if results.tiny_model else []) + [SCOPE_NOTE]
    notes += _observations(results, base) + list(results.notes)
    duration = (results.finished_at - results.started_at).total_seconds()

    payload: dict[str, Any] = {
        "model_name": results.model_name,
        "device": results.device,
        "tiny_model": results.tiny_model,
        "dataset": {
            "train_examples": results.train_examples,
            "validation_examples": results.validation_examples,
        },
        "max_length": results.max_length,
        "started_at": _iso(results.started_at),
        "finished_at": _iso(results.finished_at),
        "duration_seconds": round(duration, 3),
        "rows": rows,
        "notes": notes,
    }

    model_kind = " (tiny demo model)" if results.tiny_model else ""
    truncation = f"{results.max_length} tokens" if results.max_length else "none"
    lines = [
        "# Evaluation report",
        "",
        f"- Base model: `{results.model_name}`{model_kind}",
        f"- Device: {results.device}",
        f"- Dataset: {results.train_examples} training examples, "
        f"{results.validation_examples} held-out examples",
        f"- Truncation: {truncation}",
        f"- Run: {_iso(results.started_at)} to {_iso(results.finished_at)} ({duration:.1f} s)",
        "",
        "## Held-out perplexity (assistant tokens only)",
        "",
        "| Model | Adapter | Loss | Perplexity | Loss vs base | Perplexity vs base | Tokens |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        adapter = f"`{Path(row['adapter_dir']).name}`" if row["adapter_dir"] else "—"
        loss_change = _fmt(row["loss_change_vs_base"], "+.4f")
        ppl_change = _fmt(row["perplexity_change_vs_base_pct"], "+.1f", suffix=" %")
        lines.append(
            f"| {row['name']} | {adapter} | {row['loss']:.4f} | {row['perplexity']:.2f} | "
            f"{loss_change} | {ppl_change} | {row['tokens']} |"
        )
    lines += ["", "## What this shows, and what it does not", ""]
    lines += [f"- {note}" for note in notes]
    return "\n".join(lines) + "\n", payload


def write_report(results: EvalResults, out_dir: str | Path) -> ReportPaths:
    """Write `eval_report.md` and `eval_report.json` into `out_dir`, each atomically."""
    markdown, payload = render_report(results)
    out_dir = Path(out_dir)
    return ReportPaths(
        markdown=write_text(out_dir / REPORT_MARKDOWN_FILE, markdown),
        json=write_json(out_dir / REPORT_JSON_FILE, payload),
    )
