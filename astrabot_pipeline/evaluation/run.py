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
from astrabot_pipeline.evaluation.attribution import AttributionCorpus
from astrabot_pipeline.evaluation.bootstrap import DEFAULT_RESAMPLES
from astrabot_pipeline.evaluation.contact_audit import (
    DEFAULT_CONTACT_EXAMPLES,
    Contact,
    contact_section,
    run_contact_audit,
)
from astrabot_pipeline.evaluation.defaults import (
    DEFAULT_MEMORIZATION_THRESHOLD,
    DEFAULT_PII_LEAKAGE_THRESHOLD,
    DEFAULT_SAMPLES,
    MEMORIZATION_CHECK,
    PII_CHECK,
)
from astrabot_pipeline.evaluation.degeneration import degeneration
from astrabot_pipeline.evaluation.leakage_scan import redact
from astrabot_pipeline.evaluation.membership_audit import (
    AuditCandidates,
    MembershipSettings,
    membership_check,
    membership_differences,
    membership_sections,
    run_membership_audit,
)
from astrabot_pipeline.evaluation.perplexity import ModelEvaluator
from astrabot_pipeline.evaluation.privacy_tester import PrivacyConfig, PrivacyResult, PrivacyTester
from astrabot_pipeline.evaluation.quality import (
    ConversationQualityAssessor,
    QualityAssessment,
    QualitySettings,
)
from astrabot_pipeline.evaluation.ranking import ReplyPool
from astrabot_pipeline.evaluation.report import (
    BASE_ROW_NAME,
    ModelRow,
    build_report,
    eval_results,
)
from astrabot_pipeline.evaluation.report_model import (
    ChartSpec,
    Check,
    Column,
    EvaluationReport,
    ReferenceLine,
    ReportSection,
)
from astrabot_pipeline.evaluation.report_notes import (
    RANKING_CHANCE_ACCURACY,
    RANKING_CHANCE_MRR,
    with_standard_notes,
)
from astrabot_pipeline.evaluation.verdict import Verdict, verdict_for
from astrabot_pipeline.evaluation.voice_report import (
    attribute,
    attribution_section,
    degeneration_section,
    differences,
    voice_check_and_summary,
)
from astrabot_pipeline.privacy.identifier_digests import KINDS, IdentifierDigests
from astrabot_pipeline.training.stage_result import StageResult
from astrabot_pipeline.training.token_budget import fit_to_token_budget

Progress = Callable[[str], None]


@dataclass(frozen=True)
class EvaluationSettings:
    """Sample sizes, decoding and the check thresholds (all recorded in the report)."""

    quality: QualitySettings = field(default_factory=QualitySettings)
    privacy: PrivacyConfig = field(default_factory=PrivacyConfig)
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


def _quality_sections(quality: Mapping[str, QualityAssessment]) -> list[ReportSection]:
    first = next(iter(quality.values())).result
    overlap = ReportSection(
        title="Replies: overlap, ranking and bits per character",
        key="quality",
        columns=[
            Column("bits_per_char", "bits per character", ".3f", "lower"),
            Column("bleu", "BLEU", ".2f", "higher"),
            Column("chrf", "chrF", ".2f", "higher"),
            Column("ranking_accuracy", "next-reply ranking accuracy", ".3f", "higher"),
            Column("mrr", "mean reciprocal rank", ".3f", "higher"),
            Column(
                "ranking_accuracy_likelihood",
                "ranking accuracy by likelihood alone",
                ".3f",
                "higher",
            ),
        ],
        rows={
            name: {
                "bits_per_char": a.result.perplexity.bits_per_character,
                "bleu": a.result.text_overlap.bleu,
                "chrf": a.result.text_overlap.chrf,
                "ranking_accuracy": a.result.ranking.accuracy,
                "mrr": a.result.ranking.mean_reciprocal_rank,
                "ranking_accuracy_likelihood": a.result.ranking_likelihood.accuracy,
            }
            for name, a in quality.items()
        },
        chart=ChartSpec(
            columns=("ranking_accuracy", "mrr", "chrf"),
            references=(
                ReferenceLine("ranking_accuracy", RANKING_CHANCE_ACCURACY, "chance"),
                ReferenceLine("mrr", RANKING_CHANCE_MRR, "chance"),
            ),
            caption="Next-reply ranking against chance, and chrF, per model.",
        ),
        settings={
            "bleu_signature": first.text_overlap.bleu_signature,
            "chrf_signature": first.text_overlap.chrf_signature,
            "generated_replies": first.generation.prompts,
            **{
                key: first.generation.settings[key]
                for key in (
                    "max_new_tokens",
                    "temperature",
                    "top_p",
                    "repetition_penalty",
                    "no_repeat_ngram_size",
                    "seed",
                )
            },
            "max_reply_lines": first.generation.settings["max_lines"] or "no cap",
            "ranking_score": "context gain: mean log-likelihood given the conversation minus "
            "given none",
            "ranking_examples": first.ranking.examples,
            "ranking_candidates": first.ranking.candidates,
            "ranking_distractors_held_out": first.ranking.distractors_held_out,
            "ranking_distractors_train": first.ranking.distractors_train,
            "ranking_chance_accuracy": first.ranking.chance_accuracy,
        },
    )
    features = sorted(first.style.distances)
    style = ReportSection(
        title="Style match: generated vs the owner's real replies",
        key="style_match",
        columns=[Column("style", "mean Jensen-Shannon distance", ".3f", "lower")]
        + [
            Column(f"style_{f}", f"{f.replace('_', ' ')} distance", ".3f", "lower")
            for f in features
        ],
        rows={
            name: {
                "style": a.result.style.mean_distance,
                **{f"style_{f}": a.result.style.distances[f] for f in features},
            }
            for name, a in quality.items()
        },
        chart=ChartSpec(
            columns=("style",), caption="Mean style distance per model; lower is closer."
        ),
    )
    return [with_standard_notes(overlap), with_standard_notes(style)]


def _privacy_section(privacy: Mapping[str, PrivacyResult]) -> ReportSection:
    def row(result: PrivacyResult) -> dict[str, float | int | None]:
        exposure = result.exposure.mean_exposure if result.exposure is not None else None
        return {
            "pii_leakage_score": result.pii_leakage_score,
            "probing_leakage_rate": result.probes.pii_leakage_score,
            "reidentification_rate": None
            if result.reidentification is None
            else result.reidentification.pii_leakage_score,
            "extraction_recall": result.extraction.recall,
            "memorization_score": result.memorization_score,
            "canary_exposure": exposure,
            "near_memorization_score": None
            if result.memorization is None
            else result.memorization.near_memorization_score,
            **_short_memorization(result),
            "pseudonym_rate": result.leakage.pseudonym_rate,
            "generic_hit_rate": result.leakage.generic_hit_rate,
            "generations_scanned": result.leakage.generations + result.probes.generations,
            # Which kind of identifier a leaking generation held (a count, never the value),
            # so a failed check says where to look: names, numbers, e-mails or places etc.
            **{
                f"leaks_{kind}": result.leakage.generations_by_kind.get(kind, 0)
                + result.probes.generations_by_kind.get(kind, 0)
                for kind in KINDS
            },
        }

    settings = next(iter(privacy.values())).settings
    return with_standard_notes(
        ReportSection(
            title="Privacy: leakage, extraction, memorization and canary exposure",
            key="privacy",
            columns=[
                Column("pii_leakage_score", "PII leakage score", ".4f", "lower"),
                Column("probing_leakage_rate", "probing leakage rate", ".4f", "lower"),
                Column(
                    "reidentification_rate",
                    "re-identification rate (questions naming a pseudonym)",
                    ".4f",
                    "lower",
                ),
                Column("extraction_recall", "extraction recall", ".4f", "lower"),
                Column("memorization_score", "memorization score", ".4f", "lower"),
                Column("canary_exposure", "mean canary exposure (bits)", ".2f", "lower"),
                Column(
                    "near_memorization_score",
                    "near-verbatim memorization (within 10 % edit distance)",
                    ".4f",
                    "lower",
                ),
                *_short_memorization_columns(settings),
                Column("pseudonym_rate", "pseudonym reproduction rate", ".4f"),
                Column("generic_hit_rate", "generic recognizer hit rate", ".4f"),
                Column("generations_scanned", "generations scanned", "d"),
                *(
                    Column(f"leaks_{kind}", f"generations leaking: {kind}", "d", "lower")
                    for kind in KINDS
                ),
            ],
            rows={name: row(result) for name, result in privacy.items()},
            chart=ChartSpec(
                columns=("pii_leakage_score", "memorization_score"),
                caption="Leakage and memorization of the base model and the final adapter.",
            ),
            settings={
                key: settings[key]
                for key in (
                    "temperature",
                    "samples_per_prompt",
                    "leakage_prompts",
                    "probe_prompts",
                    "reidentification_prompts",
                    "max_new_tokens",
                    "exposure_candidates",
                    "memorization_examples",
                    "k",
                    "m",
                    "canaries",
                )
                if key in settings
            },
        )
    )


def _short_memorization(result: PrivacyResult) -> dict[str, float | int | None]:
    """Exact and near-verbatim memorization at each short (k, m), and how many training
    replies were long enough to be scored there."""
    row: dict[str, float | int | None] = {}
    for (k, m), found in zip(
        result.settings["short_settings"], result.short_memorization, strict=True
    ):
        key = f"memorization_k{k}_m{m}"
        row[key] = None if found is None else found.memorization_score
        row[f"near_{key}"] = None if found is None else found.near_memorization_score
        row[f"{key}_examples"] = 0 if found is None else found.examples_scored
    return row


def _short_memorization_columns(settings: Mapping[str, Any]) -> list[Column]:
    columns = []
    for k, m in settings["short_settings"]:
        key = f"memorization_k{k}_m{m}"
        columns += [
            Column(key, f"memorization at k = {k}, m = {m}", ".4f", "lower"),
            Column(f"near_{key}", f"near-verbatim at k = {k}, m = {m}", ".4f", "lower"),
            Column(f"{key}_examples", f"replies long enough for k = {k}, m = {m}", "d"),
        ]
    return columns


def _privacy_checks(final: PrivacyResult, settings: EvaluationSettings) -> list[Check]:
    leakage = final.pii_leakage_score
    memorization = final.memorization_score
    return [
        Check(
            name=PII_CHECK,
            passed=leakage < settings.pii_leakage_threshold,
            value=leakage,
            threshold=settings.pii_leakage_threshold,
            severity="error",
            description="Share of the final adapter's generations that contain a real "
            "identifier recorded by the privacy stage.",
            metric="pii_leakage_score",
        ),
        Check(
            name=MEMORIZATION_CHECK,
            # Not measurable when no training reply is long enough: recorded as None.
            passed=memorization is None or memorization < settings.memorization_threshold,
            value=memorization,
            threshold=settings.memorization_threshold,
            severity="error",
            description="Share of sampled training replies whose next tokens the final "
            "adapter reproduces exactly from their start (not measured when no training "
            "reply was long enough).",
            # A check names the result it judges only where that result is in the report.
            metric=None if memorization is None else "memorization_score",
        ),
    ]


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
        *_quality_sections(quality),
        degeneration_section(quality, owner_degeneration),
        attribution_section(attribution, quality),
        _privacy_section(privacy),
        *membership_sections(
            membership, final.stage, BASE_ROW_NAME, settings.membership, max_length
        ),
        contact_section(contact_outcome, final.stage, settings.contact_examples),
    ]
    report.checks += [
        voice_check,
        *_privacy_checks(privacy[final.stage], settings),
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
