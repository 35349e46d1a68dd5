"""The "does it write like me?" part of the report: degeneration and attribution
sections, the tuned-minus-base differences with their bootstrap intervals, the
`writes_like_owner` check and the opening paragraph.

Input is what the quality assessment measured (numbers, and the generations in memory);
output is report parts holding numbers only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from astrabot_pipeline.evaluation.quality.assessor import QualityAssessment
from astrabot_pipeline.evaluation.quality.attribution import AttributionCorpus, OwnerAttributor
from astrabot_pipeline.evaluation.quality.bootstrap import (
    DEFAULT_RESAMPLES,
    Comparison,
    distinct_n_difference,
    mean_difference,
    paired_bootstrap,
    perplexity_difference,
)
from astrabot_pipeline.evaluation.quality.degeneration import (
    DegenerationResult,
    repeated_line_flags,
    word_ngrams,
)
from astrabot_pipeline.evaluation.quality.ranking import RankingResult
from astrabot_pipeline.evaluation.quality.style import style_distance_difference
from astrabot_pipeline.evaluation.quality.voice import (
    DEGENERATION_MARGIN,
    VOICE_CHECK,
    VoiceFigures,
    judge_voice,
    voice_summary,
)
from astrabot_pipeline.evaluation.report.model import (
    ChartSpec,
    Check,
    Column,
    Difference,
    ReportSection,
)
from astrabot_pipeline.evaluation.report.notes import with_standard_notes

OWNER_ROW = "owner's real test replies"
OTHERS_ROW = "others' real test messages"


@dataclass(frozen=True)
class Attribution:
    """Per model, whether each generation was attributed to the owner; and the reference
    shares. `attributor` is None when the training split was too thin to train one."""

    attributor: OwnerAttributor | None
    per_model: dict[str, list[bool]]
    owner_share: float | None
    others_share: float | None
    others_test: int


def attribute(
    corpus: AttributionCorpus | None,
    quality: Mapping[str, QualityAssessment],
    owner_replies: Sequence[str],
    seed: int = 0,
) -> Attribution:
    attributor = (
        None
        if corpus is None
        else OwnerAttributor.fit(corpus.owner_train, corpus.others_train, seed=seed)
    )
    if attributor is None:
        return Attribution(None, {}, None, None, 0)
    others = list(corpus.others_test) if corpus is not None else []
    return Attribution(
        attributor,
        {name: attributor.attributed(a.generations.texts) for name, a in quality.items()},
        attributor.share(owner_replies),
        attributor.share(others),
        len(others),
    )


def degeneration_section(
    quality: Mapping[str, QualityAssessment], owner: DegenerationResult
) -> ReportSection:
    columns = [
        Column("distinct_1", "distinct-1", ".3f", "higher"),
        Column("distinct_2", "distinct-2", ".3f", "higher"),
        Column("repeated_line_share", "share with a repeated line", ".3f", "lower"),
        Column("most_common_share", "share equal to the most common reply", ".3f", "lower"),
    ]

    def row(result: DegenerationResult) -> dict[str, float | None]:
        return {c.key: getattr(result, c.key) for c in columns}

    return with_standard_notes(
        ReportSection(
            title="Degeneration: varied replies, or one reply for everything",
            key="degeneration",
            columns=columns,
            rows={name: row(a.result.degeneration) for name, a in quality.items()}
            | {OWNER_ROW: row(owner)},
            chart=ChartSpec(
                columns=("distinct_2", "most_common_share"),
                caption="Distinct-2 and the share of the most common reply, per model and "
                "for the owner's real replies.",
            ),
            settings={"degeneration_margin": DEGENERATION_MARGIN},
        )
    )


def attribution_section(
    attribution: Attribution, quality: Mapping[str, QualityAssessment]
) -> ReportSection:
    rows: dict[str, dict[str, float | int | None]] = {}
    for name in quality:
        flags = attribution.per_model.get(name)
        rows[name] = {"attributed_to_owner": sum(flags) / len(flags) if flags else None}
    # The references after the models, in the order every section lists rows.
    rows[OWNER_ROW] = {"attributed_to_owner": attribution.owner_share}
    rows[OTHERS_ROW] = {"attributed_to_owner": attribution.others_share}
    settings: dict[str, str | float | int | None] = {
        "others_test_messages": attribution.others_test
    }
    if attribution.attributor is not None:
        cv = attribution.attributor.cross_validation
        settings |= {
            "classifier": "naive Bayes on character 1-4-grams",
            "owner_training_texts": cv.owner_texts,
            "other_training_texts": cv.other_texts,
            "cross_validation_folds": cv.folds,
            "cross_validated_balanced_accuracy": round(cv.balanced_accuracy, 4),
        }
    else:
        settings["classifier"] = "not trained: too few training texts"
    return with_standard_notes(
        ReportSection(
            title="Authorship attribution: replies a classifier takes for the owner's",
            key="attribution",
            columns=[
                Column("attributed_to_owner", "share attributed to the owner", ".3f", "higher")
            ],
            rows=rows,
            chart=ChartSpec(
                columns=("attributed_to_owner",),
                caption="Share attributed to the owner: the owner's own replies (ceiling), "
                "other people's messages (floor), and each model's generations.",
            ),
            settings=settings,
        )
    )


def differences(
    quality: Mapping[str, QualityAssessment],
    base: str,
    attribution: Attribution,
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> list[Difference]:
    """Every tuned model minus the base, with paired bootstrap 95 % intervals."""

    def ranking_difference(metric: str, base: RankingResult, tuned: RankingResult) -> Comparison:
        """Tuned-minus-base share of examples whose true reply ranked first."""
        return paired_bootstrap(
            metric,
            len(tuned.ranks),
            mean_difference(base.correct(), tuned.correct()),
            better="higher",
            resamples=resamples,
            seed=seed,
        )

    found = []
    reference = quality[base]
    owner_replies = list(reference.generations.references)
    base_bigrams = [word_ngrams(text, 2) for text in reference.generations.texts]
    base_repeated = repeated_line_flags(reference.generations.texts)
    for name, assessment in quality.items():
        if name == base:
            continue
        ours, theirs = assessment.result, reference.result
        comparisons = [
            (
                "next-reply ranking accuracy",
                ranking_difference("ranking_accuracy", theirs.ranking, ours.ranking),
            ),
            (
                "ranking accuracy by likelihood alone",
                ranking_difference(
                    "ranking_accuracy_likelihood",
                    theirs.ranking_likelihood,
                    ours.ranking_likelihood,
                ),
            ),
            (
                "share attributed to the owner",
                paired_bootstrap(
                    "attributed_to_owner",
                    len(attribution.per_model.get(name, [])),
                    mean_difference(
                        attribution.per_model.get(base, []), attribution.per_model.get(name, [])
                    ),
                    better="higher",
                    resamples=resamples,
                    seed=seed,
                ),
            ),
            (
                "mean style distance",
                paired_bootstrap(
                    "style",
                    len(owner_replies),
                    style_distance_difference(
                        reference.generations.texts, assessment.generations.texts, owner_replies
                    ),
                    better="lower",
                    resamples=resamples,
                    seed=seed,
                ),
            ),
            (
                "perplexity",
                paired_bootstrap(
                    "perplexity",
                    len(ours.perplexity.example_tokens),
                    perplexity_difference(
                        theirs.perplexity.example_nll,
                        ours.perplexity.example_nll,
                        ours.perplexity.example_tokens,
                    ),
                    better="lower",
                    resamples=resamples,
                    seed=seed,
                ),
            ),
            (
                "distinct-2",
                paired_bootstrap(
                    "distinct_2",
                    len(assessment.generations.texts),
                    distinct_n_difference(
                        base_bigrams,
                        [word_ngrams(text, 2) for text in assessment.generations.texts],
                    ),
                    better="higher",
                    resamples=resamples,
                    seed=seed,
                    method="shifted",
                ),
            ),
            (
                "share with a repeated line",
                paired_bootstrap(
                    "repeated_line_share",
                    len(assessment.generations.texts),
                    mean_difference(
                        base_repeated, repeated_line_flags(assessment.generations.texts)
                    ),
                    better="lower",
                    resamples=resamples,
                    seed=seed,
                ),
            ),
        ]
        found += [Difference(name, label, comparison) for label, comparison in comparisons]
    return found


def _comparison(found: Sequence[Difference], model: str, metric: str) -> Comparison:
    return next(d.comparison for d in found if d.model == model and d.comparison.metric == metric)


def voice_check_and_summary(
    quality: Mapping[str, QualityAssessment],
    base: str,
    final: str,
    owner: DegenerationResult,
    attribution: Attribution,
    found: Sequence[Difference],
) -> tuple[Check, str]:
    """The `writes_like_owner` check on the final adapter and the opening paragraph."""
    ranking = _comparison(found, final, "ranking_accuracy")
    attributed = _comparison(found, final, "attributed_to_owner")
    final_result = quality[final].result
    judgement = judge_voice(final_result.degeneration, owner, ranking, attributed)
    check = Check(
        name=VOICE_CHECK,
        passed=judgement.outcome == "passed",
        value=None,
        threshold=None,
        severity="error" if judgement.outcome == "failed" else "warning",
        description=f"{judgement.outcome}: {judgement.reason}. The final adapter against the "
        "base model: failed if its replies degenerate (repeated-line or most-common-reply "
        f"share over the owner's own + {DEGENERATION_MARGIN:.2f}) or next-reply ranking (by "
        "context gain) or authorship attribution is worse; passed if both are better (paired "
        "bootstrap 95 % intervals).",
        gate="quality",
    )

    def share(model: str) -> float | None:
        flags = attribution.per_model.get(model)
        return sum(flags) / len(flags) if flags else None

    summary = voice_summary(
        VoiceFigures(
            final_model=final,
            judgement=judgement,
            test_replies=final_result.generation.prompts,
            attributed_final=share(final),
            attributed_base=share(base),
            attributed_owner=attribution.owner_share,
            attributed_others=attribution.others_share,
            ranking_final=final_result.ranking.accuracy,
            ranking_base=quality[base].result.ranking.accuracy,
            ranking_chance=final_result.ranking.chance_accuracy,
            ranking_examples=final_result.ranking.examples,
            same_reply_final=final_result.degeneration.most_common_share,
            same_reply_owner=owner.most_common_share,
            repeated_line_final=final_result.degeneration.repeated_line_share,
            repeated_line_owner=owner.repeated_line_share,
        )
    )
    return check, summary


__all__ = [
    "OTHERS_ROW",
    "OWNER_ROW",
    "Attribution",
    "attribute",
    "attribution_section",
    "degeneration_section",
    "differences",
    "voice_check_and_summary",
]
