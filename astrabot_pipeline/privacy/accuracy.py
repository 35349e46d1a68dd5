"""How well an anonymizer did on labelled texts: span-level recall, precision, F2, what of
the address book survived, and how many texts without personal data it changed at all.

Pure scoring: the caller runs the anonymizer and hands over, per text, the character
ranges it replaced (offsets in the original text, as `Replacement` gives them) and whether
the output differs from the input. The rules are written down in docs/privacy-accuracy.md:

- a gold span is caught when at least `CAUGHT_SHARE` of its characters were replaced
  (by any replacement, whatever type it claimed: for privacy the type does not matter);
- a replacement that overlaps no gold span is a false positive; one that overlaps only
  gold spans of types not scored in that set (a date, an organisation) is left out;
- a known contact's identifier survives when any run of `SURVIVING_RUN` or more letters
  or digits in it was left with none of its characters replaced (a family name, a number
  group, a mail domain);
- a text is changed when the anonymizer's output differs from it in any character.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

CAUGHT_SHARE = 0.8
BETA = 2.0
SURVIVING_RUN = 3
# Owner-style habits the clean-message figure is broken down by.
OWNER_STYLES = ("ellipsis", "slang", "shouting")

_ALNUM_RUN = re.compile(r"[^\W_]+")


@dataclass(frozen=True)
class GoldSpan:
    """A labelled piece of personal data: [start, end) in the text, its type, and whether
    it belongs to someone in the address book the anonymizer was given."""

    start: int
    end: int
    type: str
    known_contact: bool = False


@dataclass(frozen=True)
class LabelledText:
    """A text with its gold spans and the owner-style habits it shows (see OWNER_STYLES)."""

    text: str
    spans: tuple[GoldSpan, ...] = ()
    styles: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Prediction:
    """What an anonymizer did to one text: the ranges it replaced and whether it changed
    the text at all (a replacement may, rarely, write back what was there)."""

    replaced: tuple[tuple[int, int], ...]
    changed: bool


def replaced_positions(ranges: Iterable[tuple[int, int]]) -> set[int]:
    """The character positions covered by any of `ranges`."""
    return {i for start, end in ranges for i in range(start, end)}


def is_caught(span: GoldSpan, replaced: set[int]) -> bool:
    """At least CAUGHT_SHARE of the span's characters were replaced."""
    length = span.end - span.start
    if length <= 0:
        return False
    covered = sum(1 for i in range(span.start, span.end) if i in replaced)
    return covered >= CAUGHT_SHARE * length


def survives(text: str, span: GoldSpan, replaced: set[int]) -> bool:
    """Some run of SURVIVING_RUN+ letters or digits of the span is still wholly there."""
    for run in _ALNUM_RUN.finditer(text, span.start, span.end):
        if run.end() - run.start() >= SURVIVING_RUN and not any(
            i in replaced for i in range(run.start(), run.end())
        ):
            return True
    return False


def f_beta(precision: float, recall: float, beta: float = BETA) -> float:
    """The weighted harmonic mean; recall counts beta times as much as precision."""
    if precision <= 0 or recall <= 0:
        return 0.0
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else float("nan")


@dataclass
class AccuracyReport:
    """Counts from `score`; the figures are properties over them."""

    gold: Counter[str] = field(default_factory=Counter)
    caught: Counter[str] = field(default_factory=Counter)
    true_replacements: int = 0
    false_replacements: int = 0
    neutral_replacements: int = 0
    known_identifiers: int = 0
    surviving_known: int = 0
    clean_texts: int = 0
    clean_changed: int = 0
    owner_style_clean: int = 0
    owner_style_changed: int = 0

    def recall_of(self, entity_type: str) -> float:
        return _ratio(self.caught[entity_type], self.gold[entity_type])

    @property
    def recall(self) -> float:
        return _ratio(sum(self.caught.values()), sum(self.gold.values()))

    @property
    def precision(self) -> float:
        return _ratio(self.true_replacements, self.true_replacements + self.false_replacements)

    @property
    def f2(self) -> float:
        return f_beta(self.precision, self.recall)

    @property
    def clean_changed_share(self) -> float:
        return _ratio(self.clean_changed, self.clean_texts)

    @property
    def owner_style_changed_share(self) -> float:
        return _ratio(self.owner_style_changed, self.owner_style_clean)


def score(
    texts: Sequence[LabelledText],
    predictions: Sequence[Prediction],
    scored_types: Iterable[str] | None = None,
) -> AccuracyReport:
    """Score `predictions` against `texts`' gold spans; `scored_types` limits recall and
    precision to those types (None: every type present). A text with no gold span at all
    counts as clean, for the changed-message shares."""
    scored = None if scored_types is None else frozenset(scored_types)
    report = AccuracyReport()
    for labelled, prediction in zip(texts, predictions, strict=True):
        replaced = replaced_positions(prediction.replaced)
        counted = [s for s in labelled.spans if scored is None or s.type in scored]
        for span in counted:
            report.gold[span.type] += 1
            report.caught[span.type] += is_caught(span, replaced)
        for span in labelled.spans:
            if span.known_contact:
                report.known_identifiers += 1
                report.surviving_known += survives(labelled.text, span, replaced)
        for start, end in prediction.replaced:
            if any(start < s.end and end > s.start for s in counted):
                report.true_replacements += 1
            elif any(start < s.end and end > s.start for s in labelled.spans):
                report.neutral_replacements += 1
            else:
                report.false_replacements += 1
        if not labelled.spans:
            report.clean_texts += 1
            report.clean_changed += prediction.changed
            if labelled.styles & set(OWNER_STYLES):
                report.owner_style_clean += 1
                report.owner_style_changed += prediction.changed
    return report
