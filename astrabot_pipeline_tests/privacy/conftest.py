"""Fake contacts and a chat-style corpus with planted PII, shared by the privacy tests.

Every identifier here is made up for the tests; the recognizers know none of them and
learn them only from the recipients table, as they would a real address book.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pandas as pd
import pytest
from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.privacy import ConversationAnonymizer, KnownContacts
from astrabot_pipeline.signal.tables import conform

SECRET = bytes(range(32))


@dataclass(frozen=True)
class FakeContact:
    recipient_id: int
    given: str
    family: str
    e164: str
    email: str | None
    nickname: str | None = None
    display: str | None = None
    username: str | None = None
    is_self: bool = False

    @property
    def phone_forms(self) -> list[str]:
        """The number written the ways people type it (North American numbers only)."""
        if not self.e164.startswith("+1"):
            return [self.e164]
        area, exchange, line = self.e164[2:5], self.e164[5:8], self.e164[8:]
        return [
            f"+1 {area} {exchange} {line}",
            f"({area}) {exchange}-{line}",
            f"{area}.{exchange}.{line}",
            f"{area}{exchange}{line}",
            f"{area}-{exchange}-{line}",
            f"1-{area}-{exchange}-{line}",
            f"001 {area} {exchange} {line}",
            self.e164,
        ]


CONTACTS = (
    FakeContact(1, "Dana", "Whitfield", "+14155550100", "dana.whitfield@fastmail.com", is_self=True),
    FakeContact(
        2, "Sam", "Okafor", "+14155550134", "sam.okafor@gmail.com",
        nickname="Sammy", display="Sammy O", username="samo.42",
    ),
    FakeContact(3, "Priya", "Raman", "+12065550188", "priya.r@outlook.com", display="Priya 🌸"),
    FakeContact(4, "Will", "Chen", "+447700900123", None),
    FakeContact(5, "Ed", "Lindqvist", "+13125550142", "ed@lindqvist.se"),
)  # fmt: skip
SAM, PRIYA, WILL, ED = CONTACTS[1], CONTACTS[2], CONTACTS[3], CONTACTS[4]
# Sam's real number in any written form. Not just its last digits: the fictional numbers
# that replace phone numbers are 555-0100..0199 lines, so a surrogate may end in 0134 too.
SAM_NUMBER = r"415\D{0,2}555\D?0134"

STREET_ADDRESSES = (
    "4114 Linden Avenue\nPortland, OR 97205",
    "77 Harwood St\nOakland, CA 94610",
    "2763 pemberton court",
    "18 Kessler Way, Apt 4B",
)


def recipients_frame() -> pd.DataFrame:
    rows = [
        {
            "recipient_id": c.recipient_id,
            "is_self": c.is_self,
            "is_group": False,
            "display_name": c.display or f"{c.given} {c.family}",
            "given_name": c.given,
            "family_name": c.family,
            "nickname": c.nickname,
            "e164": c.e164,
            "email": c.email,
            "username": c.username,
            "aci": f"00000000-0000-4000-8000-{c.recipient_id:012d}",
            "group_title": None,
        }
        for c in CONTACTS
    ]
    rows.append(
        dict.fromkeys(rows[0], None)
        | {"recipient_id": 9, "is_self": False, "is_group": True, "group_title": "Sam & Priya"}
    )
    return conform("recipients", pd.DataFrame(rows))


NAME_TEMPLATES = (
    "{name} are you coming tonight?",
    "hey {name} lol",
    "tell {name} i said hi",
    "{poss} birthday is friday",
    "omg {name}!!🎉",
    "{name}😂😂",
    "ask {name}, they'd know",
    "(it was {name})",
    "@{name} look at this",
    "wait {name} said that??",
    "i ran into {full} at the market",
)
PHONE_TEMPLATES = (
    "call me at {phone}",
    "my new number is {phone}",
    "{poss} number is {phone}",
    "text {phone} if i don't pick up",
    "new phone, save this: {phone}",
)
EMAIL_TEMPLATES = ("my email is <{email}>", "send it to {email}", "Email: {email}", "{email}!!")
ADDRESS_TEMPLATES = (
    "my new address:\n{address}",
    "the party is at {address}",
    "moved to {address} btw",
)
FILLER = (
    "lol ok",
    "see you at 7",
    "haha yes",
    "can't wait 🎉",
    "what time is dinner",
    "omg same",
    "i will bring the wine",
    "running 10 min late sorry",
)


def name_forms(contact: FakeContact) -> list[str]:
    """Given name and nickname in every casing (a stop-word name like "Will" only
    capitalized: lowercase "will" is the verb, by design left alone)."""
    forms = [contact.given, contact.given.upper()]
    if contact.given.lower() not in STOP_WORDS:
        forms.append(contact.given.lower())
    if contact.nickname:
        forms += [contact.nickname, contact.nickname.lower()]
    return forms


def planted_corpus(seed: int = 7, size: int = 400) -> list[str | None]:
    """Chat messages; most carry a contact's name, number, e-mail or address."""
    rng = random.Random(seed)
    texts: list[str | None] = []
    for _ in range(size):
        contact = rng.choice(CONTACTS)
        name = rng.choice(name_forms(contact))
        poss = name + rng.choice(("'s", "’s"))
        full = rng.choice(
            (f"{contact.given} {contact.family}", f"{contact.given} {contact.family}".lower())
        )
        kind = rng.randrange(6)
        if kind <= 1:
            text = rng.choice(NAME_TEMPLATES).format(name=name, poss=poss, full=full)
        elif kind == 2:
            phone = rng.choice(contact.phone_forms)
            text = rng.choice(PHONE_TEMPLATES).format(phone=phone, poss=poss)
        elif kind == 3 and contact.email:
            text = rng.choice(EMAIL_TEMPLATES).format(email=contact.email)
        elif kind == 4:
            text = rng.choice(ADDRESS_TEMPLATES).format(address=rng.choice(STREET_ADDRESSES))
        else:
            text = rng.choice(FILLER)
        texts.append(text)
    texts[5:5] = [None, "", "   "]
    return texts


@pytest.fixture(scope="session")
def known_contacts() -> KnownContacts:
    return KnownContacts.from_recipients(recipients_frame())


@pytest.fixture(scope="session")
def anonymizer(known_contacts: KnownContacts) -> ConversationAnonymizer:
    """One analyzer for the whole session: building it loads the spaCy model."""
    return ConversationAnonymizer(known_contacts, SECRET, batch_size=64)


@pytest.fixture(scope="session")
def corpus() -> list[str | None]:
    return planted_corpus()


@pytest.fixture(scope="session")
def anonymized(anonymizer: ConversationAnonymizer, corpus: list[str | None]):
    return anonymizer.anonymize_texts(corpus)
