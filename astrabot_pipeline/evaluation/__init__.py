"""Evaluation of the base model and each LoRA stage, and the report that compares them."""

from astrabot_pipeline.evaluation.generation import (
    ChatPrompt,
    Generations,
    GenerationStats,
    chat_prompts,
    generate_replies,
    split_last_reply,
    trim_prompt_left,
)
from astrabot_pipeline.evaluation.perplexity import (
    AdapterInUseError,
    EvaluationError,
    ModelEvaluator,
    PerplexityResult,
    bits_per_character,
)
from astrabot_pipeline.evaluation.quality import (
    BLEU_NOTE,
    ConversationQualityAssessor,
    QualityAssessment,
    QualityResult,
    QualitySettings,
    TextOverlapResult,
    text_overlap,
)
from astrabot_pipeline.evaluation.ranking import (
    CandidateSet,
    LikelihoodScorer,
    RankingResult,
    build_candidate_sets,
    rank_of_true,
    rank_replies,
    ranking_metrics,
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
from astrabot_pipeline.evaluation.style import (
    STYLE_FEATURES,
    StyleMatchResult,
    jensen_shannon_distance,
    style_match,
)

__all__ = [
    "BLEU_NOTE",
    "METRICS_JSON_FILE",
    "REPORT_HTML_FILE",
    "REPORT_MARKDOWN_FILE",
    "STYLE_FEATURES",
    "AdapterInUseError",
    "CandidateSet",
    "ChartSpec",
    "ChatPrompt",
    "Check",
    "Column",
    "ConversationQualityAssessor",
    "EvalResults",
    "EvaluationError",
    "EvaluationReport",
    "GenerationStats",
    "Generations",
    "LikelihoodScorer",
    "ModelEvaluator",
    "ModelRow",
    "PerplexityResult",
    "QualityAssessment",
    "QualityResult",
    "QualitySettings",
    "RankingResult",
    "ReferenceLine",
    "RenderedReport",
    "ReportContentError",
    "ReportPaths",
    "ReportReferenceError",
    "ReportSection",
    "StyleMatchResult",
    "TextOverlapResult",
    "bits_per_character",
    "build_candidate_sets",
    "build_report",
    "chat_prompts",
    "evaluate_stages",
    "generate_replies",
    "jensen_shannon_distance",
    "perplexity_check",
    "perplexity_section",
    "rank_of_true",
    "rank_replies",
    "ranking_metrics",
    "render_report",
    "reproducibility_record",
    "split_last_reply",
    "style_match",
    "text_overlap",
    "trim_prompt_left",
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
