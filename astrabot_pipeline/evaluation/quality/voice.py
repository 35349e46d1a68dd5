"""Does the final adapter write like its owner? The `writes_like_owner` judgement and the
plain-language paragraph the report opens with, both from the report's own numbers.

The truth table, final adapter against the base model:
- failed: its generations degenerate (the share with a repeated line, or the share equal
  to its most common generation, is more than `DEGENERATION_MARGIN` above the owner's own
  real test replies), or next-reply ranking or authorship attribution is "worse";
- passed: ranking and attribution are both "better";
- warning otherwise: "inconclusive (n = …)" when neither decided, "mixed" when one is
  better and the other undecided.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from astrabot_pipeline.evaluation.quality.bootstrap import Comparison
from astrabot_pipeline.evaluation.quality.degeneration import DegenerationResult

# 5 percentage points above the owner's own rate.
DEGENERATION_MARGIN = 0.05
VOICE_CHECK = "writes_like_owner"

VoiceOutcome = Literal["passed", "warning", "failed"]


@dataclass(frozen=True)
class VoiceJudgement:
    """The check's outcome and the reason, in a few code-written words."""

    outcome: VoiceOutcome
    reason: str


def degenerates(final: DegenerationResult, owner: DegenerationResult) -> list[str]:
    """Which degeneration figures of `final` exceed the owner's own by the margin."""
    found = []
    if final.repeated_line_share > owner.repeated_line_share + DEGENERATION_MARGIN:
        found.append("repeated lines")
    if final.most_common_share > owner.most_common_share + DEGENERATION_MARGIN:
        found.append("one reply for many prompts")
    return found


def judge_voice(
    final: DegenerationResult,
    owner: DegenerationResult,
    ranking: Comparison,
    attribution: Comparison,
) -> VoiceJudgement:
    """The truth table above."""
    failures = degenerates(final, owner)
    failures += [
        f"{name} worse than the base model"
        for name, comparison in (("ranking", ranking), ("attribution", attribution))
        if comparison.outcome == "worse"
    ]
    if failures:
        return VoiceJudgement("failed", "; ".join(failures))
    outcomes = {ranking.outcome, attribution.outcome}
    if outcomes == {"better"}:
        return VoiceJudgement("passed", "ranking and attribution better than the base model")
    if "better" in outcomes:
        return VoiceJudgement("warning", "mixed")
    return VoiceJudgement("warning", f"inconclusive (n = {min(ranking.n, attribution.n)})")


def _percent(value: float | None) -> str:
    return "not measured" if value is None else f"{100 * value:.0f} %"


@dataclass(frozen=True)
class VoiceFigures:
    """The numbers the opening paragraph is built from (shares between 0 and 1)."""

    final_model: str
    judgement: VoiceJudgement
    test_replies: int
    attributed_final: float | None
    attributed_base: float | None
    attributed_owner: float | None
    attributed_others: float | None
    ranking_final: float | None
    ranking_base: float | None
    ranking_chance: float | None
    ranking_examples: int
    same_reply_final: float
    same_reply_owner: float
    repeated_line_final: float
    repeated_line_owner: float


def voice_summary(figures: VoiceFigures) -> str:
    """One plain-language paragraph: the verdict, then the figures behind it."""
    f = figures
    verdict = {
        "passed": "yes, measurably more than the base model does",
        "warning": (
            "partly: one of next-reply ranking and authorship attribution is measurably "
            "better than the base model's, the other is undecided (mixed)"
            if f.judgement.reason == "mixed"
            else f"not decided yet ({f.judgement.reason}): a bigger test slice would tell"
        ),
        "failed": f"no ({f.judgement.reason})",
    }[f.judgement.outcome]
    return (
        f"Does the final adapter ({f.final_model}) write like you? {verdict}. "
        f"On {f.test_replies} test conversations it never trained on, an authorship "
        f"attribution classifier took {_percent(f.attributed_final)} of its replies for yours "
        f"(base model: {_percent(f.attributed_base)}; your own real replies: "
        f"{_percent(f.attributed_owner)}; other people's messages: "
        f"{_percent(f.attributed_others)}). Put among other replies of yours, the real next "
        "reply was ranked first, by how much likelier the conversation made it, "
        f"{_percent(f.ranking_final)} of the time on "
        f"{f.ranking_examples} examples (base model: {_percent(f.ranking_base)}; chance: "
        f"{_percent(f.ranking_chance)}). {_percent(f.same_reply_final)} of its replies were "
        f"its single most common reply (yours: {_percent(f.same_reply_owner)}), and "
        f"{_percent(f.repeated_line_final)} repeated a line (yours: "
        f"{_percent(f.repeated_line_owner)})."
    )


__all__ = [
    "DEGENERATION_MARGIN",
    "VOICE_CHECK",
    "VoiceFigures",
    "VoiceJudgement",
    "degenerates",
    "judge_voice",
    "voice_summary",
]
