"""The owner's address book as a deny-list: every name form, phone number and e-mail.

Built once from the decoded `recipients` table (docs/architecture.md §2). The same
matching functions serve the Presidio recognizers and the privacy validator, so what the
anonymizer replaces and what the gate checks can never drift apart.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cached_property
from typing import Protocol

import pandas as pd
import phonenumbers
from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.privacy.name_cues import NAME_AFTER, NAME_BEFORE
from astrabot_pipeline.signal.tables import conform

MIN_NAME_FORM_CHARS = 2
# Parts of a name whose joined spelling is a form too (2^n variants): names have few.
MAX_JOINED_PARTS = 4
MIN_PHONE_DIGITS = 7
MAX_PHONE_DIGITS = 15
# A number is at most this many digit groups ("+1 (415) 555 01 34"): bounds the search.
MAX_PHONE_GROUPS = 6

# Words inside a name: letters and digits (underscore splits, so "sam_k" is "sam", "k").
_WORD = re.compile(r"[^\W_]+")
# What may sit between the words of a multi-word form: "Sam Kim", "Sam\nKim", "sam.k.42",
# and inside one name: "O'Donnell", "O’Donnell" (typographic), "O Donnell", "Eva-Marie".
_NAME_GAP = re.compile(r"\s{1,4}|[._\-'’‘`´]\s?")
# A run of digits with the separators people type inside phone numbers.
_DIGIT_RUN = re.compile(r"\d(?:[\d \t\u00a0().\-/]*\d)?")
_DIGITS = re.compile(r"\d+")
_LEADING_LETTERS = re.compile(r"[^\W\d_]+")
_EMAIL = re.compile(r"[\w.+\-']+@[\w\-]+(?:\.[\w\-]+)+")

# Short forms people use for a given name. A contact saved as "Alexander" is also "Alex"
# in chats; one saved as "Kate" may be "Katherine" to others. Each row is one family of
# names: every member of a row found among a contact's given names or nicknames brings
# the others in (as derived forms, weaker than what the address book says).
DIMINUTIVES: tuple[tuple[str, ...], ...] = (
    ("Abigail", "Abby", "Abbie"),
    ("Alexander", "Alex", "Xander", "Sasha"),
    ("Alexandra", "Alex", "Lexi", "Sasha"),
    ("Alfred", "Alfie", "Fred"),
    ("Amanda", "Mandy"),
    ("Andrew", "Andy", "Drew"),
    ("Anthony", "Tony"),
    ("Benjamin", "Ben", "Benny", "Benji"),
    ("Catherine", "Cathy", "Cat", "Kate", "Katie"),
    ("Charles", "Charlie", "Chuck"),
    ("Charlotte", "Charlie", "Lottie"),
    ("Christina", "Christine", "Chris", "Tina", "Chrissy"),
    ("Christopher", "Chris", "Topher"),
    ("Daniel", "Dan", "Danny"),
    ("Danielle", "Dani"),
    ("David", "Dave", "Davey"),
    ("Deborah", "Debbie", "Deb"),
    ("Dmitri", "Dmitry", "Dima"),
    ("Edward", "Ed", "Eddie", "Ted", "Ned"),
    ("Eleanor", "Ellie", "Nora"),
    ("Elizabeth", "Liz", "Lizzie", "Beth", "Betty", "Eliza", "Libby"),
    ("Emily", "Emmy", "Em"),
    ("Frederick", "Fred", "Freddie"),
    ("Gabriel", "Gabe"),
    ("Gabriella", "Gabrielle", "Gabby", "Gabi"),
    ("Gregory", "Greg"),
    ("Henry", "Harry", "Hank"),
    ("Isabella", "Isabel", "Isabelle", "Izzy", "Bella"),
    ("Jacob", "Jake"),
    ("James", "Jim", "Jimmy", "Jamie"),
    ("Jennifer", "Jen", "Jenny"),
    ("Jessica", "Jess", "Jessie"),
    ("John", "Johnny", "Jack"),
    ("Jonathan", "Jon", "Jonny"),
    ("Joseph", "Joe", "Joey"),
    ("Joshua", "Josh"),
    ("Katherine", "Kathryn", "Kate", "Katie", "Kathy", "Kat"),
    ("Kenneth", "Ken", "Kenny"),
    ("Lawrence", "Larry"),
    ("Margaret", "Maggie", "Meg", "Peggy"),
    ("Matthew", "Matt", "Matty"),
    ("Michael", "Mike", "Mikey", "Mick"),
    ("Nathan", "Nathaniel", "Nate"),
    ("Nicholas", "Nick", "Nicky"),
    ("Olivia", "Liv", "Livvy"),
    ("Patricia", "Pat", "Patty", "Trish"),
    ("Patrick", "Pat", "Paddy"),
    ("Peter", "Pete"),
    ("Rebecca", "Becca", "Becky"),
    ("Richard", "Rich", "Rick", "Ricky", "Richie"),
    ("Robert", "Rob", "Robbie", "Bob", "Bobby"),
    ("Samantha", "Sam", "Sammy"),
    ("Samuel", "Sam", "Sammy"),
    ("Stephen", "Steven", "Steve"),
    ("Susan", "Sue", "Susie"),
    ("Theodore", "Theo", "Ted"),
    ("Thomas", "Tom", "Tommy"),
    ("Timothy", "Tim", "Timmy"),
    ("Tobias", "Toby"),
    ("Victoria", "Vicky", "Tori"),
    ("William", "Will", "Bill", "Billy", "Willy", "Liam"),
    ("Yekaterina", "Ekaterina", "Katya"),
    ("Zachary", "Zach", "Zack"),
)
# Names that are also everyday English words (beyond spaCy's stop words, which "will"
# and "may" already are). Such a one-word form is trusted less: see `find_names`.
COMMON_WORD_NAMES = frozenset(
    {
        "amber", "angel", "april", "art", "august", "autumn", "bill", "billy", "bob", "brown",
        "bud", "buddy", "candy", "carol", "chase", "chuck", "cook", "crystal", "dad", "daisy",
        "dawn", "dean", "dick", "don", "dot", "drew", "eve", "faith", "frank", "gene", "ginger",
        "grace", "grant", "green", "guy", "hall", "holly", "honey", "hope", "hunter", "iris",
        "ivy", "jack", "jade", "joy", "june", "king", "lane", "lily", "long", "mark", "max",
        "miles", "mom", "mum", "nick", "pat", "pearl", "penny", "rich", "river", "rob",
        "robin", "rocky", "rose", "ruby", "rusty", "sandy", "sky", "summer", "sunny", "tank",
        "white", "will", "willy", "young",
        # Given names elsewhere that are everyday words here ("Floor" is Dutch).
        "ash", "bear", "brook", "clay", "floor", "glen", "rain", "reed", "star", "stone",
        "storm", "wolf",
    }
)  # fmt: skip
# A common-word form right after one of these is the word: "my mom", "the bill", "i hope".
_WORD_BEFORE = frozenset(
    {
        "a", "an", "the", "my", "your", "ur", "his", "her", "our", "their", "its", "this",
        "that", "no", "some", "any", "every", "each", "what", "which", "whose", "i", "we",
        "they", "he", "she", "it", "would", "could", "should", "can", "must", "might", "ll",
        "in", "since", "until", "till", "last", "next", "early", "late", "mid",
    }
)  # fmt: skip
# At the start of a sentence, a common-word form followed by one of these is the word:
# "Will you be there?", "Hope it helps", "Mark my words", "May I borrow it".
_WORD_AFTER = frozenset(
    {
        "i", "you", "u", "we", "they", "he", "she", "it", "me", "us", "them", "him", "her",
        "my", "your", "ur", "our", "their", "his", "its", "the", "a", "an", "this", "that",
        "these", "those", "so", "everyone", "everybody", "all", "y'all", "ya",
    }
)  # fmt: skip
_SENTENCE_END = ".!?\n:;"


def fold(text: str) -> str:
    """Case- and accent-insensitive form used for every name comparison ("Zoë" == "zoe")."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if not unicodedata.combining(char)).casefold()


def name_words(text: str) -> tuple[str, ...]:
    return tuple(fold(word) for word in _WORD.findall(text))


def spellings(form: str) -> list[tuple[str, ...]]:
    """The folded word sequences a name is written as: each part made of several words
    ("O'Donnell", "Eva-Marie", "Jean-Luc") split or run together ("odonnell", "evamarie").
    Split, "O'Donnell" also matches "O’Donnell", "O Donnell" and "o-donnell" (_NAME_GAP)."""
    choices: list[list[tuple[str, ...]]] = []
    for part in form.split():
        words = name_words(part)
        if words:
            choices.append([words, ("".join(words),)] if len(words) > 1 else [words])
    variants: list[tuple[str, ...]] = [()]
    for options in choices[:MAX_JOINED_PARTS]:
        variants = [done + option for done in variants for option in options]
    rest = tuple(word for options in choices[MAX_JOINED_PARTS:] for word in options[0])
    return list(dict.fromkeys(variant + rest for variant in variants if variant + rest))


def digits_of(text: str) -> str:
    return "".join(_DIGITS.findall(text))


def _clean(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = value.strip()
    return value or None


@dataclass(frozen=True)
class NameForm:
    """One way of writing a known person's name, and whose it is."""

    key: str
    role: str  # full, given, family, nickname, display or username
    words: tuple[str, ...]
    derived: bool = False  # a diminutive the address book does not spell out

    @property
    def is_common_word(self) -> bool:
        return len(self.words) == 1 and (
            self.words[0] in STOP_WORDS or self.words[0] in COMMON_WORD_NAMES
        )


@dataclass(frozen=True)
class ContactMatch:
    """A span of text that is a known contact's identifier (offsets only, never the text)."""

    start: int
    end: int
    key: str
    role: str  # a NameForm role, "phone" or "email"


@dataclass(frozen=True)
class KnownContacts:
    """Deny-list of the owner's and every contact's identifiers, each tied to a stable key.

    The key (``recipient:<id>``) is what the pseudonymizer hashes, so every form of one
    person's name, number or e-mail maps to the same surrogate person.
    """

    names: dict[tuple[str, ...], NameForm] = field(default_factory=dict)
    phones: dict[str, str] = field(default_factory=dict)  # digits (E.164 w/o "+", or NSN) -> key
    emails: dict[str, str] = field(default_factory=dict)  # lowercased address -> key
    keys: tuple[str, ...] = ()

    @classmethod
    def from_recipients(
        cls, recipients: pd.DataFrame, name_forms: pd.DataFrame | None = None
    ) -> KnownContacts:
        """Every non-group recipient (the owner included) as name forms, numbers and e-mails.

        `name_forms` (the decoded `recipient_names` table) adds every name a recipient row
        carries (address-book, profile, nickname), beyond the one triple in `recipients`.
        Frames are checked against the contract first (SchemaMismatchError names any
        missing column). When two people share a spelling, the lower recipient_id keeps it.
        """
        recipients = conform("recipients", recipients)
        extra = _extra_name_forms(name_forms)
        names: dict[tuple[str, ...], NameForm] = {}
        phones: dict[str, str] = {}
        emails: dict[str, str] = {}
        keys: list[str] = []
        short_forms: dict[str, set[str]] = {}
        people = recipients[~recipients["is_group"]]
        for row in people.sort_values("recipient_id").itertuples(index=False):
            key = f"recipient:{int(row.recipient_id)}"
            keys.append(key)
            for role, form in [*_name_forms(row), *extra.get(int(row.recipient_id), [])]:
                for words in spellings(form):
                    if len("".join(words)) >= MIN_NAME_FORM_CHARS:
                        names.setdefault(words, NameForm(key, role, words))
                words = name_words(form)
                if role in ("given", "nickname", "display") and len(words) == 1:
                    short_forms.setdefault(key, set()).add(words[0])
            for digits in _phone_keys(_clean(row.e164)):
                phones.setdefault(digits, key)
            email = _clean(row.email)
            if email and "@" in email:
                emails.setdefault(email.casefold(), key)
        # Diminutives last: a form the address book spells out always wins.
        for key in keys:
            for word in sorted(_diminutives_of(short_forms.get(key, set()))):
                names.setdefault((word,), NameForm(key, "nickname", (word,), derived=True))
        return cls(names=names, phones=phones, emails=emails, keys=tuple(keys))

    @cached_property
    def max_name_words(self) -> int:
        return max((len(words) for words in self.names), default=0)

    @cached_property
    def name_vocabulary(self) -> frozenset[str]:
        """Every word of every known name form: surrogate pools must avoid all of them."""
        return frozenset(word for words in self.names for word in words if len(word) > 1)

    # -- matching (shared by the recognizers and the validator) ---------------------------

    def find_names(self, text: str) -> list[ContactMatch]:
        """Known name forms on word boundaries, case-insensitive, longest first.

        A possessive ("sam's", and chat's "sams place" with no apostrophe, for a form that
        is no English word) or glued punctuation/emoji ("Priya!!🎉") is left outside the
        span. A one-word form that is also an English word ("Will", "May", "Rose") is read
        as the word where its neighbours say so (`_used_as_word`), and a stop word ("will")
        or a derived diminutive ("bill") only counts when capitalized.
        """
        if not self.names:
            return []
        words = [(m.start(), m.end(), fold(m.group())) for m in _WORD.finditer(text)]
        matches: list[ContactMatch] = []
        longest = self.max_name_words
        i = 0
        while i < len(words):
            for n in range(min(longest, len(words) - i), 0, -1):
                window = tuple(word for _, _, word in words[i : i + n])
                form, end = self.names.get(window), words[i + n - 1][1]
                if form is None:
                    form, end = self._possessive_without_apostrophe(window), end - 1
                if form is None or not _gaps_fit(text, words[i : i + n]):
                    continue
                start = words[i][0]
                if n == 1 and form.is_common_word and _used_as_word(text, words, i, form):
                    continue
                matches.append(ContactMatch(start, end, form.key, form.role))
                i += n - 1
                break
            i += 1
        return matches

    def _possessive_without_apostrophe(self, window: tuple[str, ...]) -> NameForm | None:
        """The form a window ending in "<name>s" names ("ryans", "Gabriellas"), when that
        form is no English word ("marks", "wills" and "bills" stay words)."""
        last = window[-1]
        if len(last) <= MIN_NAME_FORM_CHARS or not last.endswith("s"):
            return None
        form = self.names.get((*window[:-1], last[:-1]))
        return None if form is None or form.is_common_word else form

    def find_phones(self, text: str) -> list[ContactMatch]:
        """Known numbers in any formatting: digit runs compared after normalization."""
        if not self.phones:
            return []
        return [
            ContactMatch(start, end, key, "phone")
            for start, end, key in _known_digit_spans(text, self.phone_key)
        ]

    def find_emails(self, text: str) -> list[ContactMatch]:
        if not self.emails:
            return []
        matches = []
        for match in _EMAIL.finditer(text):
            start, end = match.span()
            candidate = match.group()
            # Trailing dots and quotes belong to the sentence, not the address.
            while candidate and candidate[-1] in ".'-":
                candidate, end = candidate[:-1], end - 1
            key = self.emails.get(candidate.casefold())
            if key:
                matches.append(ContactMatch(start, end, key, "email"))
        return matches

    # -- identity of an already-found span (for the anonymization operators) -------------

    def name_form(self, text: str) -> NameForm | None:
        return self.names.get(name_words(text))

    def phone_key(self, digits: str) -> str | None:
        """The contact whose number these digits are (E.164, 00-prefixed, national, trunk 0)."""
        if not MIN_PHONE_DIGITS <= len(digits) <= MAX_PHONE_DIGITS + 2:
            return None
        return self.phones.get(digits) or self.phones.get(digits.lstrip("0"))

    def phone_key_in(self, text: str) -> str | None:
        """The contact whose number appears anywhere in `text` (a span found by a recognizer)."""
        spans = _known_digit_spans(text, self.phone_key)
        return spans[0][2] if spans else None

    def email_key(self, text: str) -> str | None:
        return self.emails.get(text.strip().casefold())


# recipient_names.source -> the NameForm role its names play
_SOURCE_ROLES = {
    "system_joined": "full",
    "profile_joined": "full",
    "nickname_joined": "nickname",
    "system_nickname": "nickname",
    "system_given": "given",
    "given_name": "given",
    "nickname_given": "nickname",
    "system_family": "family",
    "family_name": "family",
    "nickname_family": "family",
    "username": "username",
}


def _extra_name_forms(name_forms: pd.DataFrame | None) -> dict[int, list[tuple[str, str]]]:
    if name_forms is None:
        return {}
    forms: dict[int, list[tuple[str, str]]] = {}
    for row in conform("recipient_names", name_forms).itertuples(index=False):
        name = _clean(row.name)
        if name:
            role = _SOURCE_ROLES.get(row.source, "display")
            forms.setdefault(int(row.recipient_id), []).append((role, name))
    return forms


def _diminutives_of(forms: set[str]) -> set[str]:
    """Every other member of each DIMINUTIVES row that holds one of `forms` (folded)."""
    derived: set[str] = set()
    for row in _DIMINUTIVE_ROWS:
        if forms & row:
            derived |= row
    return derived - forms


_DIMINUTIVE_ROWS = tuple(frozenset(fold(name) for name in row) for row in DIMINUTIVES)


def _used_as_word(text: str, words: list[tuple[int, int, str]], i: int, form: NameForm) -> bool:
    """Whether the one-word common-word form at words[i] reads as the word, not the name.

    Lowercase stop words and derived diminutives are words. Otherwise a determiner or
    subject pronoun just before ("my mom", "i hope") makes a lowercase one a word, and a
    pronoun or determiner just after one that starts a sentence makes it a word in any
    case ("Will you…", "hope it helps"); "Will, you coming?" stays a name. Mid-sentence,
    a Capitalized one is the name ("tell Floor hi") and a lower-case one the word
    ("second floor") unless a name cue stands next to it ("tell floor", "mark said",
    "mark's", "@floor": privacy/name_cues.py).
    """
    start, end, word = words[i]
    lower = text[start:end].islower()
    if lower and (word in STOP_WORDS or form.derived):
        return True
    before = words[i - 1] if i > 0 else None
    if text.startswith(("'s", "’s"), end):
        return False
    if lower and before and before[2] in _WORD_BEFORE and text[before[1] : start].isspace():
        return True
    head = text[:start].rstrip()
    after = words[i + 1] if i + 1 < len(words) else None
    if not head or head[-1] in _SENTENCE_END:
        return after is not None and after[2] in _WORD_AFTER and text[end : after[0]].isspace()
    if not lower:
        return False
    # Mid-sentence, a lower-case one is the name only after or before a name cue.
    named_before = before is not None and before[2] in NAME_BEFORE
    named_after = after is not None and after[2] in NAME_AFTER
    return not (named_before or named_after or text[:start].endswith("@"))


class _RecipientRow(Protocol):
    """The columns of a `recipients` row (tables.py's contract) that name forms come from."""

    @property
    def given_name(self) -> object: ...
    @property
    def family_name(self) -> object: ...
    @property
    def display_name(self) -> object: ...
    @property
    def username(self) -> object: ...
    @property
    def nickname(self) -> object: ...


def _name_forms(row: _RecipientRow) -> Iterator[tuple[str, str]]:
    """(role, form) pairs of one recipient: as stored, plus the name that leads a display
    name ("Dima Volkov" -> "Dima") or a username ("dima.07" -> "dima")."""
    given, family = _clean(row.given_name), _clean(row.family_name)
    display, username = _clean(row.display_name), _clean(row.username)
    if given and family:
        yield "full", f"{given} {family}"
    forms = {
        "given": given,
        "family": family,
        "nickname": _clean(row.nickname),
        "display": display,
        "username": username,
    }
    for role, form in forms.items():
        if form:
            yield role, form
    if display and len(display.split()) > 1:
        yield "display", display.split()[0]
    leading = _LEADING_LETTERS.match(username or "")
    if leading and len(leading.group()) >= 3:
        yield "nickname", leading.group()


def _phone_keys(e164: str | None) -> set[str]:
    """The digit strings a number is recognized by: full international and national."""
    if not e164:
        return set()
    keys = {digits_of(e164)}
    try:
        parsed = phonenumbers.parse(e164, None if e164.startswith("+") else "US")
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is not None:
        keys.add(f"{parsed.country_code}{phonenumbers.national_significant_number(parsed)}")
        keys.add(phonenumbers.national_significant_number(parsed))
    return {key for key in keys if len(key) >= MIN_PHONE_DIGITS}


def _gaps_fit(text: str, words: list[tuple[int, int, str]]) -> bool:
    return all(
        _NAME_GAP.fullmatch(text, left[1], right[0])
        for left, right in zip(words, words[1:], strict=False)
    )


def phone_candidates(text: str) -> Iterator[list[tuple[int, int, str]]]:
    """Digit groups of each run of digits and phone separators: [(start, end, digits)]."""
    for run in _DIGIT_RUN.finditer(text):
        yield [
            (m.start(), m.end(), m.group()) for m in _DIGITS.finditer(text, run.start(), run.end())
        ]


def _known_digit_spans(text: str, key_of) -> list[tuple[int, int, str]]:
    """Longest runs of consecutive digit groups whose digits are a known number."""
    spans: list[tuple[int, int, str]] = []
    for groups in phone_candidates(text):
        i = 0
        while i < len(groups):
            found = None
            for j in range(min(len(groups), i + MAX_PHONE_GROUPS) - 1, i - 1, -1):
                key = key_of("".join(digits for _, _, digits in groups[i : j + 1]))
                if key:
                    found = (j, key)
                    break
            if found is None:
                i += 1
                continue
            j, key = found
            start = groups[i][0]
            # Take a leading "+" or "(" with the number: "+1 415…", "(415) 555…".
            while start > 0 and text[start - 1] in "+(":
                start -= 1
            spans.append((start, groups[j][1], key))
            i = j + 1
    return spans
