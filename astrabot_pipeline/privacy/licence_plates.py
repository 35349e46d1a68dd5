"""Vehicle registration plates, where the message is about a vehicle or a plate.

Plate formats are short runs of capitals and digits that chat is full of otherwise
("B2B", "MP3 ABC", "WA 2024"), so a plate counts only in a message that holds a plate or
vehicle word (`PLATE_CONTEXT`, read here from the text: Presidio's context boost is off).
Formats, upper-case as printed: Germany "B-AB 1234" / "M XY 123E", the Netherlands'
sidecodes "12-ABC-3", "AB-123-C"…, France "AB-123-CD", the UK "AB12 CDE", Poland
"WA 12345" / "KR 1234A", Italy "AB 123 CD", Spain "1234 BCD", and US plates ("ABC-1234",
"ABC 123", "7ABC123"); each with both letters and digits.
"""

from __future__ import annotations

import regex
from presidio_analyzer import Pattern, PatternRecognizer

LICENCE_PLATE = "LICENCE_PLATE"
PLATE_CONTEXT = regex.compile(
    r"\b(?:(?:number|licen[cs]e|reg(?:istration)?)[ \t]*plates?|plates?|licen[cs]e|reg"
    r"|registration|kenteken|kennzeichen|nummernschild|immatriculation|plaque|rejestracyjn\w*"
    r"|tablic\w*|targa|matr[ií]cula|car|cars|truck|van|vehicle|motorbike|motorcycle|scooter"
    r"|parked|towed|tags?)\b",
    regex.IGNORECASE,
)
_L = r"[A-ZÄÖÜ]"
_BEFORE, _AFTER = r"(?<![\w\-:.])", r"(?![\w]|[\-:.]\w)"
PLATE_PATTERNS = [
    Pattern(
        "de",
        rf"{_BEFORE}{_L}{{1,3}}(?:-[A-Z]{{1,2}}[ ]?| [A-Z]{{2}} )[1-9][0-9]{{0,3}}[EH]?{_AFTER}",
        0.6,
    ),
    Pattern(
        "nl_fr",  # three groups, letters or digits, six signs in all (FR: AB-123-CD)
        rf"{_BEFORE}(?:[A-Z]{{1,3}}|[0-9]{{1,3}})-(?:[A-Z]{{1,3}}|[0-9]{{1,3}})"
        rf"-(?:[A-Z]{{1,3}}|[0-9]{{1,3}}){_AFTER}",
        0.6,
    ),
    Pattern("uk", rf"{_BEFORE}[A-Z]{{2}}[0-9]{{2}}[ ]?[A-Z]{{3}}{_AFTER}", 0.6),
    Pattern("pl", rf"{_BEFORE}[A-Z]{{2,3}}[ ][0-9][0-9A-Z]{{3,4}}{_AFTER}", 0.6),
    Pattern("it", rf"{_BEFORE}[A-Z]{{2}}[ ]?[0-9]{{3}}[ ]?[A-Z]{{2}}{_AFTER}", 0.6),
    Pattern("es", rf"{_BEFORE}[0-9]{{4}}[ -]?[B-DF-HJ-NP-TV-Z]{{3}}{_AFTER}", 0.6),
    Pattern("us", rf"{_BEFORE}(?:[A-Z]{{3}}[- ]?[0-9]{{3,4}}|[A-Z0-9]{{6,7}}){_AFTER}", 0.55),
]


class LicencePlateRecognizer(PatternRecognizer):
    """EU and US plate formats, in a message about a vehicle or plate."""

    def __init__(self, supported_language: str = "en") -> None:
        super().__init__(
            supported_entity=LICENCE_PLATE,
            patterns=PLATE_PATTERNS,
            supported_language=supported_language,
            name="LicencePlateRecognizer",
            global_regex_flags=regex.DOTALL | regex.MULTILINE,  # plates are upper-case
        )

    def analyze(self, text, entities, nlp_artifacts=None, regex_flags=None):
        if PLATE_CONTEXT.search(text) is None:
            return []
        return super().analyze(text, entities, nlp_artifacts, regex_flags)

    def validate_result(self, pattern_text: str) -> bool | None:
        """A plate has a digit and a letter, and is not a year, time or size ("2024")."""
        signs = [char for char in pattern_text if char.isalnum()]
        has_both = any(c.isdigit() for c in signs) and any(c.isalpha() for c in signs)
        return None if has_both and 5 <= len(signs) <= 8 else False
