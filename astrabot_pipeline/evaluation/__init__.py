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

# The privacy half (docs/evaluation-privacy.md).
from astrabot_pipeline.evaluation.leakage_scan import (  # noqa: E402
    LeakageResult,
    LeakageScanner,
    TextScan,
    redact,
)
from astrabot_pipeline.evaluation.memorization import (  # noqa: E402
    CanaryExposure,
    ExposureResult,
    MemorizationResult,
)
from astrabot_pipeline.evaluation.privacy_tester import (  # noqa: E402
    PROBE_PROMPTS,
    ExtractionRecall,
    PrivacyConfig,
    PrivacyResult,
    PrivacyTester,
)

__all__ += [
    "PROBE_PROMPTS",
    "CanaryExposure",
    "ExposureResult",
    "ExtractionRecall",
    "LeakageResult",
    "LeakageScanner",
    "MemorizationResult",
    "PrivacyConfig",
    "PrivacyResult",
    "PrivacyTester",
    "TextScan",
    "redact",
]
