"""`PrivacyValidator`: the blocking gate. Counts what survived anonymization, never what.

It re-scans output texts with the same known-contact matching the recognizers use, plus
planted canaries and generic phone/e-mail patterns. The report holds numbers only, so it
can go into Dagster metadata and logs as is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass

import regex

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.privacy.known_contacts import KnownContacts, digits_of
from astrabot_pipeline.privacy.recognizers import CHAT_PHONE_PATTERNS, has_phone_length

# RFC 2606 / RFC 6761 names reserved for documentation: surrogate e-mails live here.
RESERVED_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
RESERVED_EMAIL_TLDS = (".example", ".test", ".invalid", ".localhost")

_EMAIL = re.compile(r"[\w.+\-']+@([\w\-]+(?:\.[\w\-]+)+)")
_CANARY_SPACE = re.compile(r"[\s,]+")
_PHONE_PATTERNS = [
    regex.compile(pattern.regex, regex.IGNORECASE | regex.MULTILINE | regex.DOTALL)
    for pattern in CHAT_PHONE_PATTERNS
]


class PrivacyGateError(AstrabotError, RuntimeError):
    """Training data would be built on anonymized text whose gate failed or never ran."""


def is_fictional_number(digits: str) -> bool:
    """North American 555-0100..0199: reserved for fiction (and for our surrogates)."""
    return len(digits) >= 7 and digits[-7:-4] == "555" and digits[-4:-2] == "01"


def is_reserved_email_domain(domain: str) -> bool:
    domain = domain.casefold().rstrip(".")
    return domain in RESERVED_EMAIL_DOMAINS or domain.endswith(RESERVED_EMAIL_TLDS)


def normalize_for_canary(text: str) -> str:
    """Case-folded, with runs of whitespace and commas made one space (line breaks too)."""
    return _CANARY_SPACE.sub(" ", text.casefold()).strip()


@dataclass(frozen=True)
class PrivacyReport:
    """How many identifiers of each kind a scan found. Counts only, never the text."""

    rows_scanned: int = 0
    rows_with_findings: int = 0
    rows_with_generic_residue: int = 0
    known_name: int = 0
    known_phone: int = 0
    known_email: int = 0
    canary: int = 0
    generic_phone: int = 0
    generic_email: int = 0

    @property
    def passed(self) -> bool:
        """True iff no known contact identifier and no canary survived."""
        return self.known_name == self.known_phone == self.known_email == self.canary == 0

    @property
    def generic_residue_rate(self) -> float:
        """Share of scanned rows still holding a (non-fictional) phone number or e-mail."""
        return self.rows_with_generic_residue / self.rows_scanned if self.rows_scanned else 0.0

    def to_metadata(self) -> dict[str, int | float | bool]:
        return {
            **asdict(self),
            "passed": self.passed,
            "generic_residue_rate": self.generic_residue_rate,
        }


class PrivacyValidator:
    """Scan texts for surviving known-contact identifiers, canaries and generic residue."""

    def __init__(self, known_contacts: KnownContacts, canaries: Iterable[str] = ()) -> None:
        self.known_contacts = known_contacts
        normalized = {normalize_for_canary(canary) for canary in canaries} - {""}
        # One pattern, longest first; a canary that starts or ends with a letter or digit
        # must stand alone there ("ed" is not found in "moved").
        self._canaries = (
            re.compile(
                "|".join(
                    ("(?<!\\w)" if canary[0].isalnum() else "")
                    + re.escape(canary)
                    + ("(?!\\w)" if canary[-1].isalnum() else "")
                    for canary in sorted(normalized, key=len, reverse=True)
                )
            )
            if normalized
            else None
        )

    def scan(self, texts: Iterable[str | None]) -> PrivacyReport:
        counts = dict.fromkeys(
            (
                "known_name",
                "known_phone",
                "known_email",
                "canary",
                "generic_phone",
                "generic_email",
            ),
            0,
        )
        rows = rows_with_findings = rows_with_residue = 0
        for text in texts:
            if not isinstance(text, str):
                continue
            rows += 1
            if not text.strip():
                continue
            found = self._scan_text(text)
            for kind, count in found.items():
                counts[kind] += count
            if any(found.values()):
                rows_with_findings += 1
            if found["generic_phone"] or found["generic_email"]:
                rows_with_residue += 1
        return PrivacyReport(
            rows_scanned=rows,
            rows_with_findings=rows_with_findings,
            rows_with_generic_residue=rows_with_residue,
            **counts,
        )

    def _scan_text(self, text: str) -> dict[str, int]:
        contacts = self.known_contacts
        folded = text.casefold()
        # E-mails: plain substring, stricter than the recognizer's token match.
        known_email = sum(folded.count(email) for email in contacts.emails)
        canaries = self._canaries
        canary = len(canaries.findall(normalize_for_canary(text))) if canaries else 0
        return {
            "known_name": len(contacts.find_names(text)),
            "known_phone": len(contacts.find_phones(text)),
            "known_email": known_email,
            "canary": canary,
            "generic_phone": self._generic_phones(text),
            "generic_email": sum(
                1
                for match in _EMAIL.finditer(text)
                if not is_reserved_email_domain(match.group(1))
                and contacts.email_key(match.group()) is None
            ),
        }

    def _generic_phones(self, text: str) -> int:
        """Phone-like numbers that are neither a known contact's nor fictional (555-01xx)."""
        spans = {
            match.span()
            for pattern in _PHONE_PATTERNS
            for match in pattern.finditer(text)
            if has_phone_length(match.group())
        }
        return sum(
            1
            for start, end in _drop_contained(spans)
            if not is_fictional_number(digits_of(text[start:end]))
            and self.known_contacts.phone_key_in(text[start:end]) is None
        )


def _drop_contained(spans: set[tuple[int, int]]) -> list[tuple[int, int]]:
    return [
        span
        for span in spans
        if not any(o != span and o[0] <= span[0] and span[1] <= o[1] for o in spans)
    ]
