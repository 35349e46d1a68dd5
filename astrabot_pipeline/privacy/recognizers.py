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
_UNIT = r"(?:,?[ \t]*(?:apt|apartment|unit|suite|ste|flat|fl|floor|\#)\.?[ \t]*\#?(?:\d[\w\-]{0,5}|[a-z])(?![\w]))"
_PART_SEPARATOR = r"(?:[ \t]*,[ \t]*(?:\r?\n[ \t]*)?|[ \t]*\r?\n[ \t]*)"  # comma or next line
_CITY_STATE_ZIP = (
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
# Street words of other languages: as the end of one word ("Koskikatu", "Pohlstrasse",
# "Þórunnarstræti") or as a word before the name ("Rue Gafsa", "Via Franscini").
STREET_WORD_ENDINGS = (
    "strasse|straße|gasse|allee|platz|weg|damm|ufer|gata|gatan|vägen|gränd|vej|vænget|gade|"
    "veien|vegen|stræti|katu|kuja|tie|polku|straat|laan|plein|gracht|ulica|utca"
)
STREET_WORDS_BEFORE = (
    "rue|avenue|via|viale|piazza|piazzetta|corso|strada|rua|avenida|av\\.|travessa|praça|largo|"
    "calle|carrer|camino|paseo|plaza|ul\\.|ulica|chemin|allée|quai|boulevard|odos"
)
_HOUSE_NUMBER = r"\d{1,6}[a-z]?"
# Presidio compiles these with IGNORECASE: "12 elm st" and "12 Elm St" both match.
_US_STREET = (
    rf"{_HOUSE_NUMBER}"  # house number, "221b"
    rf"[ \t]+(?:(?!(?:{_NOT_STREET_WORD})(?![\w'’]))[a-z0-9][a-z0-9'.\-]*[ \t]+){{1,3}}?"  # name
    rf"(?!way[ \t]+(?:{_NOT_AFTER_WAY})\b)(?:{STREET_SUFFIXES})\.?(?![\w])"  # suffix
)
# "Koskikatu 25", "6750 Loorenstrasse 149": a Capitalized street word, then its number.
_COMPOUND_STREET = (
    rf"(?:{_HOUSE_NUMBER}[ \t]+)?(?-i:\p{{Lu}})\p{{L}}{{2,}}?(?:{STREET_WORD_ENDINGS})"
    rf"[ \t]+{_HOUSE_NUMBER}(?![\w])"
)
# "Via Franscini 71", "Rua do Arenque 1634", "62 Rue Gafsa": the street word comes first.
# A house number on one side or the other: "Via email" is no street.
_STREET_WORD_FIRST = (
    rf"(?-i:(?=\p{{Lu}}))(?:{STREET_WORDS_BEFORE})(?:[ \t]+\p{{L}}[\p{{L}}'’\-]*){{1,4}}?"
)
_WORD_FIRST_STREET = (
    rf"(?:{_HOUSE_NUMBER}[ \t]+{_STREET_WORD_FIRST}(?:[ \t]+{_HOUSE_NUMBER})?"
    rf"|{_STREET_WORD_FIRST}[ \t]+{_HOUSE_NUMBER})(?![\w])"
)
# After the street, up to three more parts, each after a comma or on its own line: a unit,
# "City, ST 12345", or a Capitalized / ALL-CAPS place and postal code ("FÜRLING",
# "Cyprus 36903").
_PLACE_LINE = (
    r"(?-i:\p{Lu}[\p{L}.'’\-]*(?:[ \t]+(?:\p{Lu}[\p{L}.'’\-]*|de|del|da|do|di|la|le|von|van)){0,3})"
    r"(?:,?[ \t]+(?-i:\p{Lu}{2}))?(?:[ \t]+\d{4,6}(?:-\d{4})?)?"
    r"|(?:(?-i:\p{Lu}{2})[ \t]+)?\d{4,6}(?:-\d{4})?"
)
_UNIT_BODY = (
    r"(?:apt|apartment|suite|ste|unit|flat|fl|floor|\#)\.?[ \t]*\#?(?:\d[\w\-]{0,5}|[a-z])(?![\w])"
)
# A place alone after a comma ("4146 Marlowe St, Cambridge") may be a sentence going on;
# on its own line, or with a postal code, it is part of the address.
_NEXT_LINE = r"[ \t]*(?:,[ \t]*)?\r?\n[ \t]*"
_NEXT_PART = (
    rf"(?:{_PART_SEPARATOR}(?:{_UNIT_BODY}|{_CITY_STATE_ZIP}|(?:{_PLACE_LINE})[ \t]+\d{{4,6}}(?![\w]))"
    rf"|{_NEXT_LINE}(?:{_PLACE_LINE})(?![\w]))"
)
STREET_ADDRESS_REGEX = (
    r"(?<![\w#/.\-])"
    rf"(?:{_US_STREET}|{_COMPOUND_STREET}|{_WORD_FIRST_STREET})"
    rf"(?:[ \t]*{_UNIT})?(?:{_NEXT_PART}){{0,3}}"
)
# A unit on its own, Capitalized ("Apt. 595", "Suite 12"): part of an address even without the street.
UNIT_REGEX = r"(?<![\w])(?-i:Apt|Apartment|Suite|Unit)\.?[ \t]*\#?\d{1,5}[a-z]?(?![\w])"


class StreetAddressRecognizer(PatternRecognizer):
    """House number + street name + suffix, optional unit and city/state/ZIP (next line too)."""

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


_EXTENSION = r"(?:[ \t]*(?:x|ext\.?)[ \t]*\d{1,5})?"
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
        return not has_phone_length(number) or bool(_NOT_A_PHONE.fullmatch(number))


# 12 to 19 digits, maybe in groups: what card numbers look like. Only Luhn-valid ones
# count, which also lets through the 19-digit and 2-series cards Presidio's pattern skips.
CARD_NUMBER_REGEX = r"(?<![\w+.\-])\d(?:[ \-]?\d){11,18}(?![\w]|[.\-]\d)"


class LuhnCardRecognizer(PatternRecognizer):
    """Any 12–19 digit number that passes the Luhn checksum, as CREDIT_CARD."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity="CREDIT_CARD",
            patterns=[Pattern("luhn_card", CARD_NUMBER_REGEX, 0.5)],
            supported_language=supported_language,
            name="LuhnCardRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool:
        return passes_luhn(digits_of(pattern_text))


def passes_luhn(digits: str) -> bool:
    total = 0
    for position, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if position % 2 else 1)
        total += value - 9 if value > 9 else value
    return bool(digits) and total % 10 == 0


def has_phone_length(text: str) -> bool:
    return MIN_PHONE_DIGITS <= len(digits_of(text)) <= MAX_PHONE_DIGITS
