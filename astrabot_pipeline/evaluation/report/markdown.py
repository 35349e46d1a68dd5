"""An `EvaluationReport` as Markdown (`report.md`): the same tables and notes as the HTML
page, every string escaped so it shows literally, a table cell included."""

from __future__ import annotations

from astrabot_pipeline.evaluation.report.model import EvaluationReport
from astrabot_pipeline.evaluation.report.tables import (
    BETTER_LEGEND,
    CHECK_HEADERS,
    CHECK_NUMBERS,
    DIFFERENCE_HEADERS,
    DIFFERENCE_NUMBERS,
    DIFFERENCES_TITLE,
    check_cells,
    checks_summary,
    difference_cells,
    differences_intro,
    drawable,
    header_lines,
    is_numeric,
    loss_table,
    reproducibility_json,
    section_table,
    settings_text,
)

_MD_SPECIAL = str.maketrans(
    {c: f"\\{c}" for c in "\\`*[]|#"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def _md(text: str) -> str:
    """Text shown literally in Markdown (a table cell included)."""
    return text.translate(_MD_SPECIAL)


def _md_table(
    headers: list[str], rows: list[list[str]], numeric: int | tuple[int, ...] = 1
) -> list[str]:
    align = ["---:" if is_numeric(i, numeric) else "---" for i in range(len(headers))]
    lines = ["| " + " | ".join(_md(h) for h in headers) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(_md(cell) for cell in row) + " |" for row in rows]
    return lines


def render_markdown(report: EvaluationReport) -> str:
    """The report as Markdown: the same tables and notes as the HTML page, no charts."""
    lines = [f"# {_md(report.title)}", ""]
    if report.summary:
        lines += [_md(report.summary), ""]
    lines += [f"- {label}: {_md(value)}" for label, value in header_lines(report)]
    lines.append("")
    if report.sample_sizes:
        lines += ["## Sample sizes", ""]
        lines += _md_table(
            ["Sample", "Count"], [[k, str(v)] for k, v in report.sample_sizes.items()]
        )
        lines.append("")
    if report.checks:
        lines += ["## Checks", "", checks_summary(report), ""]
        lines += _md_table(CHECK_HEADERS, [check_cells(c) for c in report.checks], CHECK_NUMBERS)
        lines.append("")
    if report.differences:
        lines += [f"## {DIFFERENCES_TITLE}", "", _md(differences_intro(report)), ""]
        lines += _md_table(
            DIFFERENCE_HEADERS,
            [difference_cells(d) for d in report.differences],
            DIFFERENCE_NUMBERS,
        )
        lines.append("")
    for section in report.sections:
        lines += [f"## {_md(section.title)}", ""]
        lines += _md_table(*section_table(section))
        lines.append("")
        if any(c.better for c in section.columns):
            lines += [BETTER_LEGEND, ""]
        if section.settings:
            lines += [f"Settings: {_md(settings_text(section))}", ""]
        if section.chart is not None and section.chart.caption and drawable(section):
            lines += [f"*Chart in report.html: {_md(section.chart.caption)}*", ""]
        lines += [f"- {_md(note)}" for note in section.notes]
        if section.notes:
            lines.append("")
    if report.loss_curves:
        lines += ["## Training loss per stage", ""]
        lines += _md_table(*loss_table(report))
        lines += ["", "*Loss curves of every stage: chart in report.html.*", ""]
    if report.notes:
        lines += ["## Notes", ""]
        lines += [f"- {_md(note)}" for note in report.notes]
        lines.append("")
    lines += ["## Reproducibility", "", "```json", reproducibility_json(report), "```", ""]
    return "\n".join(lines)


__all__ = ["render_markdown"]
