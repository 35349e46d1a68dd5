"""The model card (`README.md`) of an exported model: what it is, how it was trained, what
was done for privacy, what the evaluation measured.

It is built from numbers and settings only: `stage_result.json` (counts, losses, the
reproducibility record when present) and the evaluation report's figures. Strings from
those files are shown only when they are short identifiers; absolute paths are cut to
their last part (a home folder's name can be a person's name). No message text is ever
read here, so none can be copied.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astrabot_pipeline.evaluation.report.verdict import Verdict, quality_notice
from astrabot_pipeline.inference.adapter import AdapterInfo

# Written by the evaluation (evaluation/report/render.py); read here without importing it.
EVAL_REPORT_JSON = "metrics.json"
EVAL_REPORT_MARKDOWN = "report.md"
# The section whose figures make the card's table (loss, perplexity, tokens per model).
PERPLEXITY_SECTION = "perplexity"
MAX_REPORT_BYTES = 4 << 20
# What may be shown of a string from a result file: an identifier, a version, a hash, a
# short description, or a hub id (one slash); never a path.
_SAFE_STRING = re.compile(r"^[A-Za-z0-9_.:+@(), -]{1,80}$")
_HUB_ID = re.compile(r"^[A-Za-z0-9_.-]{1,80}/[A-Za-z0-9_.-]{1,80}$")
_SAFE_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
_SAFE_HEADING = re.compile(r"^[A-Za-z0-9 _.,:()/%+-]{1,100}$")
# Fields of stage_result.json shown in the training table, in this order (others follow).
TRAINING_FIELDS = (
    ("stage", "stage"),
    ("profile", "profile"),
    ("steps", "optimizer steps"),
    ("train_examples", "training examples"),
    ("validation_examples", "validation examples"),
    ("train_loss", "training loss"),
    ("validation_loss_before", "validation loss before the stage"),
    ("validation_loss_after", "validation loss after the stage"),
    ("max_length", "max length (tokens)"),
    ("seconds", "training time (s)"),
)
REPRODUCIBILITY_FIELDS = (
    "profile",
    "seed",
    "dataset_hash",
    "run_key",
    "config",
    "library_versions",
)
_NOT_IN_TABLE = {"adapter_dir", "base_model", "reproducibility", *REPRODUCIBILITY_FIELDS}


@dataclass
class EvaluationSummary:
    """What an evaluation report measured, as numbers (from its JSON) or section titles."""

    source: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    figures: list[tuple[str, float]] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


def _safe_value(value: Any) -> str | None:
    """A scalar from a result file as card text, or None when it must not be shown."""
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, str):
        if value.startswith(("/", "~")) or re.match(r"^[A-Za-z]:[\\/]", value):
            value = Path(value).name or "(a local folder)"
        return value if _SAFE_STRING.match(value) or _HUB_ID.match(value) else None
    return None


def _redacted(value: Any, depth: int = 0) -> Any:
    """A JSON-able copy of a reproducibility record with unsafe strings and paths reduced."""
    if depth > 4:
        return "…"
    if isinstance(value, Mapping):
        return {
            str(k): _redacted(v, depth + 1)
            for k, v in value.items()
            if isinstance(k, str) and _SAFE_KEY.match(k)
        }
    if isinstance(value, list | tuple):
        return [_redacted(v, depth + 1) for v in value[:50]]
    if value is None or isinstance(value, bool | int | float):
        return value
    shown = _safe_value(value)
    return shown if shown is not None else "(not shown)"


def _numeric_leaves(value: Any, prefix: str, depth: int = 0) -> list[tuple[str, float]]:
    if isinstance(value, bool):
        return []
    if isinstance(value, int | float):
        return [(prefix, float(value))] if math.isfinite(value) else []
    if isinstance(value, Mapping) and depth < 3:
        found: list[tuple[str, float]] = []
        for key, item in value.items():
            if isinstance(key, str) and _SAFE_KEY.match(key):
                found += _numeric_leaves(item, f"{prefix}.{key}" if prefix else key, depth + 1)
        return found
    return []


def _read_bounded(path: Path) -> str | None:
    try:
        if not path.is_file() or path.stat().st_size > MAX_REPORT_BYTES:
            return None
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _numbers(values: Any) -> dict[str, float]:
    """The numeric fields of a mapping with safe keys (booleans and non-finite left out)."""
    if not isinstance(values, Mapping):
        return {}
    return {
        k: float(v)
        for k, v in values.items()
        if isinstance(k, str)
        and _SAFE_KEY.match(k)
        and isinstance(v, int | float)
        and not isinstance(v, bool)
        and math.isfinite(v)
    }


def _summary_from_metrics(payload: Mapping[str, Any]) -> EvaluationSummary:
    """`metrics.json`: per model, the perplexity section's numbers make a row; every other
    number is a figure by its key path. Strings are kept only as safe model/folder names."""
    summary = EvaluationSummary(source=EVAL_REPORT_JSON)
    metrics = payload.get("metrics")
    metrics = metrics if isinstance(metrics, Mapping) else {}
    adapters = payload.get("adapters")
    adapters = adapters if isinstance(adapters, Mapping) else {}
    others: dict[str, dict[str, Any]] = {}
    for model, sections in list(metrics.items())[:100]:
        if not isinstance(model, str) or not _SAFE_KEY.match(model):
            continue
        sections = sections if isinstance(sections, Mapping) else {}
        numbers = _numbers(sections.get(PERPLEXITY_SECTION))
        if numbers:
            adapter = adapters.get(model)
            summary.rows.append(
                {
                    "name": model,
                    "adapter_dir": adapter if isinstance(adapter, str) else None,
                    **numbers,
                }
            )
        rest = {k: v for k, v in sections.items() if k != PERPLEXITY_SECTION}
        if rest:
            others[model] = rest
    checks = payload.get("checks")
    check_figures = {
        check["name"]: {k: check.get(k) for k in ("value", "threshold")}
        for check in (checks if isinstance(checks, list) else [])[:100]
        if isinstance(check, Mapping) and isinstance(check.get("name"), str)
    }
    for key, value in (
        ("sample_sizes", payload.get("sample_sizes")),
        ("metrics", others),
        ("checks", check_figures),
        ("duration_seconds", payload.get("duration_seconds")),
    ):
        summary.figures += _numeric_leaves(value, key)
    return summary


def read_evaluation(reports_dir: Path | None) -> EvaluationSummary | None:
    """The evaluation report under `reports_dir` as figures, or None when there is none.

    From `metrics.json` (read only when under `MAX_REPORT_BYTES`): numbers under keys of
    safe names only, never a note or other text. From `report.md` alone: its section titles.
    """
    if reports_dir is None:
        return None
    text = _read_bounded(reports_dir / EVAL_REPORT_JSON)
    payload = None
    if text is not None:
        try:
            payload = json.loads(text)
        except ValueError:
            payload = None
    if isinstance(payload, dict):
        return _summary_from_metrics(payload)
    markdown = _read_bounded(reports_dir / EVAL_REPORT_MARKDOWN)
    if markdown is None:
        return None
    sections = []
    for line in markdown.splitlines():
        title = line.lstrip("#").strip()
        if line.startswith("##") and _SAFE_HEADING.match(title):
            sections.append(title)
    return EvaluationSummary(source=EVAL_REPORT_MARKDOWN, sections=sections)


def _base_description(info: AdapterInfo, tiny: bool) -> str:
    if info.base_is_local:
        shown = f"`{Path(info.base_model).name}` (a local model folder)"
    else:
        shown = f"`{_safe_value(info.base_model) or '(not shown)'}` (Hugging Face hub id)"
    if tiny:
        shown += ", the tiny randomly initialised test model"
    return shown


def _training_table(result: Mapping[str, Any]) -> list[str]:
    rows = []
    known = [key for key, _ in TRAINING_FIELDS]
    labels = dict(TRAINING_FIELDS)
    extra = sorted(k for k in result if k not in known and k not in _NOT_IN_TABLE)
    for key in [*known, *extra]:
        if key not in result or not isinstance(key, str) or not _SAFE_KEY.match(key):
            continue
        shown = _safe_value(result[key])
        if shown is not None:
            rows.append(f"| {labels.get(key, key)} | {shown} |")
    if not rows:
        return []
    return ["| figure | value |", "|---|---|", *rows]


def _verdict_banner(verdict: Verdict | None) -> list[str]:
    notice = quality_notice(verdict)
    if notice is not None:
        return [f"> {notice}", ""]
    if verdict is None or verdict.passed:
        return []
    return [
        "> **NOT FOR USE.** This model failed its privacy evaluation (checks: "
        + ", ".join(check.name for check in verdict.failed_checks)
        + ") and was exported with `--force`. It may reproduce private data from the chats "
        "it was trained on.",
        "",
    ]


def _verdict_section(verdict: Verdict | None) -> list[str]:
    lines = ["## Evaluation verdict", ""]
    if verdict is None:
        return [
            *lines,
            "This adapter was not evaluated (no `evaluation.json` beside it): nothing shows "
            "whether it reproduces private data. Run the `eval_report` asset before sharing it.",
            "",
        ]
    if not verdict.passed:
        outcome = "FAILED a blocking check"
    elif verdict.approved:
        outcome = "passed every blocking check"
    else:
        outcome = "passed every privacy check, FAILED its quality check (not approved)"
    lines += [
        f"Evaluated {_safe_value(verdict.evaluated_at) or 'at an unknown time'}: {outcome}.",
        "",
        "| check | severity | value | threshold | result |",
        "|---|---|---:|---:|---|",
    ]
    for check in verdict.checks:
        if not _SAFE_KEY.match(check.name):
            continue
        value = "—" if check.value is None else f"{check.value:.4g}"
        threshold = "—" if check.threshold is None else f"{check.threshold:.4g}"
        result = "passed" if check.passed else "failed"
        lines.append(f"| {check.name} | {check.severity} | {value} | {threshold} | {result} |")
    return [*lines, ""]


def _privacy_section(tiny: bool) -> list[str]:
    lines = [
        "## Privacy",
        "",
        "- Trained only on anonymized text: before training, the names, phone numbers, "
        "e-mail addresses and other identifiers the privacy stage recognised in the chats "
        "were replaced by consistent pseudonyms, and a blocking check stopped the pipeline "
        "if any known contact's name, number or e-mail survived.",
        "- So the names this model writes are pseudonyms, not your contacts' real names. An "
        "identifier the privacy stage did not recognise may still have been trained on; "
        "read the evaluation's leakage figures when they are listed below.",
        "- A fine-tuned model can repeat phrases from its training conversations. Share this "
        "folder only with people you would show the anonymized chats to; "
        "`astrabot purge --all` deletes exports made under `$ASTRABOT_DATA_DIR/exports/`.",
        "- This card and the `Modelfile` hold no message text: only counts, losses, settings "
        "and evaluation figures.",
    ]
    if tiny:
        lines.append(
            "- The tiny test model's tokenizer was trained on the anonymized training text, so "
            "its vocabulary (`tokenizer.json`) holds fragments of that text."
        )
    return [*lines, ""]


def _evaluation_section(evaluation: EvaluationSummary | None, info: AdapterInfo) -> list[str]:
    lines = ["## Evaluation", ""]
    if evaluation is None:
        return [
            *lines,
            "No evaluation report was found when this export was made (the `eval_report` "
            "asset writes `$ASTRABOT_DATA_DIR/reports/metrics.json`).",
            "",
        ]
    if evaluation.sections and not evaluation.rows:
        lines += [
            f"The evaluation report (`{evaluation.source}`) covers: "
            + "; ".join(evaluation.sections)
            + ". Its figures are in that report.",
            "",
        ]
        return lines
    if evaluation.rows:
        lines += [
            "Held-out perplexity on the owner's (assistant) tokens, on examples from "
            "conversation windows that were not trained on; lower is better, and rows are "
            "comparable with each other only.",
            "",
        ]
        columns = [
            c for c in ("loss", "perplexity", "tokens") if any(c in r for r in evaluation.rows)
        ]
        lines += [
            "| model | " + " | ".join(columns) + " |",
            "|---|" + "---:|" * len(columns),
        ]
        for row in evaluation.rows:
            name = row["name"]
            adapter = row.get("adapter_dir")
            if adapter and Path(adapter).name in (info.name, info.adapter_dir.name):
                name += " (this model)"
            cells = [_safe_value(row[c]) or "—" if c in row else "—" for c in columns]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    if evaluation.figures:
        lines += ["Other figures of the report:", ""]
        lines += [f"- `{key}`: {value:.4g}" for key, value in evaluation.figures]
        lines.append("")
    return lines


def render_model_card(
    info: AdapterInfo,
    *,
    architecture: str,
    parameters: int,
    dtype: str,
    context_tokens: int,
    tiny: bool,
    evaluation: EvaluationSummary | None,
    verdict: Verdict | None = None,
) -> str:
    """The card's Markdown."""
    result = info.stage_result
    profile = result.get("profile")
    record = result.get("reproducibility")
    if not isinstance(record, Mapping):
        # A StageResult keeps its reproducibility record as top-level fields.
        record = {key: result[key] for key in REPRODUCIBILITY_FIELDS if key in result} or None
    if profile is None and isinstance(record, Mapping):
        profile = record.get("profile")
    lines = [
        f"# {info.name}: a model that writes like the backup owner",
        "",
        *_verdict_banner(verdict),
        f"Exported by `astrabot export` from the LoRA adapter `{info.name}`, merged into its "
        "base model: `AutoModelForCausalLM.from_pretrained(<this folder>)` loads it without "
        "PEFT. The owner is the assistant: give it the other side of a conversation as "
        "ChatML `messages`.",
        "",
        "## Base model",
        "",
        f"- Base: {_base_description(info, tiny)}",
    ]
    if profile is not None and _safe_value(profile):
        lines.append(f"- Profile: `{_safe_value(profile)}`")
    lines += [
        f"- Architecture: {architecture}, {parameters:,} parameters, {dtype}",
        f"- Context: {context_tokens} tokens",
        "",
    ]
    table = _training_table(result)
    if table:
        lines += ["## Training", "", *table, ""]
    lines += _privacy_section(tiny)
    lines += _verdict_section(verdict)
    lines += _evaluation_section(evaluation, info)
    if isinstance(record, Mapping):
        lines += [
            "## Reproducibility",
            "",
            "```json",
            json.dumps(_redacted(record), indent=2, sort_keys=True),
            "```",
            "",
        ]
    lines += [
        "## Using it",
        "",
        "```python",
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        'model = AutoModelForCausalLM.from_pretrained("<this folder>")',
        'tokenizer = AutoTokenizer.from_pretrained("<this folder>")',
        'messages = [{"role": "user", "content": "are we still on for tonight?"}]',
        "ids = tokenizer.apply_chat_template(messages, add_generation_prompt=True, "
        'return_tensors="pt", return_dict=True)',
        "reply = model.generate(**ids, max_new_tokens=64)",
        'print(tokenizer.decode(reply[0][ids["input_ids"].shape[1]:], skip_special_tokens=True))',
        "```",
        "",
        "Ollama: the `Modelfile` here builds from this folder (`FROM .`) with the ChatML "
        "template and `<|im_end|>` as the stop token: run `ollama create NAME -f Modelfile` "
        "in this folder. Ollama imports safetensors directly only for the architectures its "
        "import guide lists (docs.ollama.com/import); if it refuses this one, convert the "
        "folder to GGUF with llama.cpp's `convert_hf_to_gguf.py` as that guide describes and "
        "point `FROM` at the `.gguf` file.",
        "",
    ]
    return "\n".join(lines)


__all__ = ["EvaluationSummary", "read_evaluation", "render_model_card"]
