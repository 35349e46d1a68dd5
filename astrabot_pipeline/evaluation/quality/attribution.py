"""Authorship attribution: would a classifier take a reply for the owner's?

The method of "Catch Me If You Can? Not Yet" (arXiv 2509.14543), adapted to one owner: a
classifier learns the owner's training-split replies against the other participants'
training-split messages, and is then asked which of a model's generations it attributes
to the owner. The owner's own test replies give the ceiling (what a perfect imitation
would score) and the other people's test messages the floor.

Features are character 1- to 4-grams (case kept: lower-case habits are style) of the text
after masking what the privacy stage wrote into it, so neither a placeholder ("<URL>")
nor a pseudonym (the surrogate names, streets and cities of `privacy.pseudonyms`), an
e-mail address or a number can tell the authors apart; other people's "Name: " line
prefixes in group chats are dropped. The model is multinomial naive Bayes with Laplace
smoothing, written with numpy (a few thousand texts train in seconds on a CPU). Its
decision threshold is the one with the best balanced accuracy on out-of-fold scores of
a k-fold cross-validation on the training split: no test text ever sets it.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.privacy.pseudonyms import (
    CITIES,
    FIRST_NAMES,
    LAST_NAMES,
    PLACEHOLDER,
    STREET_NAMES,
)

NGRAM_ORDERS = (1, 2, 3, 4)
DEFAULT_FOLDS = 5
# Texts per class the classifier learns from (a seeded sample beyond): bounds its time.
DEFAULT_MAX_TEXTS_PER_CLASS = 4000
DEFAULT_VOCABULARY = 30_000
# Fewer training texts than this in either class train no classifier worth reporting.
MIN_TEXTS_PER_CLASS = 10
SMOOTHING = 1.0

_EMAIL = re.compile(r"\b[\w.+-]+@[\w-]+(?:\.[\w-]+)+\b")
_NUMBER = re.compile(r"\+?\d[\d\s().-]{5,}\d|\d+")
_PSEUDONYM = re.compile(
    r"\b(?:"
    + "|".join(
        sorted(
            {*FIRST_NAMES, *LAST_NAMES, *STREET_NAMES, *(city for city, _ in CITIES)},
            key=len,
            reverse=True,
        )
    )
    + r")\b",
    re.IGNORECASE,
)
_SPEAKER_PREFIX = re.compile(r"^(?:<N>\s*)+:\s*")


def mask_text(text: str) -> str:
    """`text` with placeholders, pseudonyms, e-mail addresses and numbers masked, and
    group-chat "Name: " prefixes dropped from its lines."""
    text = PLACEHOLDER.sub("<P>", text)
    text = _EMAIL.sub("<E>", text)
    text = _PSEUDONYM.sub("<N>", text)
    text = _NUMBER.sub("<D>", text)
    return "\n".join(_SPEAKER_PREFIX.sub("", line) for line in text.split("\n")).strip()


def authored_texts(records: Sequence[Mapping[str, Any]]) -> tuple[list[str], list[str]]:
    """(the owner's replies, other people's messages) in chat records, each distinct text
    once: the owner's are the assistant turns, other people's the user turns."""
    owner: dict[str, None] = {}
    others: dict[str, None] = {}
    for record in records:
        for message in record["messages"]:
            text = str(message.get("content") or "").strip()
            if not text:
                continue
            if message.get("role") == "assistant":
                owner[text] = None
            elif message.get("role") == "user":
                others[text] = None
    return list(owner), list(others)


def _ngrams(text: str) -> Counter[str]:
    padded = f"\x02{text}\x03"
    return Counter(padded[i : i + n] for n in NGRAM_ORDERS for i in range(len(padded) - n + 1))


@dataclass(frozen=True)
class CrossValidation:
    """How the threshold was fixed: out-of-fold balanced accuracy at it, on how many texts."""

    folds: int
    owner_texts: int
    other_texts: int
    balanced_accuracy: float


class _Counts:
    """Texts as sparse n-gram counts over a fixed vocabulary: (column ids, counts) each."""

    def __init__(self, vocabulary: Mapping[str, int]):
        self.vocabulary = vocabulary

    def rows(self, texts: Sequence[str]) -> list[tuple[np.ndarray, np.ndarray]]:
        rows = []
        for text in texts:
            pairs = [
                (self.vocabulary[gram], count)
                for gram, count in _ngrams(mask_text(text)).items()
                if gram in self.vocabulary
            ]
            ids = np.array([i for i, _ in pairs], dtype=np.int64)
            rows.append((ids, np.array([c for _, c in pairs], dtype=float)))
        return rows

    def totals(self, rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
        """The summed counts of `rows` per vocabulary entry."""
        total = np.zeros(len(self.vocabulary))
        for ids, counts in rows:
            np.add.at(total, ids, counts)
        return total


def _score(rows: Sequence[tuple[np.ndarray, np.ndarray]], weights: np.ndarray, bias: float):
    return np.array([float(counts @ weights[ids]) + bias for ids, counts in rows])


def _naive_bayes(
    owner_totals: np.ndarray, other_totals: np.ndarray, owners: int, others: int
) -> tuple[np.ndarray, float]:
    """Per-feature log-likelihood ratio (owner vs other) and the log prior ratio."""
    owner_counts = owner_totals + SMOOTHING
    other_counts = other_totals + SMOOTHING
    weights = np.log(owner_counts / owner_counts.sum()) - np.log(other_counts / other_counts.sum())
    return weights, float(np.log(owners) - np.log(others))


def _best_threshold(scores: np.ndarray, is_owner: np.ndarray) -> tuple[float, float]:
    """The threshold (score >= it: owner) with the best balanced accuracy, and that
    accuracy; ties go to the midpoint between neighbouring scores."""
    order = np.argsort(scores, kind="stable")
    ranked, labels = scores[order], is_owner[order]
    owners, others = labels.sum(), (~labels).sum()
    # Cutting before position i calls ranked[i:] the owner's.
    owner_above = owners - np.concatenate([[0], np.cumsum(labels)])
    other_below = np.concatenate([[0], np.cumsum(~labels)])
    accuracy = (owner_above / owners + other_below / others) / 2
    # Only cuts between distinct scores are realisable.
    valid = np.concatenate([[True], ranked[1:] > ranked[:-1], [True]])
    accuracy = np.where(valid, accuracy, -1.0)
    cut = int(np.argmax(accuracy))
    if cut == 0:
        threshold = float(ranked[0]) - 1.0
    elif cut == len(ranked):
        threshold = float(ranked[-1]) + 1.0
    else:
        threshold = float(ranked[cut - 1] + ranked[cut]) / 2
    return threshold, float(accuracy[cut])


class OwnerAttributor:
    """A fitted classifier: `attributed(texts)` says, per text, whether it reads as the
    owner's. Build it with `fit`."""

    def __init__(
        self,
        counts: _Counts,
        weights: np.ndarray,
        bias: float,
        threshold: float,
        cross_validation: CrossValidation,
    ):
        self._counts = counts
        self._weights = weights
        self._bias = bias
        self.threshold = threshold
        self.cross_validation = cross_validation

    @classmethod
    def fit(
        cls,
        owner_texts: Sequence[str],
        other_texts: Sequence[str],
        *,
        folds: int = DEFAULT_FOLDS,
        max_texts_per_class: int = DEFAULT_MAX_TEXTS_PER_CLASS,
        vocabulary_size: int = DEFAULT_VOCABULARY,
        seed: int = 0,
    ) -> OwnerAttributor | None:
        """Learn the owner's texts against the others'; None when either class has fewer
        than `MIN_TEXTS_PER_CLASS` non-empty texts (after masking) or fewer than `folds`."""
        if folds < 2:
            raise SettingError("attribution needs at least 2 cross-validation folds")
        rng = random.Random(seed)
        owner = _usable(owner_texts, max_texts_per_class, rng)
        other = _usable(other_texts, max_texts_per_class, rng)
        if min(len(owner), len(other)) < max(MIN_TEXTS_PER_CLASS, folds):
            return None
        frequency: Counter[str] = Counter()
        for text in [*owner, *other]:
            frequency.update(_ngrams(mask_text(text)).keys())
        vocabulary = {
            gram: index
            for index, (gram, _) in enumerate(
                sorted(frequency.items(), key=lambda item: (-item[1], item[0]))[:vocabulary_size]
            )
        }
        counts = _Counts(vocabulary)
        rows = counts.rows([*owner, *other])
        is_owner = np.array([True] * len(owner) + [False] * len(other))
        fold_of = np.array(
            [i % folds for i in rng.sample(range(len(owner)), len(owner))]
            + [i % folds for i in rng.sample(range(len(other)), len(other))]
        )
        owner_totals = counts.totals(rows[: len(owner)])
        other_totals = counts.totals(rows[len(owner) :])
        out_of_fold = np.zeros(len(rows))
        for fold in range(folds):
            held = np.flatnonzero(fold_of == fold)
            held_owner = [rows[i] for i in held if is_owner[i]]
            held_other = [rows[i] for i in held if not is_owner[i]]
            weights, bias = _naive_bayes(
                owner_totals - counts.totals(held_owner),
                other_totals - counts.totals(held_other),
                len(owner) - len(held_owner),
                len(other) - len(held_other),
            )
            out_of_fold[held] = _score([rows[i] for i in held], weights, bias)
        threshold, accuracy = _best_threshold(out_of_fold, is_owner)
        weights, bias = _naive_bayes(owner_totals, other_totals, len(owner), len(other))
        return cls(
            counts,
            weights,
            bias,
            threshold,
            CrossValidation(folds, len(owner), len(other), accuracy),
        )

    def scores(self, texts: Sequence[str]) -> np.ndarray:
        """Log-odds that each text is the owner's (naive Bayes)."""
        return _score(self._counts.rows(texts), self._weights, self._bias)

    def attributed(self, texts: Sequence[str]) -> list[bool]:
        """Whether each text is attributed to the owner (score at or above the threshold)."""
        return [bool(score >= self.threshold) for score in self.scores(texts)]

    def share(self, texts: Sequence[str]) -> float | None:
        """The share of `texts` attributed to the owner (None for no texts)."""
        return sum(self.attributed(texts)) / len(texts) if texts else None


def _usable(texts: Sequence[str], limit: int, rng: random.Random) -> list[str]:
    usable = [text for text in dict.fromkeys(texts) if mask_text(text)]
    return rng.sample(usable, limit) if len(usable) > limit else usable


@dataclass(frozen=True)
class AttributionCorpus:
    """The texts attribution learns from (training split) and its floor (test split)."""

    owner_train: tuple[str, ...]
    others_train: tuple[str, ...]
    others_test: tuple[str, ...]

    @classmethod
    def from_records(
        cls, train: Sequence[Mapping[str, Any]], test: Sequence[Mapping[str, Any]]
    ) -> AttributionCorpus:
        """From the chat records of the training and test splits."""
        owner, others = authored_texts(train)
        _, others_test = authored_texts(test)
        return cls(tuple(owner), tuple(others), tuple(others_test))


__all__ = [
    "AttributionCorpus",
    "CrossValidation",
    "MIN_TEXTS_PER_CLASS",
    "OwnerAttributor",
    "authored_texts",
    "mask_text",
]
