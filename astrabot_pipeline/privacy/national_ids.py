"""National identity numbers beyond the US SSN: Presidio's own recognizers for the Polish
PESEL, the Italian codice fiscale and the Spanish NIF/NIE (each validates its checksum),
registered for the chat language, and three written here: the French NIR, the Dutch BSN
and the UK National Insurance number.

Presidio registers its country recognizers for their country's language only ("pl",
"it", "es"); chat in English quotes them too ("my PESEL is …"), so they are made anew
for "en". A checksum that holds lifts a finding to Presidio's full score, one that fails
drops it.
"""

from __future__ import annotations

import re

from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import (
    EsNieRecognizer,
    EsNifRecognizer,
    ItFiscalCodeRecognizer,
    PlPeselRecognizer,
    UkNinoRecognizer,
)

FR_NIR = "FR_NIR"
NL_BSN = "NL_BSN"
UK_NINO = "UK_NINO"
NATIONAL_ID_ENTITIES = frozenset(
    {"PL_PESEL", "IT_FISCAL_CODE", "ES_NIF", "ES_NIE", FR_NIR, NL_BSN, UK_NINO}
)

# Sex (1/2, 3/4/7/8 for foreign-born registrations), year, month (01-12, 20-42 and 50-99
# when unknown), department (2A/2B in Corsica) or overseas code, commune, order, key.
NIR_REGEX = (
    r"(?<![\w+.\-/])[1-478][ ]?[0-9]{2}[ ]?(?:0[1-9]|1[0-2]|[2-9][0-9])[ ]?"
    r"(?:[0-9]{2}|2[ABab])[ ]?[0-9]{3}[ ]?[0-9]{3}[ ]?[0-9]{2}(?![\w]|[.\-/][0-9])"
)
BSN_REGEX = r"(?<![\w+.\-/])(?:[0-9]{9}|[0-9]{4}\.[0-9]{2}\.[0-9]{3})(?![\w]|[.\-/][0-9])"
BSN_CONTEXT = re.compile(
    r"\b(?:bsn|burgerservice ?nummer|sofi ?nummer|sofi|citizen service number)\b", re.IGNORECASE
)


def nir_key_holds(number: str) -> bool:
    """The NIR's last two digits are 97 - (the first 13 mod 97); Corsica's 2A/2B count
    as 19/18 for it."""
    digits = re.sub(r"\s", "", number).upper()
    if len(digits) != 15:
        return False
    body = digits[:13].replace("2A", "19", 1) if digits[5:7] == "2A" else digits[:13]
    body = body.replace("2B", "18", 1) if digits[5:7] == "2B" else body
    if not body.isdigit() or not digits[13:].isdigit():
        return False
    return 97 - int(body) % 97 == int(digits[13:])


def bsn_eleven_proof_holds(number: str) -> bool:
    """9 digits d1..d9 with 9*d1 + 8*d2 + ... + 2*d8 - d9 divisible by 11 (and not 0)."""
    digits = [int(char) for char in number if char.isdigit()]
    if len(digits) != 9 or not any(digits):
        return False
    total = sum(weight * digit for weight, digit in zip(range(9, 1, -1), digits[:8], strict=True))
    total -= digits[8]
    return total % 11 == 0


class FrNirRecognizer(PatternRecognizer):
    """French social security number (NIR, 15 digits, spaced or not) with its mod-97 key."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=FR_NIR,
            patterns=[Pattern("nir", NIR_REGEX, 0.5)],
            context=["nir", "sécurité sociale", "securite sociale", "insee"],
            supported_language=supported_language,
            name="FrNirRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool:
        return nir_key_holds(pattern_text)


class NlBsnRecognizer(PatternRecognizer):
    """Dutch citizen service number (BSN, 9 digits) passing the 11-proof, where the
    message names it: one 9-digit number in 11 passes by chance, so the word is needed."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=NL_BSN,
            patterns=[Pattern("bsn", BSN_REGEX, 0.5)],
            context=["bsn", "burgerservicenummer", "sofinummer"],
            supported_language=supported_language,
            name="NlBsnRecognizer",
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        if BSN_CONTEXT.search(text) is None:
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)

    def validate_result(self, pattern_text: str) -> bool:
        return bsn_eleven_proof_holds(pattern_text)


# Two letters, six digits (in pairs or not) and a letter: "AB 12 34 56 C", "ZZ 303875 T".
NINO_SHAPE = r"(?<![\w+.\-/])[A-Za-z]{2} ?[0-9]{2} ?[0-9]{2} ?[0-9]{2} ?[A-Za-z](?!\w)"
NINO_CONTEXT = re.compile(r"\b(?:ni ?(?:no|num|number)|national insurance|nino)\b", re.IGNORECASE)


class GbNinoRecognizer(PatternRecognizer):
    """UK National Insurance number: a number of the allocated shape anywhere (Presidio's
    pattern: no BG, GB, NK, KN, NT, TN or ZZ prefix, a suffix A-D), and any number of the
    shape where the message names it ("my NI number is ZZ 303875 T": what a person calls
    their NI number is theirs, valid or mistyped). It has no checksum."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=UK_NINO,
            patterns=[*UkNinoRecognizer.PATTERNS, Pattern("nino_named", NINO_SHAPE, 0.5)],
            context=list(UkNinoRecognizer.CONTEXT),
            supported_language=supported_language,
            name="GbNinoRecognizer",
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        found = super().analyze(text, entities, nlp_artifacts, regex_flags)
        if NINO_CONTEXT.search(text) is not None:
            return found
        return [
            result
            for result in found
            if any(
                re.fullmatch(pattern.regex, text[result.start : result.end])
                for pattern in UkNinoRecognizer.PATTERNS
            )
        ]


def national_id_recognizers(language: str = "en") -> list[EntityRecognizer]:
    """Presidio's PESEL, codice fiscale, NIF and NIE recognizers for `language`, then ours."""
    return [
        PlPeselRecognizer(supported_language=language),
        ItFiscalCodeRecognizer(supported_language=language),
        EsNifRecognizer(supported_language=language),
        EsNieRecognizer(supported_language=language),
        FrNirRecognizer(language),
        NlBsnRecognizer(language),
        GbNinoRecognizer(language),
    ]
