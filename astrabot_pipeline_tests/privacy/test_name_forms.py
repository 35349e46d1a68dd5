"""Diminutives of known names, and names that are also everyday English words."""

from __future__ import annotations

import pandas as pd
import pytest

from astrabot_pipeline.privacy import ConversationAnonymizer, KnownContacts
from astrabot_pipeline.signal.tables import conform

from .conftest import SECRET

# (recipient_id, given, family, nickname); every person here is made up.
PEOPLE = (
    (1, "William", "Hartley", None),
    (2, "Katherine", "Osei", None),
    (3, "Rose", "Delacroix", None),
    (4, "Mark", "Ibsen", None),
    (5, "Hope", "Varga", None),
    (6, "Bill", "Nakashima", None),  # a real "Bill": beats William's derived "Bill"
    (7, "Dana", "Mercer", "Mom"),
)


def contacts_frame() -> pd.DataFrame:
    rows = [
        {
            "recipient_id": rid,
            "is_self": False,
            "is_group": False,
            "display_name": f"{given} {family}",
            "given_name": given,
            "family_name": family,
            "nickname": nickname,
            "e164": f"+1206555{rid:04d}",
            "email": None,
            "username": None,
            "aci": f"00000000-0000-4000-8000-{rid:012d}",
            "group_title": None,
        }
        for rid, given, family, nickname in PEOPLE
    ]
    return conform("recipients", pd.DataFrame(rows))


@pytest.fixture(scope="module")
def contacts() -> KnownContacts:
    return KnownContacts.from_recipients(contacts_frame())


def names_in(contacts: KnownContacts, text: str) -> list[tuple[str, str]]:
    return [(text[m.start : m.end], m.key) for m in contacts.find_names(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Will's here already", [("Will", "recipient:1")]),
        ("liam and Willy are late", [("liam", "recipient:1"), ("Willy", "recipient:1")]),
        ("kate said hi, Katie too", [("kate", "recipient:2"), ("Katie", "recipient:2")]),
        ("KATHY!!", [("KATHY", "recipient:2")]),
    ],
)
def test_diminutives_of_a_given_name_are_that_person(contacts, text, expected):
    assert names_in(contacts, text) == expected


def test_a_name_the_address_book_spells_out_beats_a_derived_diminutive(contacts):
    assert names_in(contacts, "Bill is driving") == [("Bill", "recipient:6")]


@pytest.mark.parametrize(
    "text",
    [
        "i will call you later",
        "Will you be there?",
        "Hope you're feeling better",
        "hope it helps",
        "i hope so",
        "Mark my words",
        "did they mark it?",
        "got her a rose",
        "my mom says hi",
        "the bill came",
        "May I borrow it",
    ],
)
def test_names_that_are_words_are_left_alone_where_used_as_words(contacts, text):
    assert names_in(contacts, text) == []


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Will, you coming?", "Will"),
        ("tell rose i said hi", "rose"),
        ("ask Mark about it", "Mark"),
        ("mark's car broke down", "mark"),
        ("hope is coming tonight", "hope"),
        ("Hope is coming tonight", "Hope"),
        ("call mom later", "mom"),
    ],
)
def test_names_that_are_words_are_still_found_where_used_as_names(contacts, text, name):
    assert [found for found, _ in names_in(contacts, text)] == [name]


def test_a_diminutive_gets_the_same_surrogate_as_the_name_it_comes_from(contacts):
    anonymizer = ConversationAnonymizer(contacts, SECRET, batch_size=8)
    texts = anonymizer.anonymize_texts(["William is here", "Will is here", "bob is here"]).texts
    assert texts[0] == texts[1]
    assert texts[0] != "William is here"
    assert texts[2] == "bob is here"  # no Robert among the contacts
