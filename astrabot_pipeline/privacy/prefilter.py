"""`Prefiltered`: a recognizer that is only asked about texts that could hold what it finds.

Most chat messages hold no digit and no "@", so the number, e-mail and address
recognizers can only come back empty on them. Each is wrapped together with a pattern
that every one of its matches contains (a necessary condition, never a guess): a text
without it is answered [] at the cost of one regex search, any other text goes to the
wrapped recognizer unchanged.

The conditions are written with `regex`, the engine Presidio compiles recognizer patterns
with, so classes like `\\d` and case-insensitive `[a-z]` mean exactly what they mean in the
patterns they stand for. `regex` knows a newer Unicode than `re`: its `\\d` covers every
digit `re` (phonenumbers, KnownContacts) sees, and more (a test checks).
"""

from __future__ import annotations

import regex
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODES_FOR_NON_GEO_REGIONS, SUPPORTED_REGIONS
from presidio_analyzer import EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

# What every match contains, per recognizer (the reasons are the recognizers' patterns).
# Numbers to call or pay, and every address form here: it holds a house, box, unit or
# postal number (a navy ship only with the APO/FPO/DPO line after it, an intersection
# only with a house number: privacy/address_patterns.py).
DIGIT = regex.compile(r"\d")
AT_SIGN = regex.compile("@")


def fewest_digits_of_a_valid_phone_number() -> int:
    """The shortest national number phonenumbers calls valid, in any region.

    A number is valid only when its national number has one of the possible lengths of
    its type (checked before the type's pattern), and a region's general lengths are the
    union of its types'. The national number's digits are all in the text, so a text with
    fewer digits holds no valid number whatever its country code or region: 4 in today's
    metadata (Austria, Germany), against the 7 to 10 of most numbers. Local-only lengths
    (Germany's 2) count only for "possible" numbers, which Presidio's leniency never
    accepts.
    """
    every_region = [PhoneMetadata.metadata_for_region(region) for region in SUPPORTED_REGIONS]
    every_region += [
        PhoneMetadata.metadata_for_nongeo_region(code) for code in COUNTRY_CODES_FOR_NON_GEO_REGIONS
    ]
    return min(
        length
        for metadata in every_region
        if metadata is not None and metadata.general_desc is not None
        for length in metadata.general_desc.possible_length
        if length > 0
    )


def at_least_digits(count: int) -> regex.Pattern[str]:
    """`count` digits anywhere in a text, whatever stands between them."""
    # \D and \d never overlap, so a failed search costs one pass per digit, no backtracking.
    return regex.compile(rf"\d(?:\D*\d){{{count - 1}}}")


# PhoneRecognizer (phonenumbers' matcher, leniency VALID): a valid number's national digits.
# Most chat messages with a digit have fewer ("at 5", "room 12b"), and the matcher is the
# costliest recognizer: it parses every candidate once per supported region.
PHONE_DIGITS = at_least_digits(fewest_digits_of_a_valid_phone_number())
# CreditCardRecognizer: an issuer prefix of four digits, "(4\d{3})|(5[0-5]\d{2})|(6\d{3})…".
FOUR_DIGITS = regex.compile(r"\d{4}")
# UsSsnRecognizer: every pattern opens with [0-9]{3} or a longer run.
THREE_DIGITS = regex.compile(r"[0-9]{3}")
# IbanRecognizer: a country code and check digits, matched case-sensitively like its pattern.
IBAN_OPENING = regex.compile(r"[A-Z]{2}[0-9]{2}")
# IpRecognizer: every IPv6 form has a colon ("abcd::ef" has no digit); IPv4 has "digit.digit".
IP_SEPARATOR = regex.compile(r":|[0-9]\.[0-9]")
# ChatUrlRecognizer: "." and then a top-level domain, each of two or more letters; under the
# same IGNORECASE the pattern uses ("ſ" and the Kelvin sign "K" count as letters there too).
DOT_AND_TWO_LETTERS = regex.compile(r"\.[a-z]{2}", regex.IGNORECASE)


class Prefiltered(EntityRecognizer):
    """`recognizer`, asked only about texts in which `requires` is found.

    It keeps the wrapped recognizer's name, id, entities, language and context, so its
    results, their `recognition_metadata` and Presidio's per-recognizer bookkeeping (which
    matches results to recognizers by id) are exactly those of the wrapped one.
    """

    def __init__(self, recognizer: EntityRecognizer, requires: regex.Pattern[str]) -> None:
        self.recognizer = recognizer
        self.requires = requires
        super().__init__(
            supported_entities=recognizer.supported_entities,
            # mypy cannot infer Presidio's `name` (assigned in __init__ behind a branch).
            name=recognizer.name,  # type: ignore[has-type]
            supported_language=recognizer.supported_language,
            version=recognizer.version,
            context=recognizer.context,
            country_code=recognizer.country_code(),
            score_thresholds=recognizer.score_thresholds,
        )

    @property
    def id(self) -> str:
        return self.recognizer.id

    def load(self) -> None:
        if not self.recognizer.is_loaded:
            self.recognizer.load()
            self.recognizer.is_loaded = True

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if self.requires.search(text) is None:
            return []
        # Presidio declares nlp_artifacts required, yet its pattern recognizers take None
        # (as the tests call them); pass on exactly what we were given.
        return self.recognizer.analyze(text, entities, nlp_artifacts)  # type: ignore[arg-type]

    def enhance_using_context(
        self,
        text: str,
        raw_recognizer_results: list[RecognizerResult],
        other_raw_recognizer_results: list[RecognizerResult],
        nlp_artifacts: NlpArtifacts,
        context: list[str] | None = None,
    ) -> list[RecognizerResult]:
        return self.recognizer.enhance_using_context(
            text, raw_recognizer_results, other_raw_recognizer_results, nlp_artifacts, context
        )


# PlPeselRecognizer: eleven digits in a row.
ELEVEN_DIGITS = regex.compile(r"[0-9]{11}")
# EsNifRecognizer, EsNieRecognizer: seven digits in a row, "[0-9]{7}".
SEVEN_DIGITS = regex.compile(r"[0-9]{7}")
# ItFiscalCodeRecognizer: sixteen letters and digits in a row, under its IGNORECASE.
SIXTEEN_SIGNS = regex.compile(r"[\da-z]{16}", regex.IGNORECASE)
