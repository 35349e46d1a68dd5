"""The normalized forms of an identifier, shared by the digests the privacy stage records
(identifier_digests.py) and the evaluation's leakage scan, so the two cannot drift apart.

The forms of one identifier (`identifier_forms`):
- names: the folded (case- and accent-insensitive) word sequence of the whole name, when
  it has at most MAX_NGRAM_WORDS words, plus each word of MIN_NAME_TOKEN_CHARS or more
  letters that is not a common word (a stop word, a name that is also a word, and for
  names found by NER or the gazetteer, any English word): "partial" forms; a name that is
  one such common word, or a chat word (`language.CHAT_WORDS`: "bro", "ttyl"), has no form;
- phone numbers: digits only, without leading zeros, and their last 10 and 9 digits;
- e-mails: the casefolded address;
- anything else replaced (addresses, places, URLs, card numbers…, "other"): its digits
  when it holds MIN_OTHER_DIGITS or more, its casefolded text when it is one token and no
  common word (NER tags "yeah" or "fair" as a place now and then), and
  the word sequence of each line or comma-separated part of at most MAX_NGRAM_WORDS words;
- URLs, besides those forms, the parts of their path that identify someone (`url_forms`):
  a handle ("/~jdoe/", "/@jane"), a person's name (a segment of 2 or 3 words opening
  with a given name of the world list, no stop word after it and one of its words no
  English word: "/people/jane-doe", not "/fedora-commons") and
  ID-like words (MIN_ID_CHARS or more, letters and digits alternating at least
  MIN_ID_ALTERNATIONS times: "FO7s9ZlIZNI"); never the other words of a path, which
  name topics ("/display/DSPACE/DevMtg", "roadmap"), so a model writing about the
  same topics leaks nothing.
"""

from __future__ import annotations

import re
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.privacy.known_contacts import (
    COMMON_WORD_NAMES,
    MAX_PHONE_GROUPS,
    digits_of,
    fold,
    name_words,
    phone_candidates,
)
from astrabot_pipeline.privacy.language import CHAT_WORDS

MAX_NGRAM_WORDS = 4  # the scan hashes word n-grams of 1..MAX_NGRAM_WORDS words
MIN_NAME_TOKEN_CHARS = 3
MIN_PHONE_DIGITS = 7
MIN_OTHER_DIGITS = 6
PHONE_TAILS = (10, 9)  # "the last 10 / 9 digits": a number written without its country code
MIN_ID_CHARS = 8
MIN_ID_ALTERNATIONS = 3  # "pBy714dGqU0" alternates 3 times; "DSpace7RestTutorial" twice
MAX_URL_NAME_WORDS = 3

# The three ways a form is hashed: a folded word sequence, a digit string, one token.
WORDS, DIGITS, TOKEN = "w", "d", "t"
_PARTS = re.compile(r"[\n,;]+")
_EDGE_PUNCTUATION = "\"'`.,;:!?()[]{}<>*_~"
_SCHEME = re.compile(r"^[a-z][a-z0-9+.\-]*://", re.IGNORECASE)
_PATH_SEGMENT = re.compile(r"[^/?#&=]+")
_LETTER_DIGIT_SWITCH = re.compile(r"[^\W\d_](?=\d)|\d(?=[^\W\d_])")
HANDLE_MARKS = "~@"
# What a text's candidate forms are read from (`candidate_forms`, the scan's and the
# plain-text count's): words, whitespace tokens, e-mail addresses, digit groups.
_WORD = re.compile(r"[^\W_]+")
_TOKEN = re.compile(r"\S+")
_EMAIL = re.compile(r"[\w.+\-']+@[\w\-]+(?:\.[\w\-]+)+")
# How far apart digit groups may be and still be read as one number: "2233 x" stops it.
MAX_DIGIT_GROUPS = MAX_PHONE_GROUPS + 2

Span = tuple[int, int]


def is_common_word(word: str, english_words: Container[str] = ()) -> bool:
    return (
        word in STOP_WORDS
        or word in COMMON_WORD_NAMES
        or word in CHAT_WORDS
        or word in english_words
    )


def digit_forms(digits: str) -> set[tuple[str, str]]:
    """A digit run's forms: all its digits (leading zeros off) and its last 10 and 9."""
    stripped = digits.lstrip("0") or "0"
    forms = {(DIGITS, stripped)}
    forms |= {(DIGITS, stripped[-tail:]) for tail in PHONE_TAILS if len(stripped) > tail}
    return forms


def phone_forms(digits: str) -> set[tuple[str, str]]:
    """A number's digit forms (`digit_forms`), when it has MIN_PHONE_DIGITS or more."""
    return digit_forms(digits) if len(digits.lstrip("0")) >= MIN_PHONE_DIGITS else set()


def word_form(words: Sequence[str]) -> tuple[str, str]:
    return (WORDS, " ".join(words))


def token_form(token: str) -> tuple[str, str]:
    return (TOKEN, fold(token.strip().strip(_EDGE_PUNCTUATION)))


def is_id_like(word: str) -> bool:
    """A long word of letters and digits mixed like a generated id ("fo7s9zlizni")."""
    return len(word) >= MIN_ID_CHARS and len(_LETTER_DIGIT_SWITCH.findall(word)) >= (
        MIN_ID_ALTERNATIONS
    )


def url_forms(
    url: str, given_names: Container[str] = (), english_words: Container[str] = ()
) -> set[tuple[str, str]]:
    """The word forms of a URL's path that identify someone or something private: a
    handle, a person's name (`_names_a_person`), ID-like words. The host and the path's
    topic words ("display", "DSPACE", "roadmap", "fedora-commons") give none."""
    forms: set[tuple[str, str]] = set()
    path = _SCHEME.sub("", url.strip())
    host_end = min((i for i in (path.find(c) for c in "/?#") if i >= 0), default=len(path))
    for segment in _PATH_SEGMENT.findall(path[host_end:]):
        words = name_words(segment)
        if words and (
            segment[0] in HANDLE_MARKS
            or _names_a_person(segment, words, given_names, english_words)
        ):
            forms.add(word_form(words))
        forms.update(word_form((word,)) for word in words if is_id_like(word))
    return forms


def _names_a_person(
    segment: str,
    words: Sequence[str],
    given_names: Container[str],
    english_words: Container[str],
) -> bool:
    """A path segment of 2 or 3 words that opens with a given name, has no stop word after
    it and one word that is no English word: "jane-doe", not "fedora-commons"."""
    return (
        "." not in segment  # a file name ("mark-shining.png") or a host
        and 2 <= len(words) <= MAX_URL_NAME_WORDS
        and all(word.isalpha() for word in words)
        and words[0] in given_names
        and not any(word in STOP_WORDS for word in words[1:])
        and not all(word in english_words for word in words)
    )


@dataclass(frozen=True)
class IdentifierForms:
    """The forms that are the identifier itself, and partial ones (a name's single words)."""

    kind: str
    whole: frozenset[tuple[str, str]]
    partial: frozenset[tuple[str, str]] = frozenset()


def identifier_forms(
    kind: str,
    text: str,
    *,
    guessed: bool = False,
    english_words: Container[str] = (),
    url: bool = False,
    given_names: Container[str] = (),
) -> IdentifierForms:
    """The normalized forms of one identifier `text` of `kind` (see the module docstring).

    `guessed`: a name found by NER or the gazetteer, whose single words count only when
    they are no English word (`english_words`), as such finders also tag ordinary words.
    `url`: `text` is a URL, whose path adds `url_forms` (names read with `given_names`).
    """
    whole: set[tuple[str, str]] = set()
    partial: set[tuple[str, str]] = set()
    if kind == "name":
        words = name_words(text)
        if 1 <= len(words) <= MAX_NGRAM_WORDS:
            whole.add(word_form(words))
        lexicon = english_words if guessed else ()
        partial = {
            word_form((word,))
            for word in words
            if len(word) >= MIN_NAME_TOKEN_CHARS
            and not word.isdigit()
            and not is_common_word(word, lexicon)
        }
        if len(words) == 1 and is_common_word(words[0], lexicon):
            whole.clear()  # a lone common word ("Will", "Rose") would flag every use of it
        partial -= whole
    elif kind == "phone":
        whole |= phone_forms(digits_of(text))
    elif kind == "email":
        whole.add(token_form(text))
    else:
        digits = digits_of(text)
        if len(digits) >= MIN_OTHER_DIGITS:
            whole.add((DIGITS, digits.lstrip("0") or "0"))
        token = token_form(text)
        if (
            len(text.split()) == 1
            and len(token[1]) >= MIN_NAME_TOKEN_CHARS
            and not is_common_word(token[1], english_words)
        ):
            whole.add(token)  # a lone common word ("yeah", "fair") would flag every use
        for part in _PARTS.split(text):
            words = name_words(part)
            if not 1 <= len(words) <= MAX_NGRAM_WORDS:
                continue
            if len(words) == 1 and (
                len(words[0]) < MIN_NAME_TOKEN_CHARS or is_common_word(words[0], english_words)
            ):
                continue
            whole.add(word_form(words))
        if url:
            whole |= url_forms(text, given_names, english_words)
    return IdentifierForms(kind, frozenset(whole), frozenset(partial))


def digit_candidates(text: str) -> Iterable[tuple[Span, str]]:
    """(span, digits) of every run of consecutive digit groups in each digit run."""
    for groups in phone_candidates(text):
        for i in range(len(groups)):
            digits = ""
            for j in range(i, min(len(groups), i + MAX_DIGIT_GROUPS)):
                digits += groups[j][2]
                if len(digits.lstrip("0")) >= MIN_OTHER_DIGITS:
                    yield (groups[i][0], groups[j][1]), digits


def candidate_forms(text: str) -> Iterable[tuple[Span, tuple[str, str]]]:
    """Every (span, normalized form) the scan hashes in `text`."""
    yield from word_and_token_forms(text)
    for span, digits in digit_candidates(text):
        for form in digit_forms(digits):
            yield span, form


def word_and_token_forms(text: str) -> Iterable[tuple[Span, tuple[str, str]]]:
    """The candidate forms of `text` other than its digit forms: word n-grams and tokens."""
    words = [(m.start(), m.end(), fold(m.group())) for m in _WORD.finditer(text)]
    for i in range(len(words)):
        for n in range(1, min(MAX_NGRAM_WORDS, len(words) - i) + 1):
            chunk = words[i : i + n]
            yield (chunk[0][0], chunk[-1][1]), word_form([word for _, _, word in chunk])
    for match in (*_TOKEN.finditer(text), *_EMAIL.finditer(text)):
        form = token_form(match.group())
        if len(form[1]) >= 3:
            yield match.span(), form
