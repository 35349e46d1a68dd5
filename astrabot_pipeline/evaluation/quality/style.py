"""Style match ("writes like me"): generated replies vs the owner's real ones, feature by feature.

Each feature puts every reply (or every line of a reply) into one of a fixed, documented
set of bins; the two histograms are compared with the Jensen-Shannon distance (the square
root of the base-2 JS divergence): 0 for identical distributions, 1 for disjoint ones.
Lower is closer. The bins are fixed so that numbers from different runs compare.

Features, and their bins:
- `reply_length`: characters per reply: 0, 1-4, 5-9, 10-19, 20-39, 40-79, 80-159, 160+.
- `emoji`: emoji per reply: 0, 1, 2, 3+.
- `burst_length`: non-empty lines per reply (a burst's messages are its lines): 0, 1, 2,
  3, 4, 5+.
- `line_start`: per line, its first character: lower-case letter, upper-case letter, other.
- `line_end`: per line, its last character: letter or digit (no punctuation), ".", "!",
  "?", an ellipsis ("..." or "…"), an emoji, other punctuation.
- `exclamations` and `questions`: "!" and "?" per reply: 0, 1, 2+.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import emoji
import numpy as np

from astrabot_pipeline.evaluation.quality.perplexity import EvaluationError

LENGTH_EDGES = (1, 5, 10, 20, 40, 80, 160)  # bin i holds lengths in [edges[i-1], edges[i])
LENGTH_BINS = ("0", "1-4", "5-9", "10-19", "20-39", "40-79", "80-159", "160+")
EMOJI_BINS = ("0", "1", "2", "3+")
BURST_BINS = ("0", "1", "2", "3", "4", "5+")
LINE_START_BINS = ("lower", "upper", "other")
LINE_END_BINS = ("none", "period", "exclamation", "question", "ellipsis", "emoji", "other")
COUNT_BINS = ("0", "1", "2+")
_END_MARKS = {".": "period", "!": "exclamation", "?": "question"}


def _capped(value: int, bins: Sequence[str]) -> str:
    return bins[min(value, len(bins) - 1)]


def _lines(reply: str) -> list[str]:
    return [line.strip() for line in reply.split("\n") if line.strip()]


def length_bin(reply: str) -> str:
    length = len(reply)
    return LENGTH_BINS[sum(length >= edge for edge in LENGTH_EDGES)]


def emoji_bin(reply: str) -> str:
    return _capped(emoji.emoji_count(reply), EMOJI_BINS)


def burst_bin(reply: str) -> str:
    return _capped(len(_lines(reply)), BURST_BINS)


def line_start_bin(line: str) -> str:
    first = line[0]
    if first.isalpha() and first.islower():
        return "lower"
    if first.isalpha() and first.isupper():
        return "upper"
    return "other"


def line_end_bin(line: str) -> str:
    if line.endswith(("...", "…")):
        return "ellipsis"
    last = line[-1]
    if last.isalnum():
        return "none"
    if last in _END_MARKS:
        return _END_MARKS[last]
    # An emoji can span several characters (skin tone, variation selector, ZWJ sequence).
    found = emoji.emoji_list(line[-16:])
    if found and found[-1]["match_end"] == len(line[-16:]):
        return "emoji"
    return "other"


def exclamation_bin(reply: str) -> str:
    return _capped(reply.count("!"), COUNT_BINS)


def question_bin(reply: str) -> str:
    return _capped(reply.count("?"), COUNT_BINS)


@dataclass(frozen=True)
class StyleFeature:
    """One feature: its bins, and how a reply (per_line=False) or a line (True) is binned."""

    name: str
    bins: tuple[str, ...]
    bin_of: Callable[[str], str]
    per_line: bool = False

    def histogram(self, replies: Iterable[str]) -> list[int]:
        counts = dict.fromkeys(self.bins, 0)
        for reply in replies:
            for unit in _lines(reply) if self.per_line else [reply]:
                counts[self.bin_of(unit)] += 1
        return [counts[name] for name in self.bins]

    def counts_per_reply(self, replies: Sequence[str]) -> np.ndarray:
        """One row per reply: its own histogram (a sum of rows is `histogram`)."""
        return np.array([self.histogram([reply]) for reply in replies], dtype=float).reshape(
            len(replies), len(self.bins)
        )


STYLE_FEATURES = (
    StyleFeature("reply_length", LENGTH_BINS, length_bin),
    StyleFeature("emoji", EMOJI_BINS, emoji_bin),
    StyleFeature("burst_length", BURST_BINS, burst_bin),
    StyleFeature("line_start", LINE_START_BINS, line_start_bin, per_line=True),
    StyleFeature("line_end", LINE_END_BINS, line_end_bin, per_line=True),
    StyleFeature("exclamations", COUNT_BINS, exclamation_bin),
    StyleFeature("questions", COUNT_BINS, question_bin),
)


def jensen_shannon_distance(p_counts: Sequence[float], q_counts: Sequence[float]) -> float:
    """Square root of the base-2 Jensen-Shannon divergence of two histograms over the same
    bins (normalised here): 0 when identical, 1 when they share no bin. An empty histogram
    against a non-empty one is 1 (nothing in common), two empty ones 0."""
    if len(p_counts) != len(q_counts):
        raise ValueError("histograms must have the same bins")
    if any(c < 0 for c in [*p_counts, *q_counts]):
        raise ValueError("histogram counts must not be negative")
    p_total, q_total = sum(p_counts), sum(q_counts)
    if p_total == 0 or q_total == 0:
        return 0.0 if p_total == q_total else 1.0
    divergence = 0.0
    for p_count, q_count in zip(p_counts, q_counts, strict=True):
        p, q = p_count / p_total, q_count / q_total
        m = (p + q) / 2
        if p > 0:
            divergence += 0.5 * p * math.log2(p / m)
        if q > 0:
            divergence += 0.5 * q * math.log2(q / m)
    # Rounding can leave a hair below 0 or above 1.
    return math.sqrt(min(max(divergence, 0.0), 1.0))


def style_summary(replies: Sequence[str]) -> dict[str, float]:
    """Plain rates behind the histograms, for a reader: means per reply and per line."""
    lines = [line for reply in replies for line in _lines(reply)]
    per_reply = max(len(replies), 1)
    per_line = max(len(lines), 1)
    return {
        "replies": len(replies),
        "mean_length_chars": sum(len(r) for r in replies) / per_reply,
        "emoji_per_reply": sum(emoji.emoji_count(r) for r in replies) / per_reply,
        "lines_per_reply": len(lines) / per_reply,
        "lower_case_start_rate": sum(line_start_bin(x) == "lower" for x in lines) / per_line,
        "ending_punctuation_rate": sum(
            line_end_bin(x) in ("period", "exclamation", "question", "ellipsis") for x in lines
        )
        / per_line,
        "exclamation_rate": sum("!" in r for r in replies) / per_reply,
        "question_rate": sum("?" in r for r in replies) / per_reply,
    }


@dataclass(frozen=True)
class StyleMatchResult:
    """JS distance per feature (generated vs owner's replies), their mean, and the plain
    rates of both sides. Numbers only."""

    distances: dict[str, float]
    mean_distance: float
    generated: dict[str, float]
    owner: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "distances": dict(self.distances),
            "mean_distance": self.mean_distance,
            "generated": dict(self.generated),
            "owner": dict(self.owner),
        }


def style_match(generated: Sequence[str], owner_replies: Sequence[str]) -> StyleMatchResult:
    """Compare the style of `generated` replies with the owner's real `owner_replies`."""
    if not generated or not owner_replies:
        raise EvaluationError("style match needs generated replies and the owner's replies")
    distances = {
        feature.name: jensen_shannon_distance(
            feature.histogram(generated), feature.histogram(owner_replies)
        )
        for feature in STYLE_FEATURES
    }
    return StyleMatchResult(
        distances=distances,
        mean_distance=sum(distances.values()) / len(distances),
        generated=style_summary(generated),
        owner=style_summary(owner_replies),
    )


def _js_distances(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """`jensen_shannon_distance` of each row of `p` with the same row of `q`."""
    p_total = p.sum(axis=1, keepdims=True)
    q_total = q.sum(axis=1, keepdims=True)
    p_share = np.divide(p, p_total, out=np.zeros_like(p), where=p_total > 0)
    q_share = np.divide(q, q_total, out=np.zeros_like(q), where=q_total > 0)
    m = (p_share + q_share) / 2

    def part(share: np.ndarray) -> np.ndarray:
        ratio = np.divide(share, m, out=np.ones_like(share), where=share > 0)
        return 0.5 * (share * np.log2(ratio)).sum(axis=1)

    distance = np.sqrt(np.clip(part(p_share) + part(q_share), 0.0, 1.0))
    empty_p, empty_q = p_total[:, 0] == 0, q_total[:, 0] == 0
    distance[empty_p | empty_q] = np.where((empty_p & empty_q)[empty_p | empty_q], 0.0, 1.0)
    return distance


def mean_style_distances(
    generated: Sequence[str], owner_replies: Sequence[str]
) -> Callable[[np.ndarray], np.ndarray]:
    """For an index matrix (one resample of paired examples per row), the mean style
    distance of each resample's generations to the same resample's owner replies."""
    if len(generated) != len(owner_replies):
        raise EvaluationError("style resampling needs one generated reply per owner reply")
    features = [
        (feature.counts_per_reply(generated), feature.counts_per_reply(owner_replies))
        for feature in STYLE_FEATURES
    ]

    def statistic(indices: np.ndarray) -> np.ndarray:
        return np.mean(
            [
                _js_distances(ours[indices].sum(axis=1), theirs[indices].sum(axis=1))
                for ours, theirs in features
            ],
            axis=0,
        )

    return statistic


def style_distance_difference(
    base_generated: Sequence[str], tuned_generated: Sequence[str], owner_replies: Sequence[str]
) -> Callable[[np.ndarray], np.ndarray]:
    """Tuned-minus-base mean style distance, paired by example (for `bootstrap`)."""
    base = mean_style_distances(base_generated, owner_replies)
    tuned = mean_style_distances(tuned_generated, owner_replies)
    return lambda indices: tuned(indices) - base(indices)
