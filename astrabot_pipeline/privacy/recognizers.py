"""Presidio recognizers added to the registry: known contacts, street addresses, chat phones.

Each kind of PII is one small class; the analyzer never changes when one is added.
None of them knows any particular person or string: the known-contact recognizers read
the owner's own address book, the others are general patterns.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.privacy.known_contacts import (
    MAX_PHONE_DIGITS,
    MIN_PHONE_DIGITS,
    ContactMatch,
    KnownContacts,
    digits_of,
)

KNOWN_CONTACT_NAME = "KNOWN_CONTACT_NAME"
KNOWN_CONTACT_PHONE = "KNOWN_CONTACT_PHONE"
KNOWN_CONTACT_EMAIL = "KNOWN_CONTACT_EMAIL"
STREET_ADDRESS = "STREET_ADDRESS"
PHONE_NUMBER = "PHONE_NUMBER"
KNOWN_CONTACT_ENTITIES = frozenset({KNOWN_CONTACT_NAME, KNOWN_CONTACT_PHONE, KNOWN_CONTACT_EMAIL})

KNOWN_CONTACT_SCORE = 1.0


class _KnownContactRecognizer(EntityRecognizer):
    """Base: turns KnownContacts matches of one kind into Presidio results."""

    ENTITY = ""

    def __init__(self, known_contacts: KnownContacts, supported_language: str = "en") -> None:
        self.known_contacts = known_contacts
        super().__init__(supported_entities=[self.ENTITY], supported_language=supported_language)

    def load(self) -> None:
        pass

    def find(self, text: str) -> list[ContactMatch]:
        raise NotImplementedError

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if self.ENTITY not in entities:
            return []
        return [
            RecognizerResult(
                self.ENTITY,
                match.start,
                match.end,
                KNOWN_CONTACT_SCORE,
                recognition_metadata={
                    RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                    RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id,
                },
            )
            for match in self.find(text)
        ]


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


STREET_SUFFIXES = (
    "street|st|avenue|ave|av|road|rd|lane|ln|boulevard|blvd|drive|dr|way|court|ct|place|pl|"
    "terrace|ter|terr|close|crescent|cres|circle|cir|highway|hwy|parkway|pkwy|square|sq|"
    "trail|trl|alley|row|mews|grove|gardens|walk|loop|plaza|plz"
)
_UNIT = r"(?:,?[ \t]*(?:apt|apartment|unit|suite|ste|flat|fl|floor|\#)\.?[ \t]*\#?[\w\-]{1,6})"
_CITY_STATE_ZIP = (
    r"(?:[ \t]*,[ \t]*(?:\r?\n[ \t]*)?|[ \t]*\r?\n[ \t]*)"  # after a comma or on the next line
    r"(?:(?-i:[A-Z][a-z.'\-]+(?:[ \t]+[A-Z][a-z.'\-]+){0,2},?[ \t]+[A-Z]{2})"  # City, ST
    r"(?:[ \t]+\d{5}(?:-\d{4})?)?"  # optional ZIP
    r"|[a-z][a-z.'\-]+(?:[ \t]+[a-z][a-z.'\-]+){0,2},?[ \t]+[a-z]{2}[ \t]+\d{5}(?:-\d{4})?)"
    r"(?![\w])"
)
# Words that make "10 min drive" or "5 minutes down the road" a phrase, not an address.
_NOT_STREET_WORDS = frozenset(
    {
        "min", "mins", "minute", "minutes", "hr", "hrs", "hour", "hours", "sec", "secs",
        "second", "seconds", "day", "days", "week", "weeks", "month", "months", "year",
        "years", "mile", "miles", "mi", "km", "kms", "kilometer", "kilometers", "block",
        "blocks", "step", "steps", "time", "times", "people", "x",
    }
)  # fmt: skip
_NOT_STREET_WORD = "|".join(
    sorted((re.escape(word) for word in STOP_WORDS | _NOT_STREET_WORDS), key=len, reverse=True)
)
# "way too many", "way more": the adverb, not a street.
_NOT_AFTER_WAY = "too|more|less|better|worse|off|over|out|back|ahead|behind|cooler|faster"
# Presidio compiles these with IGNORECASE: "12 elm st" and "12 Elm St" both match.
STREET_ADDRESS_REGEX = (
    r"(?<![\w#/.\-])\d{1,6}[a-z]?"  # house number, "221b"
    rf"[ \t]+(?:(?!(?:{_NOT_STREET_WORD})(?![\w'’]))[a-z0-9][a-z0-9'.\-]*[ \t]+){{1,3}}?"  # name
    rf"(?!way[ \t]+(?:{_NOT_AFTER_WAY})\b)(?:{STREET_SUFFIXES})\.?(?![\w])"  # suffix
    rf"{_UNIT}?(?:{_CITY_STATE_ZIP})?"
)


class StreetAddressRecognizer(PatternRecognizer):
    """House number + street name + suffix, optional unit and city/state/ZIP (next line too)."""

    PATTERNS = [Pattern("street_address", STREET_ADDRESS_REGEX, 0.7)]
    CONTEXT = ["address", "live", "moved", "street", "apartment", "apt", "place"]

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=STREET_ADDRESS,
            patterns=self.PATTERNS,
            context=self.CONTEXT,
            supported_language=supported_language,
        )


# Chat-tolerant numbers: international (+ or 00), North American (with or without
# separators and a leading 1), and national numbers with a trunk 0 ("07700 900123").
CHAT_PHONE_PATTERNS = [
    Pattern(
        "international",
        r"(?<![\w+])(?:\+|\b00)[ \t]?[1-9]\d{0,2}(?:[ \t.\-]?\(?\d{1,5}\)?){2,5}(?![\w])",
        0.75,
    ),
    Pattern(
        "north_american",
        r"(?<![\w+])(?:1[ \t.\-]?)?(?:\(\d{3}\)[ \t]?|\d{3}[ \t.\-])\d{3}[ \t.\-]\d{4}(?![\w])",
        0.7,
    ),
    Pattern("north_american_digits", r"(?<![\w+])1?\d{10}(?![\w])", 0.5),
    Pattern(
        "national_trunk",
        r"(?<![\w+])0\d{2,4}[ \t.\-]?\d{3,4}[ \t.\-]?\d{3,4}(?![\w])",
        0.6,
    ),
]


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
        return not has_phone_length(pattern_text)


def has_phone_length(text: str) -> bool:
    return MIN_PHONE_DIGITS <= len(digits_of(text)) <= MAX_PHONE_DIGITS
