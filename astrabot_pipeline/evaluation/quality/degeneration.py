"""Degeneration of generated replies: how varied they are, and whether they loop.

Measured on any list of replies (a model's generations, or the owner's real test replies
as the reference a model should come close to):
- distinct-1 and distinct-2 (Li et al. 2016, "A Diversity-Promoting Objective Function
  for Neural Conversation Models"): distinct word unigrams (bigrams) over all unigrams
  (bigrams) of all replies; words are lower-cased whitespace tokens;
- the share of replies holding a repeated line (a non-empty line that occurs twice);
- the share of replies equal to the single most common reply (case and spacing folded).

A model that answers "ok" to everything has a low distinct-n and a most-common share
near 1; one that loops has a high repeated-line share.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DegenerationResult:
    """The four figures over `replies` replies (None for distinct-n without any n-gram)."""

    replies: int
    distinct_1: float | None
    distinct_2: float | None
    repeated_line_share: float
    most_common_share: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _words(reply: str) -> list[str]:
    return reply.casefold().split()


def normalized_reply(reply: str) -> str:
    """A reply with case and spacing folded: what "the same reply" means here."""
    return " ".join(_words(reply))


def word_ngrams(reply: str, n: int) -> list[tuple[str, ...]]:
    """The word n-grams of one reply, in order (words as distinct-n counts them)."""
    words = _words(reply)
    return [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]


def distinct_n(replies: Sequence[str], n: int) -> float | None:
    """Distinct word n-grams over all word n-grams of `replies` (None when there are none)."""
    grams: Counter[tuple[str, ...]] = Counter()
    for reply in replies:
        grams.update(word_ngrams(reply, n))
    total = sum(grams.values())
    return len(grams) / total if total else None


def has_repeated_line(reply: str) -> bool:
    """Whether a non-empty line (spacing and case folded) occurs more than once."""
    lines = [normalized_reply(line) for line in reply.splitlines()]
    lines = [line for line in lines if line]
    return len(set(lines)) < len(lines)


def repeated_line_flags(replies: Sequence[str]) -> list[bool]:
    return [has_repeated_line(reply) for reply in replies]


def most_common_flags(replies: Sequence[str]) -> list[bool]:
    """For each reply, whether it equals the most common reply (ties: the first seen)."""
    normalized = [normalized_reply(reply) for reply in replies]
    if not normalized:
        return []
    common, _ = Counter(normalized).most_common(1)[0]
    return [reply == common for reply in normalized]


def degeneration(replies: Sequence[str]) -> DegenerationResult:
    """The degeneration figures of `replies` (all 0 or None for no replies)."""
    count = len(replies)
    return DegenerationResult(
        replies=count,
        distinct_1=distinct_n(replies, 1),
        distinct_2=distinct_n(replies, 2),
        repeated_line_share=sum(repeated_line_flags(replies)) / count if count else 0.0,
        most_common_share=sum(most_common_flags(replies)) / count if count else 0.0,
    )


__all__ = [
    "DegenerationResult",
    "degeneration",
    "distinct_n",
    "has_repeated_line",
    "most_common_flags",
    "normalized_reply",
    "repeated_line_flags",
    "word_ngrams",
]
