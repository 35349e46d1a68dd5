"""The report's tables and texts as plain strings, shared by the Markdown and the HTML
rendering, each of which escapes them for where they go (markdown.py, html_page.py)."""

from __future__ import annotations

import json

from astrabot_pipeline.evaluation.report.model import (
    CHECK_FORMAT,
    Check,
    Difference,
    EvaluationReport,
    ReportSection,
    _iso,
    format_value,
    loss_curve_summary,
)

LOSS_SUMMARY_COLUMNS = (
    ("steps", "Steps", "d"),
    ("validation_loss_first", "Validation loss at step 0", ".4f"),
    ("validation_loss_last", "Last validation loss", ".4f"),
    ("validation_loss_best", "Best validation loss", ".4f"),
    ("train_loss_last", "Last training loss", ".4f"),
)
BETTER_ARROWS = {"lower": " ↓", "higher": " ↑", None: ""}
BETTER_LEGEND = "↓ lower is better, ↑ higher is better."


def header_lines(report: EvaluationReport) -> list[tuple[str, str]]:
    """The lines under the title: base model, profile, device and when it ran."""
    return [
        ("Base model", report.base_model),
        ("Profile", report.profile or "—"),
        ("Device", report.device),
        (
            "Run",
            f"{_iso(report.started_at)} to {_iso(report.finished_at)} "
            f"({report.duration_seconds:.1f} s)",
        ),
    ]


def check_cells(check: Check) -> list[str]:
    """A check's row of the checks table."""
    return [
        check.name,
        check.severity,
        format_value(check.value, CHECK_FORMAT),
        format_value(check.threshold, CHECK_FORMAT),
        "passed" if check.passed else "FAILED",
        check.description,
    ]


CHECK_HEADERS = ["Check", "Severity", "Value", "Threshold", "Result", "What it requires"]
CHECK_NUMBERS = (2, 3)


def checks_summary(report: EvaluationReport) -> str:
    """One sentence over the checks table: how many failed, and at which severity."""
    failed = [c for c in report.checks if not c.passed]
    errors = sum(c.severity == "error" for c in failed)
    if not failed:
        return "The check passed." if len(report.checks) == 1 else "Every check passed."
    return (
        f"{len(failed)} of {len(report.checks)} checks failed ({errors} at error severity, "
        f"{len(failed) - errors} warnings)."
    )


DIFFERENCE_HEADERS = ["Model", "Figure", "Tuned − base", "95 % interval", "n", "Verdict"]
DIFFERENCE_NUMBERS = (2, 3, 4)


def difference_cells(difference: Difference) -> list[str]:
    """A tuned-minus-base difference's row, with its interval and the word it earns."""
    c = difference.comparison
    interval = "—" if c.low is None or c.high is None else f"[{c.low:+.4g}, {c.high:+.4g}]"
    arrow = "↑" if c.better == "higher" else "↓"
    return [
        difference.model,
        f"{difference.label} {arrow}",
        format_value(c.difference, "+.4g"),
        interval,
        str(c.n),
        c.wording,
    ]


DIFFERENCES_TITLE = "Tuned against base: paired bootstrap 95 % intervals"


def differences_intro(report: EvaluationReport) -> str:
    """The paragraph over the differences table: what an interval is and when it decides."""
    resamples = report.differences[0].comparison.resamples
    return (
        "Each row is a tuned model's figure minus the base model's on the same test "
        f"examples, with the 2.5th to 97.5th percentile of {resamples} paired resamples "
        "(distinct-2's shifted by the resampling's bias: a reply drawn twice adds no new "
        "bigram). It says better or worse only when the whole interval is on one side of 0."
    )


def section_table(section: ReportSection) -> tuple[list[str], list[list[str]]]:
    """A section's headers (each with its better-direction arrow) and one row per model."""
    headers = ["Model"] + [c.label + BETTER_ARROWS[c.better] for c in section.columns]
    rows = [
        [model] + [format_value(values.get(c.key), c.fmt) for c in section.columns]
        for model, values in section.rows.items()
    ]
    return headers, rows


def settings_text(section: ReportSection) -> str:
    """A section's settings on one line."""
    return "; ".join(f"{key} = {value}" for key, value in section.settings.items())


def loss_table(report: EvaluationReport) -> tuple[list[str], list[list[str]]]:
    """Every stage's loss curve summarised in one row."""
    headers = ["Stage"] + [label for _, label, _ in LOSS_SUMMARY_COLUMNS]
    rows = []
    for stage, history in report.loss_curves.items():
        summary = loss_curve_summary(history)
        rows.append([stage] + [format_value(summary[k], f) for k, _, f in LOSS_SUMMARY_COLUMNS])
    return headers, rows


def reproducibility_json(report: EvaluationReport) -> str:
    """The reproducibility record as indented, sorted JSON."""
    return json.dumps(report.reproducibility, indent=2, sort_keys=True)


def is_numeric(index: int, numeric: int | tuple[int, ...]) -> bool:
    """Whether column `index` holds numbers: all from `numeric` on, or those listed."""
    return index in numeric if isinstance(numeric, tuple) else index >= numeric


def drawable(section: ReportSection) -> bool:
    """Whether the section's chart has a figure to draw (a blank column draws nothing)."""
    return section.chart is not None and any(
        isinstance(section.value(model, key), int | float)
        and not isinstance(section.value(model, key), bool)
        for key in section.chart.columns
        for model in section.rows
    )


__all__ = [
    "BETTER_ARROWS",
    "BETTER_LEGEND",
    "CHECK_HEADERS",
    "CHECK_NUMBERS",
    "DIFFERENCES_TITLE",
    "DIFFERENCE_HEADERS",
    "DIFFERENCE_NUMBERS",
    "LOSS_SUMMARY_COLUMNS",
    "check_cells",
    "checks_summary",
    "difference_cells",
    "differences_intro",
    "drawable",
    "header_lines",
    "is_numeric",
    "loss_table",
    "reproducibility_json",
    "section_table",
    "settings_text",
]
