"""A second opinion for the gate: Presidio's default recognizers over the anonymized text.

The gate's blocking check looks for the deny-list's identifiers with the anonymizer's
own matcher, so it cannot see what that matcher and the other recognizers miss. This
detector is independent of them: Presidio's predefined recognizers for English, as
Presidio ships them (its patterns and spaCy NER, with none of our rules), read the
anonymized text. What they find that is not one of our own outputs (a "<URL>"-style
placeholder, a pool surrogate name, place or street, a fictional 555-01xx number, an
e-mail at a reserved domain) is counted by entity type: counts only, a warning for a
person to look at, never a reason to block.

NER reads only texts holding an upper-case letter, as in the anonymizer: spaCy's small
model on lower-case chat finds laughter and slang, not people. Dates, nationalities
and organizations are not identities here and are not asked for.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer import RecognizerResult as AnalyzerResult
from presidio_analyzer.nlp_engine import NlpEngine

from astrabot_pipeline.privacy import prefilter
from astrabot_pipeline.privacy.anonymizer import (
    LANGUAGE,
    NoContextBoost,
    analyze_batch,
    ner_texts_of,
)
from astrabot_pipeline.privacy.known_contacts import digits_of, name_words
from astrabot_pipeline.privacy.prefilter import Prefiltered
from astrabot_pipeline.privacy.pseudonyms import (
    CITIES,
    FIRST_NAMES,
    LAST_NAMES,
    PLACEHOLDER,
    STREET_NAMES,
    STREET_SUFFIXES,
)
from astrabot_pipeline.privacy.validator import is_fictional_number, is_reserved_email_domain

NOT_IDENTITIES = frozenset({"DATE_TIME", "NRP", "ORGANIZATION"})
SCORE_THRESHOLD = 0.5
BATCH_SIZE = 256
_EMAIL = re.compile(r"[\w.+\-']+@([\w\-]+(?:\.[\w\-]+)+)")
_SURROGATE_WORDS = frozenset(
    word
    for entry in (*FIRST_NAMES, *LAST_NAMES, *STREET_NAMES, *STREET_SUFFIXES)
    + tuple(city for pair in CITIES for city in pair)
    for word in name_words(entry)
)
_NAME_LIKE = frozenset({"PERSON", "LOCATION"})
# Presidio's pattern recognizers asked only about texts holding what every match of
# theirs holds (privacy/prefilter.py): the anonymizer's proven conditions, and a digit
# for those whose every pattern has one (bank, ITIN, passport, NHS, crypto, medical
# licence numbers). test_prefilter.py checks the findings are unchanged.
PREFILTERS = {
    "EmailRecognizer": prefilter.AT_SIGN,
    "PhoneRecognizer": prefilter.PHONE_DIGITS,
    "IbanRecognizer": prefilter.IBAN_OPENING,
    "CreditCardRecognizer": prefilter.FOUR_DIGITS,
    "UsSsnRecognizer": prefilter.THREE_DIGITS,
    "IpRecognizer": prefilter.IP_SEPARATOR,
    "UrlRecognizer": prefilter.DOT_AND_TWO_LETTERS,
    "UsBankRecognizer": prefilter.DIGIT,
    "UsItinRecognizer": prefilter.DIGIT,
    "UsPassportRecognizer": prefilter.DIGIT,
    "NhsRecognizer": prefilter.DIGIT,
    "CryptoRecognizer": prefilter.DIGIT,
    "MedicalLicenseRecognizer": prefilter.DIGIT,
}


@dataclass(frozen=True)
class ResidualReport:
    """How many possible identifiers of each type the second opinion found, and where."""

    rows_scanned: int = 0
    rows_with_residue: int = 0
    by_type: dict[str, int] = field(default_factory=dict)

    def to_metadata(self) -> dict[str, int]:
        return {
            "residual_rows_scanned": self.rows_scanned,
            "residual_rows_with_hits": self.rows_with_residue,
            "residual_total": sum(self.by_type.values()),
            **{f"residual_{kind.lower()}": count for kind, count in sorted(self.by_type.items())},
        }


class ResidualDetector:
    """Presidio's predefined English recognizers, on an already loaded spaCy engine."""

    def __init__(self, nlp_engine: NlpEngine, *, batch_size: int = BATCH_SIZE) -> None:
        predefined = RecognizerRegistry(supported_languages=[LANGUAGE])
        predefined.load_predefined_recognizers(languages=[LANGUAGE], nlp_engine=nlp_engine)
        registry = RecognizerRegistry(supported_languages=[LANGUAGE])
        for recognizer in predefined.recognizers:
            condition = PREFILTERS.get(type(recognizer).__name__)
            registry.add_recognizer(
                recognizer if condition is None else Prefiltered(recognizer, condition)
            )
        self.analyzer = AnalyzerEngine(
            registry=registry,
            nlp_engine=nlp_engine,
            supported_languages=[LANGUAGE],
            context_aware_enhancer=NoContextBoost(),
        )
        self.entities = sorted(set(self.analyzer.get_supported_entities(LANGUAGE)) - NOT_IDENTITIES)
        self.batch_size = batch_size

    def scan(self, texts: Iterable[str | None]) -> ResidualReport:
        batch = [text for text in texts if isinstance(text, str) and text.strip()]
        found = analyze_batch(
            self.analyzer,
            batch,
            ner_texts_of(batch),
            batch_size=self.batch_size,
            score_threshold=SCORE_THRESHOLD,
            entities=self.entities,
        )
        counts: Counter[str] = Counter()
        rows = 0
        for text, results in zip(batch, found, strict=True):
            residue = [r.entity_type for r in results if not is_our_output(text, r)]
            counts.update(residue)
            rows += bool(residue)
        return ResidualReport(len(batch), rows, dict(counts))


def is_our_output(text: str, result: AnalyzerResult) -> bool:
    """Whether a finding is something the anonymizer wrote (so no residue): inside a
    placeholder or a surrogate e-mail, a name of pool words, a fictional number."""
    if any(start < result.end and result.start < end for start, end in _our_spans(text)):
        return True
    span = text[result.start : result.end]
    if result.entity_type in _NAME_LIKE:
        words = [word for word in name_words(span) if len(word) > 1]
        return bool(words) and all(word in _SURROGATE_WORDS for word in words)
    if result.entity_type == "PHONE_NUMBER":
        return is_fictional_number(digits_of(span))
    return False


def _our_spans(text: str) -> list[tuple[int, int]]:
    """Placeholders ("<URL>") and e-mail addresses at reserved domains in `text`."""
    spans = [m.span() for m in PLACEHOLDER.finditer(text)] if "<" in text else []
    if "@" in text:
        spans += [m.span() for m in _EMAIL.finditer(text) if is_reserved_email_domain(m[1])]
    return spans
