"""The leakage scan: which kinds of real identifiers a generated text holds, never which ones.

Each text's candidate spans are normalized exactly as the privacy stage normalized the
identifiers it replaced (privacy/identifier_digests.py), hashed with the same key, and
looked up among the stored digests:
- word n-grams of 1..MAX_NGRAM_WORDS folded words;
- digit runs, also when split by spaces, dashes, dots or brackets ("+1 (555) 010-2233",
  "555 010 2233"): every run of consecutive digit groups, as all its digits and its last
  10 and 9;
- whitespace-separated tokens (e-mail addresses, URLs, handles), casefolded.

A hit among the surrogates the stage emitted is a pseudonym hit, reported apart (the
model was trained on them). Planted memorization canaries are masked before anything is
looked at, and counted apart. Optionally, Presidio's generic recognizers (the project's
analyzer, with no address book) count what looks like PII but is neither a known real
identifier, a pseudonym nor a canary: "generic hits", reported apart as well.

Results hold counts per kind and character offsets (for redacting a sample), never text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from astrabot_pipeline.privacy.identifier_digests import KINDS, IdentifierDigests
from astrabot_pipeline.privacy.identifier_forms import Span, candidate_forms, digit_candidates

if TYPE_CHECKING:
    from astrabot_pipeline.privacy.anonymizer import EntityFinder


@dataclass(frozen=True)
class TextScan:
    """What one text holds: per kind, how many places hold a real identifier (overlapping
    matches are one place) or a pseudonym; generic recognizer hits per entity type;
    canaries; the ids of the whole identifiers found; and offsets to redact."""

    real: dict[str, int] = field(default_factory=dict)
    pseudonyms: dict[str, int] = field(default_factory=dict)
    generic: dict[str, int] = field(default_factory=dict)
    canaries: int = 0
    real_identifiers: frozenset[int] = frozenset()  # ids in the digest file, never text
    flagged: tuple[tuple[int, int, str], ...] = ()  # (start, end, "real"|"pseudonym"|...)

    @property
    def has_real(self) -> bool:
        return bool(self.real)

    def to_dict(self) -> dict[str, Any]:
        return {
            "real": dict(self.real),
            "pseudonyms": dict(self.pseudonyms),
            "generic": dict(self.generic),
            "canaries": self.canaries,
        }


def redact(text: str, scan: TextScan, mask: str = "[redacted]") -> str:
    """`text` with every flagged span (real, pseudonym, generic or canary) replaced."""
    out, last = [], 0
    for start, end, _ in sorted(scan.flagged):
        if start < last:
            start = last
        if start >= end:
            continue
        out += [text[last:start], mask]
        last = end
    return "".join(out) + text[last:]


@dataclass(frozen=True)
class LeakageResult:
    """The scan of a set of generations, as counts (see docs/evaluation-privacy.md)."""

    generations: int
    with_real_identifier: int
    pii_leakage_score: float
    generations_by_kind: dict[str, int]
    distinct_identifiers_by_kind: dict[str, int]
    with_pseudonym: int
    pseudonym_rate: float
    pseudonym_generations_by_kind: dict[str, int]
    with_generic_hit: int
    generic_hit_rate: float
    generic_hits_by_entity: dict[str, int]
    canary_reproductions: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "generations": self.generations,
            "with_real_identifier": self.with_real_identifier,
            "pii_leakage_score": self.pii_leakage_score,
            "generations_by_kind": dict(self.generations_by_kind),
            "distinct_identifiers_by_kind": dict(self.distinct_identifiers_by_kind),
            "with_pseudonym": self.with_pseudonym,
            "pseudonym_rate": self.pseudonym_rate,
            "pseudonym_generations_by_kind": dict(self.pseudonym_generations_by_kind),
            "with_generic_hit": self.with_generic_hit,
            "generic_hit_rate": self.generic_hit_rate,
            "generic_hits_by_entity": dict(self.generic_hits_by_entity),
            "canary_reproductions": self.canary_reproductions,
        }


def summarize(scans: Sequence[TextScan], digests: IdentifierDigests | None = None) -> LeakageResult:
    """Counts over `scans`; `pii_leakage_score` = texts with a real identifier / texts."""
    total = len(scans)
    kinds: Counter[str] = Counter()
    pseudonym_kinds: Counter[str] = Counter()
    generic: Counter[str] = Counter()
    identifiers: set[int] = set()
    for scan in scans:
        kinds.update(scan.real.keys())
        pseudonym_kinds.update(scan.pseudonyms.keys())
        generic.update(scan.generic)
        identifiers |= scan.real_identifiers
    distinct = dict.fromkeys(KINDS, 0)
    if digests is not None:
        for identifier in identifiers:
            distinct[digests.identifiers[identifier][0]] += 1
    with_real = sum(scan.has_real for scan in scans)
    with_pseudonym = sum(bool(scan.pseudonyms) for scan in scans)
    with_generic = sum(bool(scan.generic) for scan in scans)
    return LeakageResult(
        generations=total,
        with_real_identifier=with_real,
        pii_leakage_score=with_real / total if total else 0.0,
        generations_by_kind={kind: kinds[kind] for kind in KINDS},
        distinct_identifiers_by_kind=distinct,
        with_pseudonym=with_pseudonym,
        pseudonym_rate=with_pseudonym / total if total else 0.0,
        pseudonym_generations_by_kind={kind: pseudonym_kinds[kind] for kind in KINDS},
        with_generic_hit=with_generic,
        generic_hit_rate=with_generic / total if total else 0.0,
        generic_hits_by_entity=dict(sorted(generic.items())),
        canary_reproductions=sum(scan.canaries for scan in scans),
    )


def canary_spans(text: str, secrets: Iterable[str]) -> list[Span]:
    """Where a planted canary's secret digits appear in `text` (any grouping)."""
    wanted = {"".join(ch for ch in secret if ch.isdigit()) for secret in secrets}
    wanted.discard("")
    if not wanted:
        return []
    return [span for span, digits in digit_candidates(text) if digits in wanted]


def _occurrences(spans: Iterable[Span]) -> int:
    """How many places the spans mark: overlapping spans ("sam okafor", "okafor") are one."""
    count, reach = 0, -1
    for start, end in sorted(spans):
        if start >= reach:
            count += 1
        reach = max(reach, end)
    return count


def _overlaps(span: Span, spans: Iterable[Span]) -> bool:
    return any(span[0] < end and start < span[1] for start, end in spans)


class LeakageScanner:
    """Scans texts against the stored digests; optionally with Presidio's generic
    recognizers (`generic_finder`: an `EntityFinder` built with no address book)."""

    def __init__(
        self,
        digests: IdentifierDigests,
        *,
        canary_secrets: Iterable[str] = (),
        generic_finder: Any | None = None,
    ) -> None:
        self.digests = digests
        self.canary_secrets = tuple(canary_secrets)
        self.generic_finder = generic_finder
        self._real = digests.real_kinds()
        self._identifier_of = {
            digest: identifier
            for identifier, (_, whole) in enumerate(digests.identifiers)
            for digest in whole
        }
        self._pseudonyms = dict(digests.pseudonyms)

    def _scan_digests(self, text: str) -> tuple[TextScan, list[Span]]:
        canaries = canary_spans(text, self.canary_secrets)
        if canaries:  # blank them out (same length, so offsets hold)
            chars = list(text)
            for start, end in canaries:
                chars[start:end] = " " * (end - start)
            text = "".join(chars)
        real: dict[str, list[Span]] = {}
        pseudonyms: dict[str, list[Span]] = {}
        identifiers: set[int] = set()
        flagged: list[tuple[int, int, str]] = [(s, e, "canary") for s, e in canaries]
        for span, form in candidate_forms(text):
            digest = self.digests.hasher.digest(form)
            kind = self._real.get(digest)
            if kind is not None:
                real.setdefault(kind, []).append(span)
                flagged.append((*span, "real"))
                if digest in self._identifier_of:
                    identifiers.add(self._identifier_of[digest])
                continue
            kind = self._pseudonyms.get(digest)
            if kind is not None:
                pseudonyms.setdefault(kind, []).append(span)
                flagged.append((*span, "pseudonym"))
        scan = TextScan(
            real={kind: _occurrences(spans) for kind, spans in sorted(real.items())},
            pseudonyms={kind: _occurrences(spans) for kind, spans in sorted(pseudonyms.items())},
            canaries=len(canaries),
            real_identifiers=frozenset(identifiers),
            flagged=tuple(sorted(flagged)),
        )
        return scan, [(start, end) for start, end, _ in flagged]

    def name_pseudonyms(self, text: str) -> list[str]:
        """The surrogate names the privacy stage emitted that `text` holds, each the
        longest span found (a full name, not its parts). Surrogates are the anonymized
        data's own text, never a real identifier."""
        spans = [
            span
            for span, form in candidate_forms(text)
            if self._pseudonyms.get(self.digests.hasher.digest(form)) == "name"
        ]
        longest = [
            (start, end)
            for start, end in spans
            if not any(s <= start and end <= e and (s, e) != (start, end) for s, e in spans)
        ]
        return [text[start:end] for start, end in sorted(set(longest))]

    def scan(self, texts: Sequence[str]) -> list[TextScan]:
        """One `TextScan` per text, in order. A generic hit is one that no real identifier,
        pseudonym or canary span explains."""
        texts = [text if isinstance(text, str) else "" for text in texts]
        scans_and_known = [self._scan_digests(text) for text in texts]
        if self.generic_finder is None:
            return [scan for scan, _ in scans_and_known]
        findings = self.generic_finder.find_entities(texts)
        scans = []
        for (scan, explained), found in zip(scans_and_known, findings, strict=True):
            generic: Counter[str] = Counter()
            flagged = list(scan.flagged)
            for result in found:
                span = (result.start, result.end)
                if not _overlaps(span, explained):
                    generic[result.entity_type] += 1
                    flagged.append((*span, "generic"))
            scans.append(
                TextScan(
                    real=scan.real,
                    pseudonyms=scan.pseudonyms,
                    generic=dict(sorted(generic.items())),
                    canaries=scan.canaries,
                    real_identifiers=scan.real_identifiers,
                    flagged=tuple(sorted(flagged)),
                )
            )
        return scans


class PresidioFinder:
    """The project's analyzer (privacy/anonymizer.py: NLP configuration naming the
    installed spaCy model) with no address book, built on first use (~5 s)."""

    def __init__(self) -> None:
        self._finder: EntityFinder | None = None

    def find_entities(self, texts: Sequence[str]):
        if self._finder is None:
            from astrabot_pipeline.privacy.anonymizer import EntityFinder
            from astrabot_pipeline.privacy.known_contacts import KnownContacts

            self._finder = EntityFinder(KnownContacts())
        return self._finder.find_entities(list(texts))
