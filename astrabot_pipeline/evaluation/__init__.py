"""Evaluation of the base model and each LoRA stage, and the report that compares them."""

from astrabot_pipeline.evaluation.perplexity import (
    EvaluationError,
    ModelEvaluator,
    PerplexityResult,
)
from astrabot_pipeline.evaluation.report import (
    EvalResults,
    ModelRow,
    build_report,
    evaluate_stages,
    perplexity_check,
    perplexity_section,
    reproducibility_record,
)
from astrabot_pipeline.evaluation.report_model import (
    ChartSpec,
    Check,
    Column,
    EvaluationReport,
    ReferenceLine,
    ReportContentError,
    ReportReferenceError,
    ReportSection,
)
from astrabot_pipeline.evaluation.report_render import (
    METRICS_JSON_FILE,
    REPORT_HTML_FILE,
    REPORT_MARKDOWN_FILE,
    RenderedReport,
    ReportPaths,
    render_report,
    write_report,
)

__all__ = [
    "METRICS_JSON_FILE",
    "REPORT_HTML_FILE",
    "REPORT_MARKDOWN_FILE",
    "ChartSpec",
    "Check",
    "Column",
    "EvalResults",
    "EvaluationError",
    "EvaluationReport",
    "ModelEvaluator",
    "ModelRow",
    "PerplexityResult",
    "ReferenceLine",
    "RenderedReport",
    "ReportContentError",
    "ReportPaths",
    "ReportReferenceError",
    "ReportSection",
    "build_report",
    "evaluate_stages",
    "perplexity_check",
    "perplexity_section",
    "render_report",
    "reproducibility_record",
    "write_report",
]
