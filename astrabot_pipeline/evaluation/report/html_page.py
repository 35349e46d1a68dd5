"""An `EvaluationReport` as one self-contained HTML page (`report.html`): inline CSS, charts
as `data:` PNGs, no links, no scripts.

The page is the jinja2 template `templates/report.html.j2`, rendered with autoescape on:
every string the report holds is escaped where it is shown. This module only gathers what
the template shows: the tables of tables.py as cells with their CSS class, and the charts.
"""

from __future__ import annotations

import base64
from functools import cache
from typing import Any

import jinja2

from astrabot_pipeline.evaluation.report.model import EvaluationReport, ReportSection
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

TEMPLATE = "report.html.j2"
LOSS_CURVES_CAPTION = "Training and validation loss of every stage, against its step"
# A cell that reads as a check's result is coloured by it.
RESULT_CLASSES = {"passed": "passed", "FAILED": "failed"}


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader(__package__ or __name__, "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def _table(
    headers: list[str], rows: list[list[str]], numeric: int | tuple[int, ...] = 1
) -> dict[str, Any]:
    """Headers, and every row as (CSS class or "", text) cells: numbers right-aligned, a
    check's result coloured."""
    return {
        "headers": headers,
        "rows": [
            [
                (RESULT_CLASSES.get(cell, "n" if is_numeric(index, numeric) else ""), cell)
                for index, cell in enumerate(row)
            ]
            for row in rows
        ],
    }


def _figure(png: bytes, caption: str) -> dict[str, str]:
    return {"data": base64.b64encode(png).decode("ascii"), "caption": caption}


def _section_chart(section: ReportSection) -> bytes | None:
    from astrabot_pipeline.training.loss_plot import render_metric_bars

    chart = section.chart
    if chart is None or not drawable(section):
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


def _section(section: ReportSection) -> dict[str, Any]:
    png = _section_chart(section)
    figure = None
    if png is not None and section.chart is not None:
        figure = _figure(png, section.chart.caption or section.title)
    return {
        "title": section.title,
        "table": _table(*section_table(section)),
        "legend": BETTER_LEGEND if any(c.better for c in section.columns) else "",
        "settings": settings_text(section) if section.settings else "",
        "figure": figure,
        "notes": list(section.notes),
    }


def render_html(report: EvaluationReport) -> str:
    """The report as one self-contained HTML page."""
    from astrabot_pipeline.training.loss_plot import render_loss_curves

    sample_sizes = None
    if report.sample_sizes:
        rows = [[k, str(v)] for k, v in report.sample_sizes.items()]
        sample_sizes = _table(["Sample", "Count"], rows)
    checks = None
    if report.checks:
        rows = [check_cells(c) for c in report.checks]
        checks = {
            "summary": checks_summary(report),
            "table": _table(CHECK_HEADERS, rows, CHECK_NUMBERS),
        }
    differences = None
    if report.differences:
        rows = [difference_cells(d) for d in report.differences]
        differences = {
            "title": DIFFERENCES_TITLE,
            "intro": differences_intro(report),
            "table": _table(DIFFERENCE_HEADERS, rows, DIFFERENCE_NUMBERS),
        }
    loss = None
    if report.loss_curves:
        loss = {
            "table": _table(*loss_table(report)),
            "figure": _figure(render_loss_curves(report.loss_curves), LOSS_CURVES_CAPTION),
        }
    return (
        _environment()
        .get_template(TEMPLATE)
        .render(
            title=report.title,
            summary=report.summary,
            header_lines=header_lines(report),
            sample_sizes=sample_sizes,
            checks=checks,
            differences=differences,
            sections=[_section(section) for section in report.sections],
            loss=loss,
            notes=list(report.notes),
            reproducibility=reproducibility_json(report),
        )
    )


__all__ = ["render_html"]
