"""Presidio's URL and NER recognizers, reading chat as chat.

Chat is full of what looks like identifiers to recognizers made for documents: "....lol"
and "too...always" end in a top-level domain, and spaCy's small model tags the word that
opens a sentence ("Max is what i paid", "Netflix tonight?") or a SHOUTED one ("the WIFI
is down") as a person or place. These subclasses keep Presidio's recognizers and add the
evidence chat needs, read from the text itself (the lemma-based context enhancer is off).
"""

from __future__ import annotations

from collections.abc import Callable, Container
from copy import copy

import regex
from presidio_analyzer import Pattern, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from presidio_analyzer.predefined_recognizers import SpacyRecognizer, UrlRecognizer

from astrabot_pipeline.privacy.chat_words import OrdinaryWords
from astrabot_pipeline.privacy.name_context import (
    ADDRESS_TERMS,
    follows_article,
    follows_name_label,
    has_name_cue,
    is_determined_word,
    is_field_label,
    is_mostly_lower_case,
    is_mostly_upper_case,
    starts_sentence,
)
from astrabot_pipeline.privacy.name_gazetteer import CALENDAR_WORDS, MIN_NAME_LETTERS

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
# The generic top-level domains of the early web: a bare host ending in one is an address.
# Newer ones are often English words ("properties", "date", "life"), and a file name or a
# dotted pair of words ends in them ("build.properties", "dc.date.issued").
CLASSIC_TLDS = frozenset(["com", "net", "org", "edu", "gov", "mil", "int", "info", "biz"])
_TLD_OF_BARE_HOST = regex.compile(r"\.([a-z]+)\Z", regex.IGNORECASE)


class ChatUrlRecognizer(UrlRecognizer):
    """URLs with a scheme, "www.", or a host of word labels and a known top-level domain.

    A run of two or more dots is never part of a host ("buttons....lol", "me too...always"
    stay text), no match starts or ends inside a word, and a bare host with no path
    ("fun.lol", "ok.so") counts only when its top-level domain is no chat word, nor an
    ordinary word of three letters or more other than the classic ones ("build.properties",
    "dc.date" are a file and a field; "example.com", "example.info" are hosts).
    """

    def __init__(
        self,
        is_chat_word: Callable[[str], bool],
        ordinary_words: Container[str] = frozenset(),
        supported_language: str = "en",
    ) -> None:
        self.is_chat_word = is_chat_word
        self.ordinary_words = ordinary_words
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
        if tld is None or self.is_chat_word(tld.group(1)):
            return True
        word = tld.group(1)
        return len(word) > 2 and word not in CLASSIC_TLDS and word in self.ordinary_words


_LEADING_WORD = regex.compile(r"[\p{L}][\p{L}'’\-]*")
# Names and places hold no numbered part and no code: "DS-1349", "UTF-8", "Ember.js",
# "Manager.getProperty(", "Listener#0" are tickets, encodings, files and code, and an
# ampersand between letters joins an acronym ("Q&A", "R&D"). A name with trailing digits
# ("sam2", a handle) is kept, and so is "Tom & Jerry".
_NOT_IN_A_NAME = regex.compile(r"-\p{N}|[()\[\]{}<>#_=/\\|$%^*+~`]|\p{L}\.\p{Ll}|\p{L}&\p{L}")
# Day and month abbreviations and the month and day names nobody is called ("Fri",
# "Mar", "Sept", "Monday"); "May", "June", "April" and "August" are given names too.
NAMELESS_CALENDAR_WORDS = CALENDAR_WORDS - {"may", "june", "april", "august"}
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
# The pronoun "I", alone or with its contraction: a capital that never opens a name.
_I_PRONOUN = regex.compile(r"I(?:['’](?:m|ll|ve|d))?")
# Texting's "you" and "your": no part of a name. NER reads a texted sentence around one
# as a name ("WHERE U AT", "HOWS U").
TEXTING_PRONOUNS = frozenset({"u", "ur"})
# A SHOUTED "person" this short that is no given name is an acronym ("JIRA", "ORCID");
# longer ones are often places of an address in capitals ("KAJAANI", "LYCKSELE").
MAX_ACRONYM_LETTERS = 5


# What puts a place after it: "in HELSINKI", "flew to HORTEN", "from Greenlander", a house
# number or postcode of an address ("226 FAUSKE").
_BEFORE_A_PLACE = regex.compile(
    r"(?:(?<![\p{L}\p{N}])(?:in|at|to|from|near|around|of|city)|\p{N})[ \t]+\Z",
    regex.IGNORECASE,
)
_PLACE_LOOK_BACK = 12
# What makes a short SHOUTED word the name of a number: "your NI number", "a UK no.".
_BEFORE_A_NUMBER_WORD = regex.compile(r"[ \t]+(?:numbers?|no\.|nr\.?|num)(?![\p{L}\p{N}])", regex.I)


def _follows_place_word(text: str, start: int) -> bool:
    return bool(_BEFORE_A_PLACE.search(text[max(0, start - _PLACE_LOOK_BACK) : start]))


def _split_at_texting_pronouns(text: str, result: RecognizerResult) -> list[RecognizerResult]:
    """`result`, or the parts of it between texting's "U" and "UR" ("CALL ME KATE U MISSED"
    -> "CALL ME KATE", "MISSED"; "HOWS U" -> "HOWS"), each then judged on its own."""
    pronouns = [
        match
        for match in _LEADING_WORD.finditer(text, result.start, result.end)
        if match.group().lower() in TEXTING_PRONOUNS
    ]
    if not pronouns:
        return [result]
    bounds = [result.start, *(b for m in pronouns for b in (m.start(), m.end())), result.end]
    parts = []
    for start, end in zip(bounds[::2], bounds[1::2], strict=True):
        words = list(_LEADING_WORD.finditer(text, start, end))
        if words:
            part = copy(result)
            part.start, part.end = words[0].start(), words[-1].end()
            parts.append(part)
    return parts


def holds_product_word(text: str) -> bool:
    """Whether a word of `text` is shaped like a product's name ("DSpace 7 Sprint")."""
    return any(_PRODUCT_WORD.match(word) for word in _LEADING_WORD.findall(text))


class ChatNerRecognizer(SpacyRecognizer):
    """spaCy's people and places, less the ordinary words it tags where capitals say nothing.

    A span holding texting's "U" or "UR" is judged in its parts between them ("HOWS U",
    "CALL ME KATE U MISSED IT": NER read a texted sentence as one name). Dropped:
    - in a SHOUTED message, where capitals say nothing, a span holding no given or family
      name without a chat cue, a name label or (for a place) a preposition of place
      before it ("HAVENTCN U IN AGES", "I NEED A BREAK"; "TELL RAKHESH HI" stays);
    - a single Capitalized word opening a sentence, or a SHOUTED one, that is ordinary
      (`ordinary_for_people`, or `ordinary_for_places` for a place) with no chat cue
      naming it ("Max said", "Jack's place");
    - a single Capitalized person mid-sentence that is a dictionary word and no given or
      family name, unless a preposition of place stands before it ("the Item object",
      "a little Java"; "saw Will", "ask Baker", "moved from Greenlander" stay);
    - a SHOUTED person or place that is no given or family name: a short person ("JIRA",
      "OAI"), or any, written in Latin letters, in a message written in lower case and not
      after a preposition of place ("between JSPUI and XMLUI"; "grew up in KAJAANI" stays);
      and a short SHOUTED word that says what kind a number is ("your NI number");
    - a person of several words, all dictionary words or acronyms and none a given or
      family name ("Recent Submissions", "Git Workflow"; "Jack Miller" stays);
    - a form label before a colon ("IBAN:", "Tel:"), a lone form of address ("Dad",
      "Babe"), days and months ("Fri", "Mon, Nov"), and any entity holding a numbered part
      or code ("DS-1349", "UTF-8", "Ember.js", "Q&A") or a product's name: a word with two
      capitals before its first lower-case letter ("DSpace Steering", "EPerson"), unless
      it is a given name typed with the shift key held ("JOhn"), or a technical acronym
      ("REST API").
    """

    def __init__(
        self,
        ordinary_for_people: Container[str],
        ordinary_for_places: Container[str],
        supported_entities: list[str],
        given_names: Container[str] = frozenset(),
        family_names: Container[str] = frozenset(),
        ordinary_words: OrdinaryWords | None = None,
        supported_language: str = "en",
        name: str | None = None,
    ) -> None:
        self.ordinary_for_people = ordinary_for_people
        self.ordinary_for_places = ordinary_for_places
        self.given_names = given_names
        self.family_names = family_names
        self.ordinary_words = ordinary_words or OrdinaryWords(frozenset(), ())
        super().__init__(
            supported_language=supported_language,
            supported_entities=supported_entities,
            name=name,
        )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        found = super().analyze(text, entities, nlp_artifacts)
        parts = (part for result in found for part in _split_at_texting_pronouns(text, result))
        return [part for part in parts if not self._reads_as_word(text, part)]

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
        if not capitalized:
            # Lower-case chat noise ("lol", "omg jk"): the anonymizer's tidying drops it
            # too, but dropped here it never takes part in Presidio's dedupe.
            return True
        if all(
            _I_PRONOUN.fullmatch(word) or self.drops_every_span_at(text, start, word)
            for start, word in capitalized
        ):
            return True  # "Ok. I will come", "Yes I can": each capital alone says nothing
        if any(is_field_label(text, start, start + len(word)) for start, word in capitalized):
            return len(capitalized) == 1
        if is_mostly_upper_case(text) and not self._named_in_capitals(text, result, words):
            return True  # "HAVENTCN U IN AGES", "I NEED A BREAK": NER guesses in capitals
        if (
            capitalized
            and all(word.lower() in NAMELESS_CALENDAR_WORDS for _, word in capitalized)
            and not follows_name_label(text, capitalized[0][0])
        ):
            return True  # "out Fri", "end of Feb / start of Mar", "on Mon, Nov 19"
        if len(capitalized) != 1:
            return self._names_no_one(text, result, words)
        start, word = capitalized[0]
        return self._drops_lone_capital(text, start, word, result.entity_type)

    def drops_everything_in(self, text: str, split_words: Container[str]) -> bool:
        """Whether every person or place NER could tag in `text` is dropped, so NER need
        not read it ("Save me some.", "Ok. I will come. See u"; phone keyboards write a
        capital at the start of each sentence and in "I" and nowhere else, so this is
        much of real chat).

        True when every word holding an upper-case letter is the pronoun "I" (alone or
        with its "'m", "'ll", "'ve", "'d") or a word of letters only that spaCy's tokenizer
        keeps whole (none of its special cases, `split_words`: "Cannot", "Dont") and that
        is dropped wherever it is a span's one Capitalized word (`drops_every_span_at`).
        Any span NER tags then holds only such words whole, and `_reads_as_word` drops a
        span whose every Capitalized word is one, or no Capitalized word at all
        (lower-case noise).
        """
        found = False
        for match in _LEADING_WORD.finditer(text):
            word = match.group()
            if word.islower():
                continue
            found = True
            if _I_PRONOUN.fullmatch(word):
                continue
            if not (
                word.isalpha()
                and word not in split_words
                and self.drops_every_span_at(text, match.start(), word)
            ):
                return False
        return found

    def drops_every_span_at(self, text: str, start: int, word: str) -> bool:
        """Whether every person or place span whose only Capitalized word is `word` at
        `start` is dropped, whatever lower-case words the span holds around it."""
        return all(
            self._drops_lone_capital(text, start, word, entity_type)
            for entity_type in ("PERSON", "LOCATION")
        )

    def _drops_lone_capital(self, text: str, start: int, word: str, entity_type: str) -> bool:
        end = start + len(word)
        if word.lower() in ADDRESS_TERMS:  # "Dad says hi", "love you Babe"
            return True
        if is_determined_word(
            text, start, word, self.ordinary_words.in_dictionary, self.family_names
        ):
            return True  # "my Lion", "your Valentine", "a Man was found"
        if has_name_cue(text, start, end) or follows_name_label(text, start):
            return False
        if entity_type == "PERSON" and follows_article(text, start) and not self._is_a_name(word):
            return True  # "the Wiki", "a Jira ticket"; not "the Jensen novel" or "the Hague"
        shouted = word.isupper() and len(word) > 1
        if shouted and self._is_acronym(text, start, word, entity_type):
            return True  # "JIRA", "XMLUI", "in SVN"; not "tell JOHN" or "ask SMITH"
        if shouted and len(word) <= MAX_ACRONYM_LETTERS and _BEFORE_A_NUMBER_WORD.match(text, end):
            return True  # the kind of a number: "your NI number", "a UK number"
        if not (starts_sentence(text, start) or shouted):
            # Mid-sentence a capital is evidence, but not for a word that no one is called
            # ("in the Wiki", "Java 8", "the Item object"); "saw Will", "ask Baker" stay.
            return (
                entity_type == "PERSON"
                and self._is_plain_word(word)
                and not _follows_place_word(text, start)
            )
        ordinary = (
            self.ordinary_for_places if entity_type == "LOCATION" else self.ordinary_for_people
        )
        return word.lower() in ordinary

    def _named_in_capitals(
        self, text: str, result: RecognizerResult, words: list[tuple[int, str]]
    ) -> bool:
        """In a SHOUTED message, whether the span is still a name or a place: a word of it
        is a given or family name of `MIN_NAME_LETTERS` or more ("CALL ME KATE"; not "DA",
        "SO", "YA"), a chat cue or a name label names it
        ("TELL RAKHESH HI"), or a preposition of place stands before a place ("IM IN
        LONDON")."""
        first, last = words[0][0], words[-1][0] + len(words[-1][1])
        return (
            any(len(word) >= MIN_NAME_LETTERS and self._is_a_name(word) for _, word in words)
            or has_name_cue(text, first, last)
            or follows_name_label(text, first)
            or (result.entity_type == "LOCATION" and _follows_place_word(text, first))
        )

    def _is_a_name(self, word: str) -> bool:
        lower = word.lower()
        return lower in self.given_names or lower in self.family_names

    def _is_plain_word(self, word: str) -> bool:
        """A dictionary word that is no given or family name. Words frequent in real text
        but in no dictionary are often the names of the famous ("Rowling", "Obama")."""
        return (
            len(word) > 1
            and self.ordinary_words.in_dictionary(word.lower())
            and not self._is_a_name(word)
        )

    def _is_acronym(self, text: str, start: int, word: str, entity_type: str) -> bool:
        """A SHOUTED person or place that is no given or family name: an acronym when it
        is a short "person" ("JIRA", "OAI"), or when the message around it is written in
        lower case and no preposition of place stands before it ("the XMLUI theme",
        "XOAI seems"). Towns are written in capitals too ("grew up in KAJAANI", "flew to
        HORTEN", "ΛΕΥΚΩΣΙΑ"), and acronyms are written in Latin letters without accents."""
        if entity_type not in ("PERSON", "LOCATION") or self._is_a_name(word):
            return False
        if entity_type == "PERSON" and len(word) <= MAX_ACRONYM_LETTERS:
            return True
        return (
            word.isascii() and is_mostly_lower_case(text) and not _follows_place_word(text, start)
        )

    def _names_no_one(
        self, text: str, result: RecognizerResult, words: list[tuple[int, str]]
    ) -> bool:
        """A person of several words that are all ordinary words or acronyms and none a
        given or family name: a heading or a product ("Recent Submissions", "Git
        Workflow", "Run XOAI"), not "Jack Miller" or "Long Term Support" (Long is a family
        name). Places keep theirs: "Salt Lake City" is ordinary words."""
        if result.entity_type != "PERSON" or len(words) < 2:
            return False
        if has_name_cue(text, words[0][0], words[-1][0] + len(words[-1][1])):
            return False
        return all(
            (word.isupper() and word.isascii() and len(word) > 1 and not self._is_a_name(word))
            or self._is_plain_word(word)
            for _, word in words
        )

    def _names_a_product(self, word: str) -> bool:
        if word in TECHNICAL_ACRONYMS:
            return True
        return bool(_PRODUCT_WORD.match(word)) and word.lower() not in self.given_names
