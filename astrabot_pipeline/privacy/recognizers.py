"""Presidio recognizers added to the registry: known contacts, street addresses, chat phones.

Each kind of PII is one small class; the analyzer never changes when one is added.
None of them knows any particular person or string: the known-contact recognizers read
the owner's own address book, the others are general patterns.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Protocol

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import CreditCardRecognizer

from astrabot_pipeline.privacy.address_patterns import STREET_ADDRESS_REGEX, UNIT_REGEX
from astrabot_pipeline.privacy.chat_recognizers import holds_product_word
from astrabot_pipeline.privacy.known_contacts import (
    MAX_PHONE_DIGITS,
    MIN_PHONE_DIGITS,
    ContactMatch,
    KnownContacts,
    digits_of,
)
from astrabot_pipeline.privacy.name_gazetteer import NameGazetteer, NameSpan
from astrabot_pipeline.privacy.sign_offs import SignOffs, SignOffSpan

KNOWN_CONTACT_NAME = "KNOWN_CONTACT_NAME"
KNOWN_CONTACT_PHONE = "KNOWN_CONTACT_PHONE"
KNOWN_CONTACT_EMAIL = "KNOWN_CONTACT_EMAIL"
STREET_ADDRESS = "STREET_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
KNOWN_CONTACT_ENTITIES = frozenset({KNOWN_CONTACT_NAME, KNOWN_CONTACT_PHONE, KNOWN_CONTACT_EMAIL})

KNOWN_CONTACT_SCORE = 1.0


class Span(Protocol):
    @property
    def start(self) -> int: ...
    @property
    def end(self) -> int: ...


class SpanRecognizer(EntityRecognizer):
    """Base: one entity type, found by `find(text)` as spans, all with the same score."""

    ENTITY = ""
    SCORE = 1.0
    # Set by EntityRecognizer.__init__; declared because mypy cannot infer it there.
    name: str

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_entities=[self.ENTITY], supported_language=supported_language)

    def load(self) -> None:
        pass

    def find(self, text: str) -> Sequence[Span]:
        raise NotImplementedError

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if self.ENTITY not in entities:
            return []
        return [
            RecognizerResult(
                self.ENTITY,
                span.start,
                span.end,
                self.SCORE,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for span in self.find(text)
        ]


class _KnownContactRecognizer(SpanRecognizer):
    """Base: turns KnownContacts matches of one kind into Presidio results."""

    SCORE = KNOWN_CONTACT_SCORE

    def __init__(self, known_contacts: KnownContacts, supported_language: str = "en") -> None:
        self.known_contacts = known_contacts
        super().__init__(supported_language)

    def find(self, text: str) -> list[ContactMatch]:
        raise NotImplementedError


class GivenNameRecognizer(SpanRecognizer):
    """People by their given names, where a name cannot be read as an English word."""

    ENTITY = "PERSON"
    # Above spaCy's 0.85: Presidio drops a PERSON span that another PERSON span of equal or
    # higher score contains, and an NER span over a lower-case name is later discarded
    # (`_tidy_ner_span`), which would take this finding with it.
    SCORE = 0.9

    def __init__(self, gazetteer: NameGazetteer, supported_language: str = "en") -> None:
        self.gazetteer = gazetteer
        super().__init__(supported_language)

    def find(self, text: str) -> list[NameSpan]:
        return self.gazetteer.find(text)


class SignOffRecognizer(SpanRecognizer):
    """The name a text message is signed with, at its end (privacy/sign_offs.py)."""

    ENTITY = "PERSON"
    SCORE = GivenNameRecognizer.SCORE  # as a given name found by the world list

    def __init__(self, sign_offs: SignOffs, supported_language: str = "en") -> None:
        self.sign_offs = sign_offs
        super().__init__(supported_language)

    def find(self, text: str) -> list[SignOffSpan]:
        return self.sign_offs.find(text)


class KnownContactNameRecognizer(_KnownContactRecognizer):
    """Any name form of a known contact: case-insensitive, word-bounded, possessive-aware."""

    ENTITY = KNOWN_CONTACT_NAME

    def find(self, text: str) -> list[ContactMatch]:
        return self.known_contacts.find_names(text)


class KnownContactPhoneRecognizer(_KnownContactRecognizer):
    """A known contact's number in any formatting (+1 / 001 / national, spaced, dotted…)."""

    ENTITY = KNOWN_CONTACT_PHONE

    def find(self, text: str) -> list[ContactMatch]:
        return self.known_contacts.find_phones(text)


class KnownContactEmailRecognizer(_KnownContactRecognizer):
    """A known contact's e-mail address, case-insensitive."""

    ENTITY = KNOWN_CONTACT_EMAIL

    def find(self, text: str) -> list[ContactMatch]:
        return self.known_contacts.find_emails(text)


# "March 3, 2025", "Fri, Jan 10th": a date, which the "name, number, place or code"
# shape of an address ("Kuuse 53, Tallinn", "Iceland 82407") would otherwise take.
_A_DATE = re.compile(
    r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun|(?:mon|tues|wednes|thurs|fri|satur|sun)day)"
    r"\.?,?[ \t]+)?"
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?[ \t]+"
    r"\d{1,2}(?:st|nd|rd|th)?(?:,?[ \t]+\d{4})?",
    re.IGNORECASE,
)


# Texting's "2" and "4" ("to", "for") between words: "I WANT 2 TALK 2 U", "2 GO BAK 2
# COLLEGE". No address puts a lone 2 or 4 after its first part and before a word, but for
# a corner's "Beiteveien 2 and Sieda Radial".
_TEXTING_DIGIT = re.compile(r"\S[ \t]+[24][ \t]+(?!and\b)[A-Za-z]", re.IGNORECASE)


class StreetAddressRecognizer(PatternRecognizer):
    """House number + street name + suffix, optional unit and city/state/ZIP (next line too).

    A date ("March 3, 2025") is never an address, whatever shape it shares with one, nor
    is a product's release ("DSpace 7 Sprint": privacy/chat_recognizers.py).
    """

    PATTERNS = [
        Pattern("street_address", STREET_ADDRESS_REGEX, 0.7),
        Pattern("unit", UNIT_REGEX, 0.6),
    ]
    CONTEXT = ["address", "live", "moved", "street", "apartment", "apt", "place"]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=STREET_ADDRESS,
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language=supported_language,
        )

    def invalidate_result(self, pattern_text: str) -> bool:
        return (
            bool(_A_DATE.fullmatch(pattern_text))
            or holds_product_word(pattern_text)
            or bool(_TEXTING_DIGIT.search(pattern_text))
        )


_EXTENSION = r"(?:[ \t]*(?:x|ext\.?)[ \t]*\d{1,5})?"
_PHONE_CUE = r"(?:call|ring|text|txt|sms|whatsapp|num|number|tel|phone|mobile|mob|hp|cell|contact)"
# Chat-tolerant numbers: international (+ or 00), North American (with or without
# separators and a leading 1, maybe an extension), national numbers with a trunk 0
# ("07700 900123"), and any 7+ digits typed in 2- to 4-digit groups ("0490 75 40 81",
# "(37) 788-063", "467 3395") unless they read as a date.
CHAT_PHONE_PATTERNS = [
    Pattern(
        "international",
        r"(?<![\w+])(?:\+|\b00)[ \t]?[1-9]\d{0,2}(?:[ \t.\-]?\(?\d{1,5}\)?){2,5}(?![\w])",
        0.75,
    ),
    Pattern(
        "north_american",
        r"(?<![\w+])(?:1[ \t.\-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.\-])\d{3}[ \t.\-]\d{4}"
        rf"{_EXTENSION}(?![\w])",
        0.7,
    ),
    Pattern("north_american_digits", r"(?<![\w+])1?\d{10}(?![\w])", 0.5),
    Pattern(
        "national_trunk",
        r"(?<![\w+])0\d{2,4}[ \t.\-]?\d{3,4}[ \t.\-]?\d{3,4}(?![\w])",
        0.6,
    ),
    # A whole run of 7 to 12 digits right after a word that asks for a number: "call
    # 67441233", "is da num 98321561 familiar?", "my hp: 91234567". Singapore's and Hong
    # Kong's numbers are 8 digits typed whole; Presidio's own recognizer needs its context
    # boost for them, which is off here.
    Pattern(
        "cued_digits",
        rf"(?i)(?<=(?<![\w]){_PHONE_CUE}[ \t]*(?:(?:me|at|on|is)[ \t]+){{0,2}}[:#]?[ \t]*)"
        r"\+?\d{7,12}(?![\w])",
        0.6,
    ),
    Pattern(
        "grouped_digits",
        r"(?<![\w+.\-/:,])(?:\(\d{2,4}\)|\d{2,4})(?:[ \t.\-]\(?\d{2,6}\)?){1,4}(?![\w]|[.\-/:,]\d)",
        0.55,
    ),
]
# "12.03.2024", "2024-03-12", "3 12 2024": a date, not a number to call; "123-45-6789" is
# a social security number (UsSsnRecognizer's).
_NOT_A_PHONE = re.compile(
    r"\d{1,2}[ ./\-]\d{1,2}[ ./\-](?:19|20)\d{2}|(?:19|20)\d{2}[ ./\-]\d{1,2}[ ./\-]\d{1,2}"
    r"|\d{3}([- .])\d{2}\1\d{4}"
)


class ChatPhoneRecognizer(PatternRecognizer):
    """Phone numbers as people type them in chats, whatever their validity."""

    CONTEXT = ["phone", "number", "call", "text", "cell", "mobile", "reach", "whatsapp"]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=PHONE_NUMBER,
            patterns=CHAT_PHONE_PATTERNS,
            context=self.CONTEXT,
            supported_language=supported_language,
            name="ChatPhoneRecognizer",
        )

    def invalidate_result(self, pattern_text: str) -> bool:
        number = re.split(r"[ \t]*(?:x|ext)", pattern_text, maxsplit=1, flags=re.IGNORECASE)[0]
        number = number.strip("()")  # "(2025-06-30)" is a date in brackets
        return not has_phone_length(number) or bool(_NOT_A_PHONE.fullmatch(number))


# 12 to 19 digits, maybe in groups: what card numbers look like. Only Luhn-valid ones
# count, which also lets through the 19-digit and 2-series cards Presidio's pattern skips.
CARD_NUMBER_REGEX = r"(?<![\w+.\-])\d(?:[ \-]?\d){11,18}(?![\w]|[.\-]\d)"


class LuhnCardRecognizer(CreditCardRecognizer):
    """Any 12–19 digit number that passes the Luhn checksum, as CREDIT_CARD.

    Presidio's card recognizer with a wider pattern: its `validate_result` strips the
    spaces and dashes and applies the Luhn checksum.
    """

    PATTERNS = [Pattern("luhn_card", CARD_NUMBER_REGEX, 0.5)]
    CONTEXT: list[str] = []  # no context words: the analyzer's enhancer boosts nothing

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(supported_language=supported_language, name="LuhnCardRecognizer")


def has_phone_length(text: str) -> bool:
    return MIN_PHONE_DIGITS <= len(digits_of(text)) <= MAX_PHONE_DIGITS
