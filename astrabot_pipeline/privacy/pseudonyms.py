"""Stable surrogates: the same real identity always becomes the same fake one.

A keyed hash (HMAC-SHA256 with a per-installation secret) picks each surrogate from
built-in pools, so the mapping is consistent across runs yet cannot be reversed or
recomputed without the secret. Pools never contain a real known name, so a surrogate can
never trip the privacy gate. Fake numbers use the 555-0100..0199 range reserved for
fiction; fake e-mails use the example.org/example.com domains reserved by RFC 2606.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.privacy.known_contacts import digits_of, fold, name_words
from astrabot_pipeline.storage import PRIVATE_FILE_MODE, private_dir

SECRET_BYTES = 32

FIRST_NAMES = (
    "Avery", "Blake", "Casey", "Dakota", "Emerson", "Finley", "Harper", "Hayden", "Jamie",
    "Jordan", "Kendall", "Logan", "Marlowe", "Morgan", "Parker", "Peyton", "Quinn", "Reese",
    "Riley", "Rowan", "Sawyer", "Skyler", "Taylor", "Alden", "Bellamy", "Carmen", "Delphine",
    "Elio", "Fabian", "Greta", "Hollis", "Ilse", "Joaquin", "Katya", "Leander", "Mireille",
    "Niko", "Odile", "Pilar", "Rafferty", "Solveig", "Thea", "Ulla", "Viggo", "Wren",
    "Xiomara", "Yusuf", "Zelda", "Anouk", "Bastian", "Cosima", "Dario", "Elodie", "Florian",
    "Gideon", "Hedda", "Imogen", "Jasper", "Kasimir", "Linnea", "Maren", "Nils", "Ottilie",
    "Pascal", "Renata", "Soren", "Tamsin", "Ulrich", "Valentin", "Wilhelmina", "Yannick",
    "Zora", "Amara", "Benedikt", "Corentin", "Dagny", "Eamon", "Fenna", "Gwendolyn",
    "Hugo", "Isolde", "Jovan", "Kiran", "Lorcan", "Magnus", "Noemi", "Orla", "Perrin",
    "Quentin", "Rosalind", "Sabine", "Tiago", "Ursula", "Vesna", "Wolfgang", "Yara",
    "Zeno", "Anselm", "Brigitta", "Cyrus", "Desmond", "Eloise", "Felix", "Ginevra",
    "Horatio", "Ines", "Jolene", "Kaspar", "Leopold", "Matilda", "Nadine", "Osric",
    "Priscilla", "Raphael", "Seraphina", "Thaddeus", "Vivienne", "Wendell", "Ximena",
)  # fmt: skip

LAST_NAMES = (
    "Abernathy", "Balogun", "Castellano", "Drummond", "Eriksen", "Fairbanks", "Galloway",
    "Halvorsen", "Iglesias", "Jablonski", "Kowalczyk", "Lockhart", "Montague", "Novak",
    "Okonkwo", "Pennington", "Quigley", "Rasmussen", "Sandoval", "Thorne", "Underhill",
    "Valdivia", "Whitlock", "Yamamoto", "Zielinski", "Ashdown", "Blackwood", "Carrington",
    "Dunmore", "Ellsworth", "Fitzgerald", "Greenhalgh", "Holloway", "Ingram", "Jessop",
    "Kincaid", "Lindgren", "Marchetti", "Northcott", "Oyelaran", "Prendergast", "Quarles",
    "Rutherford", "Sutcliffe", "Tremblay", "Urquhart", "Vasquez", "Wainwright", "Yardley",
    "Zamora", "Albrecht", "Brannigan", "Cavendish", "Delacroix", "Eberhardt", "Fontaine",
    "Gutierrez", "Hargreaves", "Ivanova", "Jorgensen", "Kavanagh", "Lombardi", "Mackenzie",
    "Nakamura", "Ostrowski", "Pacheco", "Rosenthal", "Stavros", "Takahashi", "Uribe",
    "Villanueva", "Winterbottom", "Yilmaz", "Zanetti", "Achterberg", "Bergstrom",
    "Contreras", "Dimitriou", "Esposito", "Falkenrath", "Grimaldi", "Heathcote", "Isaksen",
    "Jaramillo", "Kettering", "Lachance", "Morrissey", "Nieminen", "Oakhurst", "Pettersen",
    "Quintanilla", "Ravensworth", "Szabo", "Thornquist", "Ulloa", "Vandermeer", "Wexley",
)  # fmt: skip

STREET_NAMES = (
    "Juniper", "Sycamore", "Alder", "Hawthorne", "Larkspur", "Magnolia", "Bramble", "Cedarwood",
    "Foxglove", "Hazelmere", "Kingsbury", "Lavender", "Meadowlark", "Nightingale", "Orchard",
    "Primrose", "Quarry", "Ravenswood", "Sagebrush", "Tamarack", "Willowbrook", "Yarrow",
)  # fmt: skip
STREET_SUFFIXES = ("Street", "Avenue", "Road", "Lane", "Drive", "Court", "Place", "Terrace")
CITIES = (
    ("Springfield", "IL"), ("Riverton", "WY"), ("Fairview", "OR"), ("Lakeside", "CA"),
    ("Greenville", "SC"), ("Franklin", "TN"), ("Clinton", "IA"), ("Georgetown", "KY"),
    ("Salem", "MA"), ("Madison", "WI"), ("Milford", "CT"), ("Ashland", "OH"),
)  # fmt: skip
# Real-looking area codes; the 555-01xx line makes every number fictional.
AREA_CODES = (
    "201", "202", "206", "212", "213", "305", "310", "312", "404", "415", "503", "512",
    "602", "617", "702", "718", "720", "801", "808", "917",
)  # fmt: skip

PHONE_SLOTS = len(AREA_CODES) * 100  # area code x the 100 lines 555-0100..0199

# What stands for an identifier with no pseudonym kind: Presidio's replace operator writes
# the entity type in angle brackets ("<URL>", "<IBAN_CODE>").
PLACEHOLDER = re.compile(r"<[A-Z_]+>")
_POSSESSIVE = re.compile(r"(?:['’]s|['’])$", re.IGNORECASE)
_WORD_SPLIT = re.compile(r"(\s+|[._\-])")


class SecretFileError(AstrabotError, OSError):
    """The pseudonym secret file exists but is unusable (empty, truncated, unreadable)."""


@dataclass(frozen=True)
class SurrogatePerson:
    given: str
    family: str


def load_or_create_secret(path: Path) -> bytes:
    """The installation's pseudonym key: 32 random bytes, created once (0600 in a 0700 dir).

    Creation is atomic and race-free: the key is written to a private temporary file and
    hard-linked into place, so concurrent first runs agree on one key.
    """
    path = Path(path)
    if not path.exists():
        private_dir(path.parent)
        temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(secrets.token_bytes(SECRET_BYTES))
                handle.flush()
                os.fsync(handle.fileno())
            with contextlib.suppress(FileExistsError):  # another process won: use its key
                os.link(temp, path)
        finally:
            temp.unlink(missing_ok=True)
    secret = path.read_bytes()
    if len(secret) < SECRET_BYTES:
        raise SecretFileError(
            f"pseudonym secret {path} is {len(secret)} bytes, expected {SECRET_BYTES}: "
            "restore it from a backup, or delete it to start a new pseudonym mapping"
        )
    if path.stat().st_mode & 0o077:
        path.chmod(PRIVATE_FILE_MODE)
    return secret


def match_shape(original: str, surrogate: str) -> str:
    """Give `surrogate` the casing of `original`: lower, ALLCAPS or Capitalized."""
    letters = [char for char in original if char.isalpha()]
    if not letters:
        return surrogate
    if len(letters) > 1 and all(char.isupper() for char in letters):
        return surrogate.upper()
    if all(char.islower() for char in letters):
        return surrogate.lower()
    if letters[0].isupper():
        return surrogate[:1].upper() + surrogate[1:]
    return surrogate


def _shape_words(original: str, surrogate_words: list[str]) -> str:
    """Surrogate words joined like the original's words, each shaped like its counterpart."""
    parts = _WORD_SPLIT.split(original)
    words, gaps = parts[0::2], parts[1::2]
    if len(words) != len(surrogate_words) or not all(words):
        return match_shape(original, " ".join(surrogate_words))
    out = [match_shape(words[0], surrogate_words[0])]
    for gap, word, surrogate in zip(gaps, words[1:], surrogate_words[1:], strict=True):
        out += [gap, match_shape(word, surrogate)]
    return "".join(out)


def split_possessive(text: str) -> tuple[str, str]:
    match = _POSSESSIVE.search(text)
    if match and match.start() > 0:
        return text[: match.start()], match.group()
    return text, ""


class Pseudonymizer:
    """Consistent fake names, numbers, e-mails and addresses keyed by real identities.

    `excluded_names` are real names (any case): no pool entry containing one is used.
    Known contacts get distinct surrogates via `reserve` (collision-free, deterministic);
    other identities get a pure hash pick.
    """

    def __init__(
        self,
        secret: bytes,
        excluded_names: Iterable[str] = (),
        *,
        excluded_phones: Iterable[str] = (),
    ) -> None:
        if len(secret) < 16:
            raise ValueError("pseudonym secret must be at least 16 bytes")
        self._secret = secret
        excluded = {word for name in excluded_names for word in name_words(name)}

        def allowed(pool: Iterable[str]) -> tuple[str, ...]:
            kept = tuple(entry for entry in pool if not set(name_words(entry)) & excluded)
            if not kept:
                raise ValueError("every surrogate in a pool collides with a real name")
            return kept

        self._given = allowed(FIRST_NAMES)
        self._family = allowed(LAST_NAMES)
        self._streets = allowed(STREET_NAMES)
        self._cities = tuple(city for city in CITIES if not set(name_words(city[0])) & excluded)
        self._cities = self._cities or CITIES
        self._excluded_phones = frozenset(excluded_phones)
        self._reserved: dict[tuple[str, str], int] = {}

    # -- choosing ------------------------------------------------------------------------

    def _index(self, kind: str, identity: str, size: int) -> int:
        reserved = self._reserved.get((kind, identity))
        if reserved is not None:
            return reserved % size
        digest = hmac.new(self._secret, f"{kind}\x00{identity}".encode(), hashlib.sha256)
        return int.from_bytes(digest.digest()[:8], "big") % size

    def reserve(self, identities: Iterable[str]) -> None:
        """Give each identity its own given name, family name and number where pools allow.

        Deterministic for a given secret and set of identities (assigned in hash order).
        """
        identities = set(identities)
        pools = {"given": len(self._given), "family": len(self._family), "phone": PHONE_SLOTS}
        for kind, size in pools.items():
            ranks = {identity: self._index(kind, identity, 1 << 62) for identity in identities}
            ordered = sorted(identities, key=ranks.__getitem__)
            used: set[int] = set()
            for identity in ordered:
                index = self._index(kind, identity, size)
                for step in range(size):
                    candidate = (index + step) % size
                    if candidate not in used:
                        index = candidate
                        break
                used.add(index)
                self._reserved[(kind, identity)] = index

    def person(self, identity: str) -> SurrogatePerson:
        return SurrogatePerson(
            self._given[self._index("given", identity, len(self._given))],
            self._family[self._index("family", identity, len(self._family))],
        )

    # -- surrogates ----------------------------------------------------------------------

    def name(self, original: str, identity: str | None = None, role: str = "full") -> str:
        """A fake name shaped like `original`; possessive kept ("sam's" -> "wren's").

        With an identity (a known contact's key) the role picks the part: given/nickname ->
        given name, family -> family name, full/display -> both, username -> handle.
        Without one, each word is pseudonymized on its own (first as a given name), or,
        with the role "family", the whole as one family name ("van der Berg").
        """
        core, possessive = split_possessive(original)
        words = [word for word in _WORD_SPLIT.split(core)[0::2] if word]
        if identity is None and role == "family":
            family = self._family[self._index("family", fold(core), len(self._family))]
            return _shape_words(core, [family]) + possessive
        if identity is None:
            surrogate = [
                self._given[self._index("given", fold(word), len(self._given))]
                if position == 0
                else self._family[self._index("family", fold(word), len(self._family))]
                for position, word in enumerate(words)
            ] or [self._given[self._index("given", fold(core), len(self._given))]]
            return _shape_words(core, surrogate) + possessive
        person = self.person(identity)
        if role == "username":
            separator = next((c for c in core if c in "._-"), "")
            return f"{person.given}{separator}{person.family}".lower() + possessive
        if role in ("given", "nickname") or (role == "display" and len(words) < 2):
            surrogate = [person.given]
        elif role == "family":
            surrogate = [person.family]
        else:
            surrogate = [person.given, person.family]
        return _shape_words(core, surrogate) + possessive

    def phone(self, original: str, identity: str | None = None) -> str:
        """A fictional 555-01xx number written in the original's format."""
        digits = digits_of(original)
        identity = identity or "digits:" + digits.lstrip("0")[-10:]
        index = self._index("phone", identity, PHONE_SLOTS)
        for step in range(PHONE_SLOTS):
            slot = (index + step) % PHONE_SLOTS
            national = f"{AREA_CODES[slot // 100]}55501{slot % 100:02d}"
            fake = (
                digits[: len(digits) - 10] + national
                if len(digits) >= 10
                else national[-len(digits) :]
            )
            if not {national, fake, fake.lstrip("0")} & self._excluded_phones:
                break
        if not digits:
            return f"({national[:3]}) {national[3:6]}-{national[6:]}"
        fill = iter(fake)
        return "".join(next(fill) if char.isdigit() else char for char in original)

    def email(self, original: str, identity: str | None = None) -> str:
        """A fake address at a reserved example domain, built from the surrogate person."""
        if identity is not None:
            person = self.person(identity)
            return f"{person.given}.{person.family}@example.org".lower()
        key = "email:" + original.strip().casefold()
        person = self.person(key)
        number = self._index("email", key, 100)
        return f"{person.given}.{person.family}{number:02d}@example.com".lower()

    def street_address(self, original: str) -> str:
        """A fake street line (and city line when the original has one), same casing."""
        key = " ".join(original.casefold().split())
        number = 10 + self._index("house", key, 9000)
        street = self._streets[self._index("street", key, len(self._streets))]
        suffix = STREET_SUFFIXES[self._index("suffix", key, len(STREET_SUFFIXES))]
        fake = f"{number} {street} {suffix}"
        lines = original.splitlines()
        has_city = len(lines) > 1 or ("," in original and re.search(r"\d{4,}\s*$", original))
        if has_city:
            city, state = self._cities[self._index("city", key, len(self._cities))]
            separator = "\n" if len(lines) > 1 else ", "
            fake += f"{separator}{city}, {state} 0{self._index('zip', key, 10000):04d}"
        letters = "".join(char for char in original if char.isalpha())
        return fake.lower() if letters.islower() else fake

    def location(self, original: str) -> str:
        core, possessive = split_possessive(original)
        city, _ = self._cities[self._index("city", fold(core), len(self._cities))]
        return match_shape(core, city) + possessive
