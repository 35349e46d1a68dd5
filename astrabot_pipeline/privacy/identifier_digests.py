"""Keyed digests of every real identifier the privacy stage replaced, for the leakage scan.

The evaluation must tell whether a model writes a real name, number or e-mail of the
owner's contacts, without reading `decoded_backup` (it may have been deleted) and without
ever writing an identifier out. So the privacy stage, which holds every identifier while
it anonymizes, stores HMAC-SHA256 digests (its own 32-byte key, created once, 0600) of
each identifier's normalized forms; the scan hashes candidate spans of a generation the
same way and compares. Without the key a digest cannot be tested against a guess.

The forms of an identifier (its normalized spellings) are those of identifier_forms.py,
shared with the scan so the two cannot drift apart.

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
from collections import Counter
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from astrabot_pipeline.data_layout import DIGEST_FILE, DIGEST_KEY_FILE
from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.privacy.identifier_forms import (
    TOKEN,
    WORDS,
    IdentifierForms,
    identifier_forms,
    word_and_token_forms,
)
from astrabot_pipeline.privacy.known_contacts import KnownContacts
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

FORMAT_VERSION = 1
KINDS = ("name", "phone", "email", "other")
URL_ENTITY = "URL"
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
