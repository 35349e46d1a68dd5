"""The report sections of the quality assessment: overlap with the owner's replies, next-reply
ranking against chance and bits per character, and the style match, one row per model."""

from __future__ import annotations

from collections.abc import Mapping

from astrabot_pipeline.evaluation.quality.assessor import QualityAssessment
from astrabot_pipeline.evaluation.report.model import (
    ChartSpec,
    Column,
    ReferenceLine,
    ReportSection,
)
from astrabot_pipeline.evaluation.report.notes import (
    RANKING_CHANCE_ACCURACY,
    RANKING_CHANCE_MRR,
    with_standard_notes,
)


def quality_sections(quality: Mapping[str, QualityAssessment]) -> list[ReportSection]:
    """The replies' overlap, ranking and bits per character, and their style match, of every
    model assessed (the settings are the first model's, the same for all)."""
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


__all__ = ["quality_sections"]
