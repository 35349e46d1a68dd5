"""Keyed digests of every real identifier the privacy stage replaced, for the leakage scan.

The evaluation must tell whether a model writes a real name, number or e-mail of the
owner's contacts, without reading `decoded_backup` (it may have been deleted) and without
ever writing an identifier out. So the privacy stage, which holds every identifier while
it anonymizes, stores HMAC-SHA256 digests (its own 32-byte key, created once, 0600) of
each identifier's normalized forms; the scan hashes candidate spans of a generation the
same way and compares. Without the key a digest cannot be tested against a guess.

Forms (`identifier_forms`, shared with the scan so the two cannot drift apart):
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

A word or token form that the anonymized history still holds as plain text in at least
MIN_PLAIN_MESSAGES messages, and in as many as it was replaced in, is not stored: the
anonymizer read those words as no identifier there ("dev mtg" in hundreds of messages,
"Dev" replaced as a guessed name in a few), so a model writing them repeats its training
text. The address book's forms are always stored, and digit forms are never dropped.

The file also lists, per conversation window (by `window_id`), which identifiers its
messages held before anonymization: the split into train/validation/test happens later
(`mixed_dataset`), so the evaluation intersects this with the training windows. The
surrogates the stage emitted are digested apart ("pseudonyms"): a model repeating them is
reported, not counted as a leak; a form that is both real and a surrogate is dropped from
the real ones and counted as ambiguous.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.privacy.known_contacts import (
    COMMON_WORD_NAMES,
    MAX_PHONE_GROUPS,
    KnownContacts,
    digits_of,
    fold,
    name_words,
    phone_candidates,
)
from astrabot_pipeline.privacy.language import CHAT_WORDS
from astrabot_pipeline.privacy.pseudonyms import (
    PLACEHOLDER,
    SecretFileError,
    load_or_create_secret,
)
from astrabot_pipeline.storage import write_json

if TYPE_CHECKING:
    from astrabot_pipeline.privacy.anonymizer import (
        AnonymizationResult,
        ConversationAnonymizer,
        Replacement,
    )

DIGEST_KEY_FILE = "identifier_digest.key"  # under $ASTRABOT_DATA_DIR/secrets/
DIGEST_FILE = "identifier_digests.json"  # under $ASTRABOT_DATA_DIR/secrets/
FORMAT_VERSION = 1
KINDS = ("name", "phone", "email", "other")
MAX_NGRAM_WORDS = 4  # the scan hashes word n-grams of 1..MAX_NGRAM_WORDS words
MIN_NAME_TOKEN_CHARS = 3
MIN_PHONE_DIGITS = 7
MIN_OTHER_DIGITS = 6
PHONE_TAILS = (10, 9)  # "the last 10 / 9 digits": a number written without its country code
URL_ENTITY = "URL"
MIN_ID_CHARS = 8
MIN_ID_ALTERNATIONS = 3  # "pBy714dGqU0" alternates 3 times; "DSpace7RestTutorial" twice
MAX_URL_NAME_WORDS = 3
# A replaced word form the anonymized history keeps as plain text in this many messages (and
# in as many as it was replaced in) is read as a word there, not digested as an identifier.
MIN_PLAIN_MESSAGES = 3

# Presidio entity types (privacy/recognizers.py, Presidio's own) -> identifier kind.
ENTITY_KINDS = {
    "KNOWN_CONTACT_NAME": "name",
    "PERSON": "name",
    "FAMILY_NAME": "name",  # after a title: privacy/titled_names.py
    "KNOWN_CONTACT_PHONE": "phone",
    "PHONE_NUMBER": "phone",
    "KNOWN_CONTACT_EMAIL": "email",
    "EMAIL_ADDRESS": "email",
}
# Found by NER or the given-name gazetteer rather than the address book: one of their
# words counts as a partial form only when it is no English word at all.
GUESSED_NAME_ENTITIES = frozenset({"PERSON", "FAMILY_NAME"})

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


class IdentifierDigestError(AstrabotError, ValueError):
    """The identifier digests (or their key) cannot be read: the privacy stage must run again."""


def load_or_create_digest_key(path: str | Path) -> bytes:
    """The installation's identifier-digest key: 32 random bytes, created once (0600)."""
    try:
        return load_or_create_secret(Path(path))
    except SecretFileError as error:
        raise IdentifierDigestError(
            f"identifier digest key {path} is unusable: delete it and re-materialize "
            "anonymized_windows, which makes a new key and new digests"
        ) from error


class IdentifierHasher:
    """HMAC-SHA256 of a normalized form under the installation's key (hex digest)."""

    def __init__(self, key: bytes) -> None:
        if len(key) < 16:
            raise ValueError("the identifier digest key must be at least 16 bytes")
        self._key = key

    def digest(self, form: tuple[str, str]) -> str:
        how, value = form
        return hmac.new(self._key, f"{how}\x00{value}".encode(), hashlib.sha256).hexdigest()

    @property
    def fingerprint(self) -> str:
        """Tells which key made a digest file (a digest of a fixed string, not the key)."""
        return self.digest(("fingerprint", "astrabot-identifier-digests"))[:16]


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


def surrogate_kind(entity_type: str) -> str:
    return ENTITY_KINDS.get(entity_type, "other")


@dataclass
class IdentifierDigestBuilder:
    """Collects the digests while the privacy stage anonymizes; `write` saves them.

    Each identifier is its kind and the digests of its whole forms; two of one kind that
    share a form are one identifier ("+1 415 555 0134" in a chat and the address book's
    "+14155550134"). Texts and surrogates are never kept, only digests.
    """

    hasher: IdentifierHasher
    english_words: Container[str] = ()
    given_names: Container[str] = ()
    _forms: list[tuple[str, set[str]]] = field(default_factory=list)
    _parent: list[int] = field(default_factory=list)
    _by_digest: dict[tuple[str, str], int] = field(default_factory=dict)
    _partial: dict[str, str] = field(default_factory=dict)
    _pseudonyms: dict[str, str] = field(default_factory=dict)
    _windows: dict[str, set[int]] = field(default_factory=dict)
    # Held in memory while the stage runs, never written: the word and token forms of
    # what was replaced (beside the address book's), in how many messages each was
    # replaced and in how many the anonymized history still holds it as plain text.
    _contact_digests: set[str] = field(default_factory=set)
    _replaced_in: Counter[tuple[str, str]] = field(default_factory=Counter)
    _plain_in: Counter[tuple[str, str]] = field(default_factory=Counter)

    def _root(self, identifier: int) -> int:
        while self._parent[identifier] != identifier:
            self._parent[identifier] = self._parent[self._parent[identifier]]
            identifier = self._parent[identifier]
        return identifier

    def _add(self, forms: IdentifierForms) -> int | None:
        whole = {self.hasher.digest(form) for form in forms.whole}
        for form in forms.partial:
            self._partial.setdefault(self.hasher.digest(form), forms.kind)
        if not whole:
            return None
        known = {
            self._root(self._by_digest[(forms.kind, d)])
            for d in whole
            if (forms.kind, d) in self._by_digest
        }
        if known:
            identifier = min(known)
            for other in known - {identifier}:
                self._parent[other] = identifier
                self._forms[identifier][1].update(self._forms[other][1])
        else:
            identifier = len(self._forms)
            self._forms.append((forms.kind, set()))
            self._parent.append(identifier)
        self._forms[identifier][1].update(whole)
        for digest in whole:
            self._by_digest[(forms.kind, digest)] = identifier
        return identifier

    def _identifiers(self) -> tuple[list[tuple[str, set[str]]], dict[int, int]]:
        """The merged identifiers, numbered from 0, and each raw id's final number."""
        roots = sorted({self._root(i) for i in range(len(self._forms))})
        number = {root: n for n, root in enumerate(roots)}
        final = {i: number[self._root(i)] for i in range(len(self._forms))}
        return [self._forms[root] for root in roots], final

    def add_contacts(self, contacts: KnownContacts) -> None:
        """Every identifier of the owner's address book (owner included), seen in a chat or
        not: name forms as saved (not derived diminutives), numbers, e-mails."""
        for forms in (
            *(
                identifier_forms("name", " ".join(words))
                for words, form in contacts.names.items()
                if not form.derived
            ),
            *(identifier_forms("phone", digits) for digits in contacts.phones),
            *(identifier_forms("email", email) for email in contacts.emails),
        ):
            self._contact_digests.update(map(self.hasher.digest, forms.whole | forms.partial))
            self._add(forms)

    def add_replacements(
        self,
        window_ids: Iterable[object],
        originals: Iterable[str | None],
        replacements: Iterable[Sequence[Replacement]],
    ) -> None:
        """The identifiers replaced in each message (its original text and the anonymizer's
        `Replacement`s) under its window (None: none), and the digests of the surrogates."""
        for window_id, text, replaced in zip(window_ids, originals, replacements, strict=True):
            if not replaced or not isinstance(text, str):
                continue
            window = set() if window_id is None else self._windows.setdefault(str(window_id), set())
            plain_forms: set[tuple[str, str]] = set()
            for item in replaced:
                kind = surrogate_kind(item.entity_type)
                forms = identifier_forms(
                    kind,
                    text[item.start : item.end],
                    guessed=item.entity_type in GUESSED_NAME_ENTITIES,
                    english_words=self.english_words,
                    url=item.entity_type == URL_ENTITY,
                    given_names=self.given_names,
                )
                identifier = self._add(forms)
                if identifier is not None:
                    window.add(identifier)
                self.add_pseudonym(kind, item.surrogate)
                plain_forms.update(
                    form for form in forms.whole | forms.partial if form[0] in (WORDS, TOKEN)
                )
            self._replaced_in.update(plain_forms)

    def add_plain_texts(self, texts: Iterable[str | None]) -> None:
        """Count, per replaced word or token form, the anonymized texts that still hold it
        as plain text (where the anonymizer read the same words as no identifier)."""
        wanted = self._replaced_in.keys()  # word and token forms only: no digit form
        for text in texts:
            if isinstance(text, str):
                self._plain_in.update(
                    {form for _, form in word_and_token_forms(text) if form in wanted}
                )

    def _plain_digests(self) -> set[str]:
        """Digests of forms the anonymized history holds as plain text in at least
        MIN_PLAIN_MESSAGES messages and in as many as it was replaced in ("Dev", "mtg",
        "JIRA": a word here, a guessed name there). A model that writes them repeats its
        training text, not a hidden identifier. The address book's forms always stay."""
        return {
            self.hasher.digest(form)
            for form, plain in self._plain_in.items()
            if plain >= MIN_PLAIN_MESSAGES and plain >= self._replaced_in[form]
        } - self._contact_digests

    def add_pseudonym(self, kind: str, surrogate: str | None) -> None:
        """A surrogate the stage emitted (e.g. a sender's pseudonym): reported apart."""
        if not isinstance(surrogate, str) or not surrogate or PLACEHOLDER.fullmatch(surrogate):
            return
        forms = identifier_forms(kind, surrogate)
        for form in forms.whole | forms.partial:
            self._pseudonyms.setdefault(self.hasher.digest(form), kind)

    def payload(self) -> dict:
        """The JSON document `write` saves (digests, kinds and window ids only)."""
        pseudonyms = set(self._pseudonyms)
        plain = self._plain_digests()
        merged, final = self._identifiers()
        identifiers = []
        ambiguous = 0
        for kind, whole in merged:
            kept = sorted(whole - pseudonyms - plain)
            ambiguous += len(whole & pseudonyms)
            identifiers.append({"kind": kind, "digests": kept})
        partial = {
            digest: kind
            for digest, kind in sorted(self._partial.items())
            if digest not in pseudonyms and digest not in plain
        }
        ambiguous += len(self._partial.keys() & pseudonyms)
        windows = {
            window: sorted({final[i] for i in ids}) for window, ids in sorted(self._windows.items())
        }
        return {
            "format": FORMAT_VERSION,
            "algorithm": "hmac-sha256",
            "key_fingerprint": self.hasher.fingerprint,
            "identifiers": identifiers,
            "partial": partial,
            "pseudonyms": dict(sorted(self._pseudonyms.items())),
            "windows": windows,
            "ambiguous_forms": ambiguous,
        }

    def write(self, path: str | Path) -> Path:
        """Save the digests atomically, 0600 (storage.write_json)."""
        return write_json(path, self.payload())

    def counts(self) -> dict[str, int]:
        """Metadata-safe counts: identifiers per kind, surrogates, windows."""
        per_kind = {f"identifier_digests_{kind}": 0 for kind in KINDS}
        for kind, _ in self._identifiers()[0]:
            per_kind[f"identifier_digests_{kind}"] += 1
        return {
            **per_kind,
            "identifier_digests_pseudonyms": len(self._pseudonyms),
            "identifier_digests_windows": sum(1 for ids in self._windows.values() if ids),
            "identifier_digests_plain_forms": len(self._plain_digests()),
        }


@dataclass(frozen=True)
class IdentifierDigests:
    """What the privacy stage stored, loaded for the scan (digests only, never identifiers)."""

    hasher: IdentifierHasher
    identifiers: tuple[tuple[str, frozenset[str]], ...]  # (kind, whole-form digests) by id
    partial: Mapping[str, str]  # digest -> kind
    pseudonyms: Mapping[str, str]  # digest -> kind
    windows: Mapping[str, tuple[int, ...]]
    ambiguous_forms: int = 0

    @classmethod
    def load(cls, path: str | Path, key: bytes) -> IdentifierDigests:
        path = Path(path)
        hasher = IdentifierHasher(key)
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            if payload.get("format") != FORMAT_VERSION:
                raise ValueError("format")
            if payload["key_fingerprint"] != hasher.fingerprint:
                raise IdentifierDigestError(
                    f"{path} was made with another identifier digest key: re-materialize "
                    "anonymized_windows so digests and key match"
                )
            identifiers = tuple(
                (entry["kind"], frozenset(entry["digests"])) for entry in payload["identifiers"]
            )
            windows = {str(w): tuple(int(i) for i in ids) for w, ids in payload["windows"].items()}
            return cls(
                hasher=hasher,
                identifiers=identifiers,
                partial=dict(payload["partial"]),
                pseudonyms=dict(payload["pseudonyms"]),
                windows=windows,
                ambiguous_forms=int(payload.get("ambiguous_forms", 0)),
            )
        except FileNotFoundError as error:
            raise IdentifierDigestError(
                f"no identifier digests at {path}: materialize anonymized_windows first"
            ) from error
        except (ValueError, KeyError, TypeError, AttributeError) as error:
            if isinstance(error, IdentifierDigestError):
                raise
            raise IdentifierDigestError(
                f"{path} is not an identifier digest file of format {FORMAT_VERSION}: "
                "re-materialize anonymized_windows"
            ) from None

    @classmethod
    def from_data_dir(cls, secrets_dir: str | Path) -> IdentifierDigests:
        """The digests and key under `$ASTRABOT_DATA_DIR/secrets/` (the key is never created
        here: a missing key means no digests were made)."""
        secrets_dir = Path(secrets_dir)
        key_path = secrets_dir / DIGEST_KEY_FILE
        if not key_path.is_file():
            raise IdentifierDigestError(
                f"no identifier digest key at {key_path}: materialize anonymized_windows first"
            )
        return cls.load(secrets_dir / DIGEST_FILE, load_or_create_digest_key(key_path))

    def real_kinds(self) -> dict[str, str]:
        """Every real digest (whole and partial forms) -> its kind."""
        kinds = dict(self.partial)
        for kind, whole in self.identifiers:
            for digest in whole:
                kinds[digest] = kind
        return kinds

    def identifiers_in_windows(self, window_ids: Iterable[object]) -> set[int]:
        """The ids of the identifiers the given windows held before anonymization."""
        found: set[int] = set()
        for window in window_ids:
            found.update(self.windows.get(str(window), ()))
        return found


def record_identifier_digests(
    secrets_dir: str | Path,
    anonymizer: ConversationAnonymizer,
    contacts: KnownContacts,
    window_ids: Iterable[object] | None,
    anonymized: Iterable[tuple[Sequence[str | None], AnonymizationResult]],
    sender_pseudonyms: Iterable[str | None] = (),
) -> dict[str, int]:
    """The privacy stage's hook: digest the address book, every identifier `anonymizer`
    replaced (each (originals, result) pair is one text column of the windows, row-aligned
    with `window_ids`; None when the rows have no window) and every surrogate emitted, then
    write them under `secrets_dir`. Returns metadata-safe counts."""
    from astrabot_pipeline.privacy.anonymizer import spacy_pipeline
    from astrabot_pipeline.privacy.name_gazetteer import EnglishLexicon, load_given_names

    secrets_dir = Path(secrets_dir)
    nlp = spacy_pipeline(anonymizer.analyzer.nlp_engine)
    builder = IdentifierDigestBuilder(
        IdentifierHasher(load_or_create_digest_key(secrets_dir / DIGEST_KEY_FILE)),
        EnglishLexicon.from_spacy(nlp),
        load_given_names(),
    )
    builder.add_contacts(contacts)
    columns = list(anonymized)
    for originals, result in columns:
        rows: list[object] = [None] * len(originals) if window_ids is None else list(window_ids)
        builder.add_replacements(rows, originals, result.replacements)
    for _, result in columns:
        builder.add_plain_texts(result.texts)
    for surrogate in sender_pseudonyms:
        builder.add_pseudonym("name", surrogate)
    builder.write(secrets_dir / DIGEST_FILE)
    return builder.counts()
