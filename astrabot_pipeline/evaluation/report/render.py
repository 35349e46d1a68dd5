"""An `EvaluationReport` as files: `report.html` (html_page.py), `report.md` (markdown.py)
and `metrics.json` (every figure per model, the checks and the reproducibility record).

Every string is escaped for where it goes; the report was validated to hold numbers,
names and code-written notes only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline.evaluation.report.html_page import render_html
from astrabot_pipeline.evaluation.report.markdown import render_markdown
from astrabot_pipeline.evaluation.report.model import EvaluationReport
from astrabot_pipeline.storage import write_json, write_text

REPORT_HTML_FILE = "report.html"
REPORT_MARKDOWN_FILE = "report.md"
METRICS_JSON_FILE = "metrics.json"


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
    "render_report",
    "write_report",
]
