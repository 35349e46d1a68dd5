"""Evaluation of the base model and each LoRA stage, and the report that compares them.

`run_evaluation` (run.py) is the whole of it: quality of every model (`quality/`: does it
write like the owner?), privacy of the base and the final adapter (`privacy/`: could it
leak their data?), then the report, its checks and the verdict (`report/`). What the
three share sits here: the held-out prompts and their generations (generation.py), the
packed scorer (lm_batches.py), what the evaluation reads from the dataset
(dataset_inputs.py) and the check names and defaults (defaults.py).

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
    from astrabot_pipeline.evaluation.privacy.leakage_scan import (
        LeakageResult,
        LeakageScanner,
        TextScan,
        redact,
    )
    from astrabot_pipeline.evaluation.privacy.memorization import (
        CanaryExposure,
        ExposureResult,
        MemorizationResult,
    )
    from astrabot_pipeline.evaluation.privacy.prompts import PROBE_PROMPTS
    from astrabot_pipeline.evaluation.privacy.results import ExtractionRecall, PrivacyResult
    from astrabot_pipeline.evaluation.privacy.settings import PrivacyTestSettings
    from astrabot_pipeline.evaluation.privacy.tester import PrivacyTester
    from astrabot_pipeline.evaluation.quality.assessor import (
        BLEU_NOTE,
        ConversationQualityAssessor,
        QualityAssessment,
        QualityResult,
        QualitySettings,
        TextOverlapResult,
        text_overlap,
    )
    from astrabot_pipeline.evaluation.quality.perplexity import (
        AdapterInUseError,
        EvaluationError,
        ModelEvaluator,
        PerplexityResult,
        bits_per_character,
    )
    from astrabot_pipeline.evaluation.quality.ranking import (
        CandidateSet,
        LikelihoodScorer,
        RankingResult,
        Rankings,
        build_candidate_sets,
        rank_of_true,
        ranking_metrics,
        rankings,
    )
    from astrabot_pipeline.evaluation.quality.style import (
        STYLE_FEATURES,
        StyleMatchResult,
        jensen_shannon_distance,
        style_match,
    )
    from astrabot_pipeline.evaluation.report.build import build_report, reproducibility_record
    from astrabot_pipeline.evaluation.report.model import (
        ChartSpec,
        Check,
        Column,
        EvaluationReport,
        ReferenceLine,
        ReportContentError,
        ReportReferenceError,
        ReportSection,
    )
    from astrabot_pipeline.evaluation.report.perplexity_section import (
        EvalResults,
        ModelRow,
        evaluate_stages,
        perplexity_check,
        perplexity_section,
    )
    from astrabot_pipeline.evaluation.report.render import (
        METRICS_JSON_FILE,
        REPORT_HTML_FILE,
        REPORT_MARKDOWN_FILE,
        RenderedReport,
        ReportPaths,
        render_report,
        write_report,
    )
    from astrabot_pipeline.evaluation.run import (
        EvaluationOutcome,
        EvaluationSettings,
        run_evaluation,
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
    "quality.perplexity": (
        "AdapterInUseError",
        "EvaluationError",
        "ModelEvaluator",
        "PerplexityResult",
        "bits_per_character",
    ),
    "quality.assessor": (
        "BLEU_NOTE",
        "ConversationQualityAssessor",
        "QualityAssessment",
        "QualityResult",
        "QualitySettings",
        "TextOverlapResult",
        "text_overlap",
    ),
    "quality.ranking": (
        "CandidateSet",
        "LikelihoodScorer",
        "RankingResult",
        "Rankings",
        "build_candidate_sets",
        "rank_of_true",
        "rankings",
        "ranking_metrics",
    ),
    "report.build": ("build_report", "reproducibility_record"),
    "report.perplexity_section": (
        "EvalResults",
        "ModelRow",
        "evaluate_stages",
        "perplexity_check",
        "perplexity_section",
    ),
    "report.model": (
        "ChartSpec",
        "Check",
        "Column",
        "EvaluationReport",
        "ReferenceLine",
        "ReportContentError",
        "ReportReferenceError",
        "ReportSection",
    ),
    "report.render": (
        "METRICS_JSON_FILE",
        "REPORT_HTML_FILE",
        "REPORT_MARKDOWN_FILE",
        "RenderedReport",
        "ReportPaths",
        "render_report",
        "write_report",
    ),
    "quality.style": (
        "STYLE_FEATURES",
        "StyleMatchResult",
        "jensen_shannon_distance",
        "style_match",
    ),
    "privacy.leakage_scan": (
        "LeakageResult",
        "LeakageScanner",
        "TextScan",
        "redact",
    ),
    "privacy.memorization": (
        "CanaryExposure",
        "ExposureResult",
        "MemorizationResult",
    ),
    "privacy.prompts": ("PROBE_PROMPTS",),
    "privacy.results": ("ExtractionRecall", "PrivacyResult"),
    "privacy.settings": ("PrivacyTestSettings",),
    "privacy.tester": ("PrivacyTester",),
    "run": ("EvaluationOutcome", "EvaluationSettings", "run_evaluation"),
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
    "EvaluationOutcome",
    "EvaluationReport",
    "EvaluationSettings",
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
    "PrivacyResult",
    "PrivacyTestSettings",
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
    "run_evaluation",
    "split_last_reply",
    "style_match",
    "text_overlap",
    "trim_prompt_left",
    "write_report",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
