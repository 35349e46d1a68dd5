"""Evaluation of the base model and each LoRA stage, and the report that compares them."""

from astrabot_pipeline.evaluation.perplexity import (
    EvaluationError,
    ModelEvaluator,
    PerplexityResult,
)
from astrabot_pipeline.evaluation.report import (
    EvalResults,
    ModelRow,
    ReportPaths,
    evaluate_stages,
    render_report,
    write_report,
)

__all__ = [
    "EvalResults",
    "EvaluationError",
    "ModelEvaluator",
    "ModelRow",
    "PerplexityResult",
    "ReportPaths",
    "evaluate_stages",
    "render_report",
    "write_report",
]
