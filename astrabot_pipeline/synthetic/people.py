"""The demo's fake cast: an owner, their contacts and their group chats.

Every identifier is clearly fictional: phone numbers in the reserved 555-01xx range,
e-mails at example.com/.org/.net, made-up street addresses. Names are ordinary first
names that are not also English words, so a name found in text is really a name.
Names, numbers and addresses are fixed; UUIDs and house numbers come from the seed.
"""

from __future__ import annotations

import hashlib
import random
import uuid
from dataclasses import dataclass, field
from typing import TypedDict, Unpack

OWNER_KEY = "owner"

# Reserved for fiction by the North American Numbering Plan: 555-0100 … 555-0199.
FICTIONAL_EXCHANGE = "555"
FICTIONAL_LINE_RANGE = range(100, 200)


@dataclass(frozen=True)
class Style:
    """How one person texts: casing, punctuation, laughter, emoji, pet phrases."""

    lowercase: float  # probability a message is written all lowercase
    period: float  # probability a statement ends with "."
    exclaim: str  # what excitement looks like: "!" or "!!"
    laughs: tuple[str, ...]
    emoji: tuple[str, ...]
    emoji_rate: float
    phrases: tuple[str, ...] = ()  # pet phrases put in front of a message
    phrase_rate: float = 0.0
    tails: tuple[str, ...] = ()  # pet phrases put after a message
    tail_rate: float = 0.0
    burstiness: float = 0.35  # chance that a turn continues with one more message
    glue_emoji: float = 0.3  # chance an emoji is glued to the last word, no space


@dataclass(frozen=True)
class Address:
    number: int
    street: str  # "Linden"
    suffix: str  # "Avenue"
    suffix_short: str  # "Ave"
    city: str
    state: str
    zip_code: str

    @property
    def street_line(self) -> str:
        return f"{self.number} {self.street} {self.suffix}"

    @property
    def street_line_short(self) -> str:
        return f"{self.number} {self.street} {self.suffix_short}"

    @property
    def city_line(self) -> str:
        return f"{self.city}, {self.state} {self.zip_code}"


@dataclass(frozen=True)
class Person:
    key: str
    given_name: str
    family_name: str
    e164: str
    email: str
    address: Address
    aci: str
    pni: str
    style: Style
    nickname: str | None = None  # what friends call them (Signal nickname field)
    profile_given_name: str | None = None  # name on their Signal profile, when it differs
    username: str | None = None
    in_address_book: bool = True  # has system_* names in the owner's phone

    @property
    def is_owner(self) -> bool:
        return self.key == OWNER_KEY

    @property
    def full_name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def area_code(self) -> str:
        return self.e164[2:5]

    @property
    def local_number(self) -> str:
        return self.e164[5:]

    def phone_forms(self) -> tuple[str, ...]:
        """The ways people type this number into a message."""
        area, exchange, line = self.area_code, self.local_number[:3], self.local_number[3:]
        return (
            f"{area}.{exchange}.{line}",
            f"({area}) {exchange}-{line}",
            f"{area}-{exchange}-{line}",
            f"+1 {area} {exchange} {line}",
            self.e164,
            f"{area} {exchange} {line}",
            f"{area}{exchange}{line}",
        )


@dataclass(frozen=True)
class Group:
    key: str
    title: str
    members: tuple[str, ...]  # person keys, owner excluded
    group_id: str  # Signal's "__signal_group__v2__!<hex>"
    master_key: bytes = field(repr=False)
    creator: str = OWNER_KEY


@dataclass(frozen=True)
class Cast:
    owner: Person
    contacts: tuple[Person, ...]
    groups: tuple[Group, ...]

    @property
    def people(self) -> tuple[Person, ...]:
        return (self.owner, *self.contacts)

    def person(self, key: str) -> Person:
        for candidate in self.people:
            if candidate.key == key:
                return candidate
        raise KeyError(key)

    def group(self, key: str) -> Group:
        for candidate in self.groups:
            if candidate.key == key:
                return candidate
        raise KeyError(key)


# The owner: lowercase, "hahaha", doubled "!!", a few favourite phrases and emoji. The
# fine-tuned model should pick these up; the evaluation can look for them.
OWNER_STYLE = Style(
    lowercase=0.97,
    period=0.02,
    exclaim="!!",
    laughs=("hahaha", "hahaha", "lol", "hahah"),
    emoji=("🙃", "✨", "😂", "🫶", "😂"),
    emoji_rate=0.22,
    phrases=("ngl", "honestly", "lowkey", "ok wait", "omg"),
    phrase_rate=0.12,
    tails=("lol", "tbh", "no worries!!", "love that for us"),
    tail_rate=0.07,
    burstiness=0.45,
    glue_emoji=0.5,
)


class _StyleExtras(TypedDict, total=False):
    """The Style fields that have defaults."""

    phrases: tuple[str, ...]
    phrase_rate: float
    tails: tuple[str, ...]
    tail_rate: float
    burstiness: float
    glue_emoji: float


class _PersonExtras(TypedDict, total=False):
    """The Person fields that have defaults."""

    nickname: str | None
    profile_given_name: str | None
    username: str | None
    in_address_book: bool


def _style(
    lowercase: float,
    period: float,
    exclaim: str,
    laughs: str,
    emoji: str,
    emoji_rate: float,
    **extra: Unpack[_StyleExtras],
) -> Style:
    return Style(
        lowercase,
        period,
        exclaim,
        tuple(laughs.split("|")),
        tuple(emoji.split()),
        emoji_rate,
        **extra,
    )


# The contacts' ways of texting, so that the owner's style stands out against them.
_STYLES: dict[str, Style] = {
    "chatty": _style(
        0.6,
        0.05,
        "!!",
        "LMAO|lmaooo|😭😭",
        "😭 💀 😂",
        0.3,
        phrases=("girl", "wait"),
        phrase_rate=0.08,
        tails=("fr",),
        tail_rate=0.05,
        burstiness=0.45,
    ),
    "formal": _style(0.0, 0.7, "!", "Haha.|Ha!", "🙂", 0.04, burstiness=0.15),
    "warm": _style(
        0.1,
        0.1,
        "!!",
        "haha|hehe",
        "💕 🥰 😊",
        0.28,
        phrases=("aww",),
        phrase_rate=0.05,
        burstiness=0.3,
    ),
    "terse": _style(0.9, 0.0, "!", "lol", "👍", 0.08, burstiness=0.2),
    "dry": _style(
        0.3,
        0.3,
        "!",
        "ha|heh",
        "🙄 😅",
        0.1,
        phrases=("well",),
        phrase_rate=0.05,
        tails=("I guess",),
        tail_rate=0.04,
        burstiness=0.25,
    ),
    "hype": _style(
        0.2,
        0.0,
        "!!!",
        "HAHAHA|lmao",
        "🔥 🙌 💯",
        0.35,
        phrases=("yo", "bro"),
        phrase_rate=0.1,
        burstiness=0.4,
    ),
    "gentle": _style(0.4, 0.2, "!", "haha|ahaha", "🌿 ☺️", 0.15, burstiness=0.3),
}

# key, given, family, style, nickname, profile given name, username, area code
_CONTACTS: tuple[tuple[str, str, str, str, str | None, str | None, str | None, str], ...] = (
    ("alessia", "Alessia", "Ferraro", "chatty", None, None, None, "415"),
    ("dmitri", "Dmitri", "Volkov", "formal", None, "Dima", "dima.07", "206"),
    ("priya", "Priya", "Raman", "warm", None, None, None, "415"),
    ("tobias", "Tobias", "Lindqvist", "terse", None, None, None, "312"),
    ("marisol", "Marisol", "Quintero", "warm", None, None, None, "512"),
    ("kenji", "Kenji", "Watanabe", "dry", None, None, "kenjiw.21", "617"),
    ("henrik", "Henrik", "Nyberg", "formal", None, None, None, "303"),
    ("ingrid", "Ingrid", "Solberg", "gentle", None, None, None, "206"),
    ("mateo", "Mateo", "Alvarez", "hype", "Teo", None, None, "718"),
    ("siobhan", "Siobhan", "Kearney", "chatty", None, None, None, "617"),
    ("nadia", "Nadia", "Haddad", "gentle", None, None, None, "312"),
    ("oluwaseun", "Oluwaseun", "Adeyemi", "hype", "Seun", "Seun", None, "718"),
)

_OWNER = ("Camille", "Hartmann", "415")

# street, suffix, short suffix, city, state, ZIP
_STREETS = (
    ("Linden", "Avenue", "Ave", "Portland", "OR", "97205"),
    ("Harwood", "Street", "St", "Oakland", "CA", "94610"),
    ("Birchfield", "Road", "Rd", "Seattle", "WA", "98103"),
    ("Calloway", "Lane", "Ln", "Austin", "TX", "78704"),
    ("Wexford", "Drive", "Dr", "Chicago", "IL", "60614"),
    ("Pemberton", "Court", "Ct", "Denver", "CO", "80206"),
    ("Ashgrove", "Boulevard", "Blvd", "Brooklyn", "NY", "11215"),
    ("Marlowe", "Street", "St", "Cambridge", "MA", "02139"),
    ("Thornbury", "Avenue", "Ave", "Berkeley", "CA", "94703"),
    ("Fenwick", "Place", "Pl", "Minneapolis", "MN", "55408"),
    ("Kessler", "Way", "Way", "Boulder", "CO", "80302"),
    ("Delancey", "Terrace", "Ter", "Philadelphia", "PA", "19104"),
    ("Rosslyn", "Street", "St", "Somerville", "MA", "02144"),
)

_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")

# title, members (owner always in); the creator is the first listed or the owner.
_GROUPS: tuple[tuple[str, str, tuple[str, ...], str], ...] = (
    ("climbing", "Climbing Crew 🧗", ("alessia", "tobias", "kenji", "ingrid", "mateo"), OWNER_KEY),
    ("dinner", "Sunday Dinner Club", ("priya", "marisol", "nadia", "siobhan", "mateo"), "priya"),
    ("books", "Book Club 📚", ("henrik", "oluwaseun", "nadia", "dmitri"), "henrik"),
)


def _email_for(given: str, family: str, index: int) -> str:
    given, family = given.lower(), family.lower()
    pattern = index % 4
    local = (
        f"{given}.{family}",
        f"{given[0]}{family}",
        f"{given}.{family[0]}",
        f"{given}{family[:3]}",
    )[pattern]
    return f"{local}@{_EMAIL_DOMAINS[index % len(_EMAIL_DOMAINS)]}"


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _person(
    rng: random.Random,
    index: int,
    key: str,
    given: str,
    family: str,
    style: Style,
    area: str,
    **extra: Unpack[_PersonExtras],
) -> Person:
    street, suffix, short, city, state, zip_code = _STREETS[index % len(_STREETS)]
    address = Address(rng.randint(12, 4980), street, suffix, short, city, state, zip_code)
    line = FICTIONAL_LINE_RANGE.start + 1 + index * 7 % 98  # distinct for up to 14 people
    return Person(
        key=key,
        given_name=given,
        family_name=family,
        e164=f"+1{area}{FICTIONAL_EXCHANGE}{line:04d}",
        email=_email_for(given, family, index),
        address=address,
        aci=_uuid(rng),
        pni=_uuid(rng),
        style=style,
        **extra,
    )


def build_cast(seed: int = 0) -> Cast:
    """The owner, 12 contacts and 3 groups; UUIDs and house numbers depend on `seed`."""
    rng = random.Random(f"astrabot-cast:{seed}")
    given, family, area = _OWNER
    owner = _person(rng, 0, OWNER_KEY, given, family, OWNER_STYLE, area, in_address_book=False)
    contacts = tuple(
        _person(
            rng,
            index,
            key,
            given,
            family,
            _STYLES[style],
            area,
            nickname=nickname,
            profile_given_name=profile,
            username=username,
            in_address_book=index % 6 != 5,  # a couple are only known by their profile
        )
        for index, (key, given, family, style, nickname, profile, username, area) in enumerate(
            _CONTACTS, start=1
        )
    )
    groups = tuple(
        Group(
            key=key,
            title=title,
            members=members,
            group_id="__signal_group__v2__!" + hashlib.sha256(f"{seed}:{key}".encode()).hexdigest(),
            master_key=rng.randbytes(32),
            creator=creator,
        )
        for key, title, members, creator in _GROUPS
    )
    return Cast(owner=owner, contacts=contacts, groups=groups)
