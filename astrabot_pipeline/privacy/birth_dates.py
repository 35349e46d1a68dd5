"""Dates of birth, known by the words before them: "DOB 03/04/1990", "born on 3 March
1990", "date of birth: 1990-04-03". A date alone stays a date ("see you 03/04"); only the
date is replaced, the words that name it stay ("DOB <DATE_OF_BIRTH>")."""

from __future__ import annotations

import calendar
from dataclasses import dataclass

import regex

from astrabot_pipeline.privacy.recognizers import SpanRecognizer

DATE_OF_BIRTH = "DATE_OF_BIRTH"
_MONTHS = "|".join(
    sorted(
        {name.lower() for name in (*calendar.month_name[1:], *calendar.month_abbr[1:])} | {"sept"},
        key=len,
        reverse=True,
    )
)
_DAY = r"(?:0?[1-9]|[12][0-9]|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:19|20)[0-9]{2}"
DATE = (
    r"(?:[0-9]{1,2}[./\-][0-9]{1,2}[./\-](?:[0-9]{4}|[0-9]{2})"
    rf"|{_YEAR}[./\-][0-9]{{1,2}}[./\-][0-9]{{1,2}}"
    rf"|{_DAY}[ \t]+(?:of[ \t]+)?(?:{_MONTHS})\.?,?[ \t]+{_YEAR}"
    rf"|(?:{_MONTHS})\.?[ \t]+{_DAY},?[ \t]+{_YEAR})"
)
BIRTH_WORDS = (
    r"(?:d\.?o\.?b\.?|date[ \t]+of[ \t]+birth|birth[ \t]?date|birthday|born(?:[ \t]+on)?"
    r"|geburtsdatum|geboren(?:[ \t]+am)?|n[ée]e?[ \t]+le|date[ \t]+de[ \t]+naissance"
    r"|data[ \t]+di[ \t]+nascita|fecha[ \t]+de[ \t]+nacimiento|data[ \t]+urodzenia"
    r"|geboortedatum|geboren[ \t]+op)"
)
_BIRTH_DATE = regex.compile(
    rf"\b{BIRTH_WORDS}(?:[ \t]+(?:is|was|=))?[ \t]*[:\-–]?[ \t]*(?P<date>{DATE})(?![\w])",
    regex.IGNORECASE,
)


@dataclass(frozen=True)
class DateSpan:
    start: int
    end: int


class BirthDateRecognizer(SpanRecognizer):
    """A date right after words that say it is someone's date of birth."""

    ENTITY = DATE_OF_BIRTH
    SCORE = 0.9

    def find(self, text: str) -> list[DateSpan]:
        return [DateSpan(*match.span("date")) for match in _BIRTH_DATE.finditer(text)]
