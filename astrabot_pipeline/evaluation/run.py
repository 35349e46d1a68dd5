"""The whole evaluation: quality of the base model and every stage, privacy of the base and
the final adapter, the checks, the report and the verdict kept beside the adapter.

The base model is loaded once; every adapter is attached for its measurements and removed
again, so all models are scored by the same weights, tokenizer and samples. The test
records are fitted to the stages' `max_length` the way training fitted them. Nothing
here logs or returns message text except `EvaluationOutcome.samples`, the redacted
side-by-side generations a caller may write to a private local file.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from astrabot_pipeline.dataset.canaries import PlantedCanary
from astrabot_pipeline.evaluation.defaults import (
    DEFAULT_MEMORIZATION_THRESHOLD,
    DEFAULT_PII_LEAKAGE_THRESHOLD,
    DEFAULT_SAMPLES,
)
from astrabot_pipeline.evaluation.privacy.contact_audit import (
    DEFAULT_CONTACT_EXAMPLES,
    Contact,
    contact_section,
    run_contact_audit,
)
from astrabot_pipeline.evaluation.privacy.leakage_scan import redact
from astrabot_pipeline.evaluation.privacy.membership_audit import (
    AuditCandidates,
    MembershipSettings,
    membership_check,
    membership_differences,
    membership_sections,
    run_membership_audit,
)
from astrabot_pipeline.evaluation.privacy.results import PrivacyResult
from astrabot_pipeline.evaluation.privacy.settings import PrivacyTestSettings
from astrabot_pipeline.evaluation.privacy.tester import PrivacyTester
from astrabot_pipeline.evaluation.quality.assessor import (
    ConversationQualityAssessor,
    QualityAssessment,
    QualitySettings,
)
from astrabot_pipeline.evaluation.quality.attribution import AttributionCorpus
from astrabot_pipeline.evaluation.quality.bootstrap import DEFAULT_RESAMPLES
from astrabot_pipeline.evaluation.quality.degeneration import degeneration
from astrabot_pipeline.evaluation.quality.perplexity import ModelEvaluator
from astrabot_pipeline.evaluation.quality.ranking import ReplyPool
from astrabot_pipeline.evaluation.report.build import build_report
from astrabot_pipeline.evaluation.report.model import (
    EvaluationReport,
)
from astrabot_pipeline.evaluation.report.perplexity_section import (
    BASE_ROW_NAME,
    ModelRow,
    eval_results,
)
from astrabot_pipeline.evaluation.report.privacy_sections import privacy_checks, privacy_section
from astrabot_pipeline.evaluation.report.quality_sections import quality_sections
from astrabot_pipeline.evaluation.report.verdict import Verdict, verdict_for
from astrabot_pipeline.evaluation.report.voice_sections import (
    attribute,
    attribution_section,
    degeneration_section,
    differences,
    voice_check_and_summary,
)
from astrabot_pipeline.privacy.identifier_digests import IdentifierDigests
from astrabot_pipeline.training.stage_result import StageResult
from astrabot_pipeline.training.token_budget import fit_to_token_budget

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvaluationSettings:
    """How a whole evaluation runs: the quality assessment's, the privacy test's and the
    membership audit's settings, the check thresholds and the sample counts (all recorded
    in the report). The Dagster layer builds it from the launchpad's `EvaluationConfig`."""

    quality: QualitySettings = field(default_factory=QualitySettings)
    privacy: PrivacyTestSettings = field(default_factory=PrivacyTestSettings)
    pii_leakage_threshold: float = DEFAULT_PII_LEAKAGE_THRESHOLD
    memorization_threshold: float = DEFAULT_MEMORIZATION_THRESHOLD
    samples: int = DEFAULT_SAMPLES  # side-by-side generations for samples.md; 0: none
    bootstrap_resamples: int = DEFAULT_RESAMPLES  # paired, seeded with quality.seed
    membership: MembershipSettings = field(default_factory=MembershipSettings)
    contact_examples: int = DEFAULT_CONTACT_EXAMPLES  # replies scored per contact, at most


@dataclass
class EvaluationOutcome:
    """The report, the verdict on the final adapter, and (in memory) the redacted samples."""

    report: EvaluationReport
    verdict: Verdict
    quality: dict[str, QualityAssessment] = field(repr=False)
    privacy: dict[str, PrivacyResult] = field(repr=False)
    samples: str | None = field(default=None, repr=False)


def _prefixed(progress: Progress, prefix: str) -> Progress:
    return lambda line: progress(prefix + line)


def _assess_quality(
    assessor: ConversationQualityAssessor,
    records: list[dict],
    window_ids: list[Any],
    stages: Sequence[StageResult],
    progress: Progress,
    pool: ReplyPool | None = None,
) -> dict[str, QualityAssessment]:
    """Base and every stage on the same candidate sets and the same line cap (the owner's
    burst length the last stage stored); a skipped stage reuses its adapter's."""
    candidate_sets = assessor.candidate_sets(records, window_ids, pool)
    max_lines = stages[-1].reply_line_cap if stages else None
    results: dict[str, QualityAssessment] = {}
    by_adapter: dict[str, QualityAssessment] = {}
    for name, adapter in [(BASE_ROW_NAME, None), *((s.stage, s.adapter_dir) for s in stages)]:
        if adapter is not None and adapter in by_adapter:
            results[name] = by_adapter[adapter]
            continue
        started = time.perf_counter()
        results[name] = assessor.assess(
            records,
            adapter,
            candidate_sets=candidate_sets,
            max_lines=max_lines,
            progress=_prefixed(progress, f"quality of {name}: "),
        )
        if adapter is not None:
            by_adapter[adapter] = results[name]
        progress(
            f"quality of {name}: {time.perf_counter() - started:.0f} s "
            f"({len(candidate_sets)} examples ranked)"
        )
    return results


def _assess_privacy(
    evaluator: ModelEvaluator,
    tester: PrivacyTester,
    final: StageResult,
    test_records: list[dict],
    train_records: list[dict],
    progress: Progress,
) -> dict[str, PrivacyResult]:
    results: dict[str, PrivacyResult] = {}
    for name, adapter in ((BASE_ROW_NAME, None), (final.stage, final.adapter_dir)):
        started = time.perf_counter()
        with evaluator.attached(adapter) as model:
            results[name] = tester.evaluate(
                model,
                evaluator.tokenizer,
                test_records=test_records,
                train_records=train_records,
            )
        parts = ", ".join(
            f"{part} {seconds:.0f} s"
            for part, seconds in results[name].seconds.items()
            if part != "total"
        )
        progress(f"privacy of {name}: {time.perf_counter() - started:.0f} s ({parts})")
    return results


def _samples_markdown(
    tester: PrivacyTester, quality: Mapping[str, QualityAssessment], final: str, count: int
) -> str | None:
    """Base and final generations side by side, every flagged span redacted."""
    if count <= 0:
        return None
    base = quality[BASE_ROW_NAME].generations
    tuned = quality[final].generations
    rows = list(zip(base.references, base.texts, tuned.texts, strict=True))[:count]
    texts = [text for row in rows for text in row]
    redacted = [redact(text, scan) for text, scan in zip(texts, tester.scan(texts), strict=True)]
    lines = [
        "# Sample generations (private: anonymized chats, identifiers the scan flags redacted)",
        "",
    ]
    for index in range(len(rows)):
        owner, from_base, from_final = redacted[3 * index : 3 * index + 3]
        lines += [
            f"## Test example {index + 1}",
            "",
            f"- the owner wrote: {_one_line(owner)}",
            f"- base model: {_one_line(from_base)}",
            f"- {final}: {_one_line(from_final)}",
            "",
        ]
    return "\n".join(lines)


def _one_line(text: str) -> str:
    return " / ".join(line.strip() for line in text.splitlines() if line.strip()) or "(empty)"


def run_evaluation(
    stages: Sequence[StageResult],
    test_records: Sequence[Mapping[str, Any]],
    train_records: Sequence[Mapping[str, Any]],
    *,
    digests: IdentifierDigests,
    canaries: Sequence[PlantedCanary] = (),
    train_window_ids: Sequence[Any] = (),
    reply_pool: ReplyPool | None = None,
    attribution_corpus: AttributionCorpus | None = None,
    audit_candidates: AuditCandidates | None = None,
    contacts: Mapping[Any, Contact] | None = None,
    settings: EvaluationSettings | None = None,
    profile: str = "",
    report_path: str | Path | None = None,
    progress: Progress = lambda line: None,
) -> EvaluationOutcome:
    """Evaluate `stages` (in training order) on `test_records` (each with its `window_id`).

    `train_records` feed the memorization measurement; `digests`, `canaries` and
    `train_window_ids` the privacy scan. Ranking distractors come from `reply_pool`
    (default: the test records' own replies); authorship attribution learns from
    `attribution_corpus` (none: not measured); the membership audit draws from
    `audit_candidates` (none: not run, the report says why), the contact-level audit
    scores `contacts`. `report_path` is recorded in the verdict.
    """
    settings = settings or EvaluationSettings()
    started = datetime.now(UTC)
    final = stages[-1]
    max_length = final.max_length
    evaluator = ModelEvaluator(final.base_model)
    fitted = fit_to_token_budget(test_records, evaluator.tokenizer, max_length)
    records = [{"messages": r["messages"]} for r in fitted.records]
    window_ids = [r.get("window_id") for r in fitted.records]
    quality_settings = replace(settings.quality, max_length=max_length)
    assessor = ConversationQualityAssessor(evaluator, quality_settings)
    quality = _assess_quality(assessor, records, window_ids, stages, progress, reply_pool)
    owner_replies = list(quality[BASE_ROW_NAME].generations.references)
    owner_degeneration = degeneration(owner_replies)
    started_attribution = time.perf_counter()
    attribution = attribute(attribution_corpus, quality, owner_replies, settings.quality.seed)
    found = differences(
        quality,
        BASE_ROW_NAME,
        attribution,
        resamples=settings.bootstrap_resamples,
        seed=settings.quality.seed,
    )
    voice_check, summary = voice_check_and_summary(
        quality, BASE_ROW_NAME, final.stage, owner_degeneration, attribution, found
    )
    progress(
        f"attribution and bootstrap intervals: {time.perf_counter() - started_attribution:.0f} s"
    )

    tester = PrivacyTester(
        digests,
        canaries,
        train_window_ids=train_window_ids,
        config=replace(settings.privacy, max_length=max_length),
    )
    train = [{"messages": r["messages"]} for r in train_records]
    privacy = _assess_privacy(evaluator, tester, final, records, train, progress)
    membership = run_membership_audit(
        evaluator,
        stages,
        audit_candidates,
        settings.membership,
        resamples=settings.bootstrap_resamples,
        seed=settings.quality.seed,
        progress=progress,
    )
    contact_outcome = run_contact_audit(
        evaluator,
        stages,
        contacts or {},
        examples=settings.contact_examples,
        max_tokens=settings.membership.max_tokens,
        resamples=settings.bootstrap_resamples,
        seed=settings.quality.seed,
        progress=progress,
    )

    results = eval_results(
        evaluator,
        stages,
        [
            ModelRow.from_perplexity(
                name, None if name == BASE_ROW_NAME else stage_dir, a.result.perplexity
            )
            for (name, a), stage_dir in zip(
                quality.items(), [None, *(s.adapter_dir for s in stages)], strict=True
            )
        ],
        validation_examples=len(records),
        started=started,
        max_length=max_length,
        row_tokens=quality_settings.row_tokens,
    )
    report = build_report(
        results,
        stages,
        profile=profile,
        settings={
            "test_examples_dropped_over_budget": fitted.dropped,
            "pii_leakage_threshold": settings.pii_leakage_threshold,
            "memorization_threshold": settings.memorization_threshold,
            "bootstrap_resamples": settings.bootstrap_resamples,
        },
    )
    report.sections += [
        *quality_sections(quality),
        degeneration_section(quality, owner_degeneration),
        attribution_section(attribution, quality),
        privacy_section(privacy),
        *membership_sections(
            membership, final.stage, BASE_ROW_NAME, settings.membership, max_length
        ),
        contact_section(contact_outcome, final.stage, settings.contact_examples),
    ]
    report.checks += [
        voice_check,
        *privacy_checks(
            privacy[final.stage],
            pii_leakage_threshold=settings.pii_leakage_threshold,
            memorization_threshold=settings.memorization_threshold,
        ),
        membership_check(membership, settings.membership),
    ]
    report.differences = [*found, *membership_differences(membership, final.stage)]
    report.summary = summary
    report.finished_at = datetime.now(UTC)
    report.validate()
    headline = {
        "pii_leakage_score": privacy[final.stage].pii_leakage_score,
        "perplexity_final": quality[final.stage].result.perplexity.perplexity,
        "perplexity_base": quality[BASE_ROW_NAME].result.perplexity.perplexity,
    }
    memorization = privacy[final.stage].memorization_score
    if memorization is not None:
        headline["memorization_score"] = memorization
    # What the model card shows of the voice: the figures `writes_like_owner` judged.
    for key, model in (("final", final.stage), ("base", BASE_ROW_NAME)):
        ranking = quality[model].result.ranking.accuracy
        flags = attribution.per_model.get(model)
        if ranking is not None:
            headline[f"ranking_accuracy_{key}"] = ranking
        if flags:
            headline[f"attributed_to_owner_{key}"] = sum(flags) / len(flags)
    verdict = verdict_for(
        final.adapter_dir,
        report.checks,
        metrics=headline,
        report=report_path,
        stage_adapters=[s.adapter_dir for s in stages],
    )
    return EvaluationOutcome(
        report=report,
        verdict=verdict,
        quality=quality,
        privacy=privacy,
        samples=_samples_markdown(tester, quality, final.stage, settings.samples),
    )
