"""An `EvaluationReport` as files: `report.html` (self-contained: inline CSS, charts as
`data:` PNGs, no links, no scripts), `report.md` (the same tables and notes) and
`metrics.json` (every figure per model, the checks and the reproducibility record).

Every string is escaped for where it goes; the report was validated to hold numbers,
names and code-written notes only.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path

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
from astrabot_pipeline.storage import write_json, write_text

REPORT_HTML_FILE = "report.html"
REPORT_MARKDOWN_FILE = "report.md"
METRICS_JSON_FILE = "metrics.json"
LOSS_SUMMARY_COLUMNS = (
    ("steps", "Steps", "d"),
    ("validation_loss_first", "Validation loss at step 0", ".4f"),
    ("validation_loss_last", "Last validation loss", ".4f"),
    ("validation_loss_best", "Best validation loss", ".4f"),
    ("train_loss_last", "Last training loss", ".4f"),
)
_BETTER = {"lower": " ↓", "higher": " ↑", None: ""}
BETTER_LEGEND = "↓ lower is better, ↑ higher is better."
_MD_SPECIAL = str.maketrans(
    {c: f"\\{c}" for c in "\\`*[]|#"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


@dataclass(frozen=True)
class ReportPaths:
    html: Path
    markdown: Path
    metrics: Path


@dataclass(frozen=True)
class RenderedReport:
    html: str
    markdown: str
    metrics: dict


def _md(text: str) -> str:
    """Text shown literally in Markdown (a table cell included)."""
    return text.translate(_MD_SPECIAL)


def _h(text: str) -> str:
    return html.escape(text, quote=True)


def _header_lines(report: EvaluationReport) -> list[tuple[str, str]]:
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


def _check_cells(check: Check) -> list[str]:
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


def _checks_summary(report: EvaluationReport) -> str:
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


def _difference_cells(difference: Difference) -> list[str]:
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


def _differences_intro(report: EvaluationReport) -> str:
    resamples = report.differences[0].comparison.resamples
    return (
        "Each row is a tuned model's figure minus the base model's on the same test "
        f"examples, with the 2.5th to 97.5th percentile of {resamples} paired resamples "
        "(distinct-2's shifted by the resampling's bias: a reply drawn twice adds no new "
        "bigram). It says better or worse only when the whole interval is on one side of 0."
    )


def _section_table(section: ReportSection) -> tuple[list[str], list[list[str]]]:
    headers = ["Model"] + [c.label + _BETTER[c.better] for c in section.columns]
    rows = [
        [model] + [format_value(values.get(c.key), c.fmt) for c in section.columns]
        for model, values in section.rows.items()
    ]
    return headers, rows


def _settings_text(section: ReportSection) -> str:
    return "; ".join(f"{key} = {value}" for key, value in section.settings.items())


def _loss_table(report: EvaluationReport) -> tuple[list[str], list[list[str]]]:
    headers = ["Stage"] + [label for _, label, _ in LOSS_SUMMARY_COLUMNS]
    rows = []
    for stage, history in report.loss_curves.items():
        summary = loss_curve_summary(history)
        rows.append([stage] + [format_value(summary[k], f) for k, _, f in LOSS_SUMMARY_COLUMNS])
    return headers, rows


def _reproducibility_json(report: EvaluationReport) -> str:
    return json.dumps(report.reproducibility, indent=2, sort_keys=True)


# -- Markdown ---------------------------------------------------------------------------


def _numeric(index: int, numeric: int | tuple[int, ...]) -> bool:
    """Whether column `index` holds numbers: all from `numeric` on, or those listed."""
    return index in numeric if isinstance(numeric, tuple) else index >= numeric


def _md_table(
    headers: list[str], rows: list[list[str]], numeric: int | tuple[int, ...] = 1
) -> list[str]:
    align = ["---:" if _numeric(i, numeric) else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def render_markdown(report: EvaluationReport) -> str:
    lines = [f"# {_md(report.title)}", ""]
    if report.summary:
        lines += [_md(report.summary), ""]
    lines += [f"- {label}: {_md(value)}" for label, value in _header_lines(report)]
    lines.append("")
    if report.sample_sizes:
        lines += ["## Sample sizes", ""]
        lines += _md_table(
            ["Sample", "Count"], [[k, str(v)] for k, v in report.sample_sizes.items()]
        )
        lines.append("")
    if report.checks:
        lines += ["## Checks", "", _checks_summary(report), ""]
        lines += _md_table(CHECK_HEADERS, [_check_cells(c) for c in report.checks], CHECK_NUMBERS)
        lines.append("")
    if report.differences:
        lines += [f"## {DIFFERENCES_TITLE}", "", _md(_differences_intro(report)), ""]
        lines += _md_table(
            DIFFERENCE_HEADERS,
            [_difference_cells(d) for d in report.differences],
            DIFFERENCE_NUMBERS,
        )
        lines.append("")
    for section in report.sections:
        lines += [f"## {_md(section.title)}", ""]
        lines += _md_table(*_section_table(section))
        lines.append("")
        if any(c.better for c in section.columns):
            lines += [BETTER_LEGEND, ""]
        if section.settings:
            lines += [f"Settings: {_md(_settings_text(section))}", ""]
        if section.chart is not None and section.chart.caption and _drawable(section):
            lines += [f"*Chart in report.html: {_md(section.chart.caption)}*", ""]
        lines += [f"- {_md(note)}" for note in section.notes]
        if section.notes:
            lines.append("")
    if report.loss_curves:
        lines += ["## Training loss per stage", ""]
        lines += _md_table(*_loss_table(report))
        lines += ["", "*Loss curves of every stage: chart in report.html.*", ""]
    if report.notes:
        lines += ["## Notes", ""]
        lines += [f"- {_md(note)}" for note in report.notes]
        lines.append("")
    lines += ["## Reproducibility", "", "```json", _reproducibility_json(report), "```", ""]
    return "\n".join(lines)


# -- HTML -------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:72rem;
margin:2rem auto;padding:0 1rem;color:#1d1d1f;line-height:1.45}
h1{font-size:1.7rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:.6rem 0}th,td{border:1px solid #ccc;padding:.3rem .6rem}
th{background:#f4f4f6;text-align:left}td.n{text-align:right;font-variant-numeric:tabular-nums}
.failed{color:#b00020;font-weight:600}.passed{color:#1b7f3b}
figure{margin:1rem 0}figure img{max-width:100%}figcaption{font-size:.9rem;color:#555}
pre{background:#f6f8fa;padding:.8rem;overflow:auto}.settings{font-size:.9rem;color:#444}
.summary{font-size:1.1rem;background:#f4f7fb;border-left:4px solid #3a6ea5;padding:.8rem 1rem}
"""


def _html_table(
    headers: list[str], rows: list[list[str]], numeric: int | tuple[int, ...] = 1
) -> str:
    head = "".join(f"<th>{_h(h)}</th>" for h in headers)
    body = []
    for row in rows:
        cells = []
        for i, cell in enumerate(row):
            css = ' class="n"' if _numeric(i, numeric) else ""
            if cell in ("passed", "FAILED"):
                css = f' class="{cell.lower()}"'
            cells.append(f"<td{css}>{_h(cell)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _image(png: bytes, caption: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return (
        f'<figure><img alt="{_h(caption)}" src="data:image/png;base64,{data}">'
        f"<figcaption>{_h(caption)}</figcaption></figure>"
    )


def _drawable(section: ReportSection) -> bool:
    """Whether the section's chart has a figure to draw (a blank column draws nothing)."""
    return section.chart is not None and any(
        isinstance(section.value(model, key), int | float)
        and not isinstance(section.value(model, key), bool)
        for key in section.chart.columns
        for model in section.rows
    )


def _section_chart(section: ReportSection) -> bytes | None:
    from astrabot_pipeline.training.loss_plot import render_metric_bars

    chart = section.chart
    if chart is None or not _drawable(section):
        return None
    labels = {c.key: c.label for c in section.columns}
    models = list(section.rows)
    panels = []
    references: dict[int, list[tuple[float, str]]] = {}
    for index, key in enumerate(chart.columns):
        values = [section.value(model, key) for model in models]
        panels.append((labels[key], [None if isinstance(v, bool) else v for v in values]))
        references[index] = [(r.value, r.label) for r in chart.references if r.column == key]
    return render_metric_bars(
        models, panels, title=section.title, references=references, log_scale=chart.log_scale
    )


def render_html(report: EvaluationReport) -> str:
    from astrabot_pipeline.training.loss_plot import render_loss_curves

    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_h(report.title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_h(report.title)}</h1>",
        *([f'<p class="summary">{_h(report.summary)}</p>'] if report.summary else []),
        "<ul>"
        + "".join(f"<li>{_h(label)}: {_h(value)}</li>" for label, value in _header_lines(report))
        + "</ul>",
    ]
    if report.sample_sizes:
        rows = [[k, str(v)] for k, v in report.sample_sizes.items()]
        parts += ["<h2>Sample sizes</h2>", _html_table(["Sample", "Count"], rows)]
    if report.checks:
        rows = [_check_cells(c) for c in report.checks]
        parts += [
            "<h2>Checks</h2>",
            f"<p>{_h(_checks_summary(report))}</p>",
            _html_table(CHECK_HEADERS, rows, CHECK_NUMBERS),
        ]
    if report.differences:
        parts += [
            f"<h2>{_h(DIFFERENCES_TITLE)}</h2>",
            f"<p>{_h(_differences_intro(report))}</p>",
            _html_table(
                DIFFERENCE_HEADERS,
                [_difference_cells(d) for d in report.differences],
                DIFFERENCE_NUMBERS,
            ),
        ]
    for section in report.sections:
        parts += [f"<h2>{_h(section.title)}</h2>", _html_table(*_section_table(section))]
        if any(c.better for c in section.columns):
            parts.append(f'<p class="settings">{_h(BETTER_LEGEND)}</p>')
        if section.settings:
            parts.append(f'<p class="settings">Settings: {_h(_settings_text(section))}</p>')
        png = _section_chart(section)
        if png is not None and section.chart is not None:
            parts.append(_image(png, section.chart.caption or section.title))
        if section.notes:
            parts.append("<ul>" + "".join(f"<li>{_h(n)}</li>" for n in section.notes) + "</ul>")
    if report.loss_curves:
        parts += ["<h2>Training loss per stage</h2>", _html_table(*_loss_table(report))]
        png = render_loss_curves(report.loss_curves)
        parts.append(_image(png, "Training and validation loss of every stage, against its step"))
    if report.notes:
        parts.append("<h2>Notes</h2>")
        parts.append("<ul>" + "".join(f"<li>{_h(n)}</li>" for n in report.notes) + "</ul>")
    parts += ["<h2>Reproducibility</h2>", f"<pre>{_h(_reproducibility_json(report))}</pre>"]
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def render_report(report: EvaluationReport) -> RenderedReport:
    """The three renderings of a validated report."""
    metrics = report.metrics()  # validates
    return RenderedReport(
        html=render_html(report), markdown=render_markdown(report), metrics=metrics
    )


def write_report(report: EvaluationReport, out_dir: str | Path) -> ReportPaths:
    """Write `report.html`, `report.md` and `metrics.json` into `out_dir` (0600, each
    atomically); nothing is written when the report does not validate."""
    rendered = render_report(report)
    out_dir = Path(out_dir)
    return ReportPaths(
        metrics=write_json(out_dir / METRICS_JSON_FILE, rendered.metrics),
        markdown=write_text(out_dir / REPORT_MARKDOWN_FILE, rendered.markdown),
        html=write_text(out_dir / REPORT_HTML_FILE, rendered.html),
    )


__all__ = [
    "METRICS_JSON_FILE",
    "REPORT_HTML_FILE",
    "REPORT_MARKDOWN_FILE",
    "RenderedReport",
    "ReportPaths",
    "render_html",
    "render_markdown",
    "render_report",
    "write_report",
]
