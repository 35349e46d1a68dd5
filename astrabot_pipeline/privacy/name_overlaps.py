"""A stranger who shares a known contact's name: the whole name is replaced, not a part.

In "did u see what Sam Fairweather posted", with a contact named Sam, the deny-list finds
"Sam" and NER (or the given-name list) finds "Sam Fairweather". A deny-list finding
outranks a generic one, so the longer span used to be dropped and the stranger's family
name kept. Here a PERSON span that holds known-contact names and more name words is
kept instead of them (`widen_known_names`), and its surrogate keeps each contact part's
stable pseudonym while the rest gets one of its own (`surrogate_around`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from presidio_analyzer import RecognizerResult
from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.privacy.known_contacts import ContactMatch
from astrabot_pipeline.privacy.pseudonyms import Pseudonymizer
from astrabot_pipeline.privacy.recognizers import KNOWN_CONTACT_NAME

PERSON = "PERSON"
# recognition_metadata key of a PERSON finding that took in known-contact names.
WIDENS_KNOWN_NAME = "widens_known_name"
_WORD = re.compile(r"[^\W\d_]+")
_EDGES = re.compile(r"(\W*)(.*?)(\W*)", re.DOTALL)


def widens_known_name(result: RecognizerResult) -> bool:
    return bool((result.recognition_metadata or {}).get(WIDENS_KNOWN_NAME))


def widen_known_names(text: str, found: Sequence[RecognizerResult]) -> list[RecognizerResult]:
    """`found` with each known-contact name that a longer PERSON span holds taken out, and
    that span marked (WIDENS_KNOWN_NAME) to outrank what overlaps it.

    The span counts only when each of its words outside the contact names reads as a name
    word: no stop word ("Sam and Priya" stays two contacts), Capitalized unless the whole
    span is lower-case; single letters (initials, a possessive's "s") pass.
    """
    known = [result for result in found if result.entity_type == KNOWN_CONTACT_NAME]
    if not known:
        return list(found)
    absorbed: set[int] = set()
    for result in found:
        if result.entity_type != PERSON:
            continue
        inside = [k for k in known if result.start <= k.start and k.end <= result.end]
        if not inside or any((k.start, k.end) == (result.start, result.end) for k in inside):
            continue
        if not _rest_reads_as_name(text, result, inside):
            continue
        result.recognition_metadata = {
            **(result.recognition_metadata or {}),
            WIDENS_KNOWN_NAME: True,
        }
        absorbed.update(id(k) for k in inside)
    return [result for result in found if id(result) not in absorbed]


def _rest_reads_as_name(
    text: str, span: RecognizerResult, inside: Sequence[RecognizerResult]
) -> bool:
    whole = text[span.start : span.end]
    lower_case = whole.islower()
    rest = [
        match.group()
        for match in _WORD.finditer(text, span.start, span.end)
        if not any(k.start <= match.start() < k.end for k in inside)
    ]
    return bool(rest) and all(
        len(word) < 2 or (word.casefold() not in STOP_WORDS and (lower_case or word[0].isupper()))
        for word in rest
    )


def surrogate_around(text: str, known: Sequence[ContactMatch], pseudonymizer: Pseudonymizer) -> str:
    """A surrogate for the name `text` whose `known` parts (sorted, non-overlapping) are
    known contacts': each of those becomes that contact's pseudonym (by its role), the
    words between them stand-ins of their own; words after a contact's part are taken
    as family names ("Sam Fairweather" -> "<Sam's surrogate> <a surrogate family name>")."""
    out: list[str] = []
    position = 0
    for match in known:
        out.append(_stranger(text[position : match.start], pseudonymizer, after_known=bool(out)))
        out.append(pseudonymizer.name(text[match.start : match.end], match.key, match.role))
        position = match.end
    out.append(_stranger(text[position:], pseudonymizer, after_known=True))
    return "".join(out)


def _stranger(segment: str, pseudonymizer: Pseudonymizer, *, after_known: bool) -> str:
    edges = _EDGES.fullmatch(segment)
    assert edges is not None  # the pattern matches any string
    lead, core, trail = edges.groups()
    if not core:
        return segment
    return lead + pseudonymizer.name(core, role="family" if after_known else "full") + trail
