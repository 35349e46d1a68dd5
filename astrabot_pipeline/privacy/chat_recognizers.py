"""Presidio's URL and NER recognizers, reading chat as chat.

Chat is full of what looks like identifiers to recognizers made for documents: "....lol"
and "too...always" end in a top-level domain, and spaCy's small model tags the word that
opens a sentence ("Max is what i paid", "Netflix tonight?") or a SHOUTED one ("the WIFI
is down") as a person or place. These subclasses keep Presidio's recognizers and add the
evidence chat needs, read from the text itself (the lemma-based context enhancer is off).
"""

from __future__ import annotations

from collections.abc import Callable, Container

import regex
from presidio_analyzer import Pattern, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer, UrlRecognizer

from astrabot_pipeline.privacy.name_context import (
    ADDRESS_TERMS,
    follows_name_label,
    has_name_cue,
    is_field_label,
    starts_sentence,
)

# The top-level domains Presidio's pattern knows: its pattern is "host[.](?:(?:com)|…)path",
# and the alternation between the first "[.](" and the closing ")" is that list.
_PRESIDIO_TLDS = "(" + UrlRecognizer.BASE_URL_REGEX.split("[.](", 1)[1].split(")(?:/", 1)[0] + ")"
_LABEL = r"[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?"
# A host of dot-separated labels, each a word (so never a run of dots), then a known TLD
# that no word continues; a path may follow. Never starts inside a word or address.
_HOST = rf"{_LABEL}(?:\.{_LABEL})*\.{_PRESIDIO_TLDS}(?![\w\-])"
_PATH = r"(?:[/?#][^\s()<>\"']*[^\s()<>\"'.,;:!?])?"
_NO_WORD_BEFORE = r"(?<![\w.@\-/])"
CHAT_URL_PATTERNS = [
    Pattern("scheme_url", rf"(?i){_NO_WORD_BEFORE}https?://{_HOST}(?::\d{{1,5}})?{_PATH}", 0.6),
    Pattern("www_url", rf"(?i){_NO_WORD_BEFORE}www\d{{0,3}}\.{_HOST}(?::\d{{1,5}})?{_PATH}", 0.5),
    Pattern("host_url", rf"(?i){_NO_WORD_BEFORE}{_HOST}(?::\d{{1,5}})?{_PATH}", 0.5),
]
_PATH_START = regex.compile(r"[/?#:]")
_TLD_OF_BARE_HOST = regex.compile(r"\.([a-z]+)\Z", regex.IGNORECASE)


class ChatUrlRecognizer(UrlRecognizer):
    """URLs with a scheme, "www.", or a host of word labels and a known top-level domain.

    A run of two or more dots is never part of a host ("buttons....lol", "me too...always"
    stay text), no match starts or ends inside a word, and a bare host with no path
    ("fun.lol", "ok.so") counts only when its top-level domain is no chat word.
    """

    def __init__(self, is_chat_word: Callable[[str], bool], supported_language: str = "en") -> None:
        self.is_chat_word = is_chat_word
        super().__init__(
            patterns=CHAT_URL_PATTERNS,
            supported_language=supported_language,
            name="ChatUrlRecognizer",
        )

    def invalidate_result(self, pattern_text: str) -> bool:
        lower = pattern_text.lower()
        if lower.startswith(("http://", "https://", "www")) or _PATH_START.search(lower):
            return False
        tld = _TLD_OF_BARE_HOST.search(lower)
        return tld is None or self.is_chat_word(tld.group(1))


_LEADING_WORD = regex.compile(r"[\p{L}][\p{L}'’\-]*")
# Names and places hold no numbered part and no code: "DS-1349", "UTF-8", "Ember.js",
# "Manager.getProperty(", "Listener#0" are tickets, encodings, files and code. A name with
# trailing digits ("sam2", a handle) is kept.
_NOT_IN_A_NAME = regex.compile(r"-\p{N}|[()\[\]{}<>#_=/\\|$%^*+~`]|\p{L}\.\p{Ll}")
# Day and month abbreviations and the month and day names nobody is called ("Fri",
# "Mar", "Sept", "Monday"); "May", "June", "April" and "August" are given names too.
_CALENDAR_WORDS = (
    "mon tue tues wed thu thur thurs fri sat sun monday tuesday wednesday thursday friday "
    "saturday sunday jan feb mar apr jun jul aug sep sept oct nov dec january february "
    "march july september october november december"
)
CALENDAR_WORDS = frozenset(_CALENDAR_WORDS.split())
_POSSESSIVE = regex.compile(r"['’]s?\Z")
# A product's name has two or more capitals before its first lower-case letter ("DSpace",
# "EPerson", "ORCiD", "JUnit", "OAuth"); a person's inner capital follows a lower-case
# letter ("McDonald", "DeShawn", "LaToya").
_PRODUCT_WORD = regex.compile(r"\p{Lu}{2,}\p{Ll}")
# Acronyms of software that no person or place is named: "REST API", "the Angular UI".
_TECHNICAL_ACRONYMS = (
    "API UI GUI SDK CLI URL URI XML JSON YAML HTML CSS HTTP HTTPS REST SQL IDE PDF CSV "
    "CPU GPU USB DNS SSH VPN"
)
TECHNICAL_ACRONYMS = frozenset(_TECHNICAL_ACRONYMS.split())
# A SHOUTED "person" this short that is no given name is an acronym ("JIRA", "ORCID");
# longer ones are often places of an address in capitals ("KAJAANI", "LYCKSELE").
MAX_ACRONYM_LETTERS = 5


def holds_product_word(text: str) -> bool:
    """Whether a word of `text` is shaped like a product's name ("DSpace 7 Sprint")."""
    return any(_PRODUCT_WORD.match(word) for word in _LEADING_WORD.findall(text))


class ChatNerRecognizer(SpacyRecognizer):
    """spaCy's people and places, less the ordinary words it tags where capitals say nothing.

    An entity that is a single Capitalized word opening a sentence, or a SHOUTED one, is
    dropped when that word is ordinary (`ordinary_for_people`, or `ordinary_for_places`
    for a place) and no chat cue names it ("Max said", "Jack's place"), and so is a short
    SHOUTED person that is no given name ("JIRA", "OAI"; "tell JOHN" stays); a form
    label before a colon ("IBAN:", "Tel:") is always dropped, and so is a lone form of address
    ("Dad", "Babe") or a day or month ("Fri", "Mar"), and any entity holding a numbered
    part or code ("DS-1349", "UTF-8", "Ember.js") or a product's name: a word with two
    capitals before its first lower-case letter ("DSpace Steering", "EPerson"), unless
    it is a given name typed with the shift key held ("JOhn"), or a technical acronym
    ("REST API"). A span of two or more Capitalized words ("Jack Miller") stays: the
    family name is the further evidence.
    """

    def __init__(
        self,
        ordinary_for_people: Container[str],
        ordinary_for_places: Container[str],
        supported_entities: list[str],
        given_names: Container[str] = frozenset(),
        supported_language: str = "en",
        name: str | None = None,
    ) -> None:
        self.ordinary_for_people = ordinary_for_people
        self.ordinary_for_places = ordinary_for_places
        self.given_names = given_names
        super().__init__(
            supported_language=supported_language,
            supported_entities=supported_entities,
            name=name,
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        found = super().analyze(text, entities, nlp_artifacts)
        return [result for result in found if not self._reads_as_word(text, result)]

    def _reads_as_word(self, text: str, result: RecognizerResult) -> bool:
        if _NOT_IN_A_NAME.search(text, result.start, result.end):
            return True
        words = [
            (match.start(), _POSSESSIVE.sub("", match.group()) or match.group())
            for match in _LEADING_WORD.finditer(text, result.start, result.end)
        ]
        if any(self._names_a_product(word) for _, word in words):
            return True
        capitalized = [(start, word) for start, word in words if word[0].isupper()]
        if any(is_field_label(text, start, start + len(word)) for start, word in capitalized):
            return len(capitalized) == 1
        if len(capitalized) != 1:
            return False
        start, word = capitalized[0]
        end = start + len(word)
        if word.lower() in ADDRESS_TERMS:  # "Dad says hi", "love you Babe"
            return True
        if word.lower() in CALENDAR_WORDS and not follows_name_label(text, start):
            return True  # "out Fri", "end of Feb / start of Mar"
        shouted = word.isupper() and len(word) > 1
        if not (starts_sentence(text, start) or shouted):
            return False
        if has_name_cue(text, start, end):
            return False
        if (
            shouted
            and len(word) <= MAX_ACRONYM_LETTERS
            and result.entity_type == "PERSON"
            and word.lower() not in self.given_names
        ):
            return True  # an acronym ("JIRA", "ORCID", "OAI"), not "tell JOHN"
        ordinary = (
            self.ordinary_for_places
            if result.entity_type == "LOCATION"
            else self.ordinary_for_people
        )
        return word.lower() in ordinary

    def _names_a_product(self, word: str) -> bool:
        if word in TECHNICAL_ACRONYMS:
            return True
        return bool(_PRODUCT_WORD.match(word)) and word.lower() not in self.given_names
