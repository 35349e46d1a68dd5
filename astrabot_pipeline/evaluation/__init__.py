"""Evaluation of the base model and each LoRA stage, and the report that compares them.

The names below load their module on first use (lazy_exports.py), so the Dagster
definitions and the commands that need no model start without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrabot_pipeline.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from astrabot_pipeline.evaluation.generation import (
        ChatPrompt,
        Generations,
        GenerationStats,
        chat_prompts,
        generate_replies,
        split_last_reply,
        trim_prompt_left,
    )
    from astrabot_pipeline.evaluation.leakage_scan import (
        LeakageResult,
        LeakageScanner,
        TextScan,
        redact,
    )
    from astrabot_pipeline.evaluation.memorization import (
        CanaryExposure,
        ExposureResult,
        MemorizationResult,
    )
    from astrabot_pipeline.evaluation.perplexity import (
        AdapterInUseError,
        EvaluationError,
        ModelEvaluator,
        PerplexityResult,
        bits_per_character,
    )
    from astrabot_pipeline.evaluation.privacy_tester import (
        PROBE_PROMPTS,
        ExtractionRecall,
        PrivacyConfig,
        PrivacyResult,
        PrivacyTester,
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
        Rankings,
        build_candidate_sets,
        rank_of_true,
        ranking_metrics,
        rankings,
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

_EXPORTS = {
    "generation": (
        "ChatPrompt",
        "Generations",
        "GenerationStats",
        "chat_prompts",
        "generate_replies",
        "split_last_reply",
        "trim_prompt_left",
    ),
    "perplexity": (
        "AdapterInUseError",
        "EvaluationError",
        "ModelEvaluator",
        "PerplexityResult",
        "bits_per_character",
    ),
    "quality": (
        "BLEU_NOTE",
        "ConversationQualityAssessor",
        "QualityAssessment",
        "QualityResult",
        "QualitySettings",
        "TextOverlapResult",
        "text_overlap",
    ),
    "ranking": (
        "CandidateSet",
        "LikelihoodScorer",
        "RankingResult",
        "Rankings",
        "build_candidate_sets",
        "rank_of_true",
        "rankings",
        "ranking_metrics",
    ),
    "report": (
        "EvalResults",
        "ModelRow",
        "build_report",
        "evaluate_stages",
        "perplexity_check",
        "perplexity_section",
        "reproducibility_record",
    ),
    "report_model": (
        "ChartSpec",
        "Check",
        "Column",
        "EvaluationReport",
        "ReferenceLine",
        "ReportContentError",
        "ReportReferenceError",
        "ReportSection",
    ),
    "report_render": (
        "METRICS_JSON_FILE",
        "REPORT_HTML_FILE",
        "REPORT_MARKDOWN_FILE",
        "RenderedReport",
        "ReportPaths",
        "render_report",
        "write_report",
    ),
    "style": (
        "STYLE_FEATURES",
        "StyleMatchResult",
        "jensen_shannon_distance",
        "style_match",
    ),
    "leakage_scan": (
        "LeakageResult",
        "LeakageScanner",
        "TextScan",
        "redact",
    ),
    "memorization": (
        "CanaryExposure",
        "ExposureResult",
        "MemorizationResult",
    ),
    "privacy_tester": (
        "PROBE_PROMPTS",
        "ExtractionRecall",
        "PrivacyConfig",
        "PrivacyResult",
        "PrivacyTester",
    ),
}

__all__ = [
    "AdapterInUseError",
    "BLEU_NOTE",
    "CanaryExposure",
    "CandidateSet",
    "ChartSpec",
    "ChatPrompt",
    "Check",
    "Column",
    "ConversationQualityAssessor",
    "EvalResults",
    "EvaluationError",
    "EvaluationReport",
    "ExposureResult",
    "ExtractionRecall",
    "GenerationStats",
    "Generations",
    "LeakageResult",
    "LeakageScanner",
    "LikelihoodScorer",
    "METRICS_JSON_FILE",
    "MemorizationResult",
    "ModelEvaluator",
    "ModelRow",
    "PROBE_PROMPTS",
    "PerplexityResult",
    "PrivacyConfig",
    "PrivacyResult",
    "PrivacyTester",
    "QualityAssessment",
    "QualityResult",
    "QualitySettings",
    "REPORT_HTML_FILE",
    "REPORT_MARKDOWN_FILE",
    "RankingResult",
    "Rankings",
    "ReferenceLine",
    "RenderedReport",
    "ReportContentError",
    "ReportPaths",
    "ReportReferenceError",
    "ReportSection",
    "STYLE_FEATURES",
    "StyleMatchResult",
    "TextOverlapResult",
    "TextScan",
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
    "rankings",
    "ranking_metrics",
    "redact",
    "render_report",
    "reproducibility_record",
    "split_last_reply",
    "style_match",
    "text_overlap",
    "trim_prompt_left",
    "write_report",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
