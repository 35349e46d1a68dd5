from __future__ import annotations

import pytest

from astrabot_pipeline.privacy import KnownContacts

from .conftest import CONTACTS, ED, PRIYA, SAM, WILL, recipients_frame


def spans(text: str, matches) -> list[str]:
    return [text[m.start : m.end] for m in matches]


def test_every_person_and_the_owner_are_known_but_groups_are_not(known_contacts):
    assert set(known_contacts.keys) == {f"recipient:{c.recipient_id}" for c in CONTACTS}
    assert "recipient:9" not in known_contacts.keys


def test_all_name_forms_of_one_person_share_one_key(known_contacts):
    text = "Sam, sam okafor, SAMMY, okafor, samo.42 and Sammy O"
    found = known_contacts.find_names(text)
    assert spans(text, found) == ["Sam", "sam okafor", "SAMMY", "okafor", "samo.42", "Sammy O"]
    assert {m.key for m in found} == {f"recipient:{SAM.recipient_id}"}


def test_display_name_and_username_lead_words_are_name_forms(known_contacts):
    # "Priya 🌸" is a display name; "samo" leads the username "samo.42".
    assert spans("priya🌸 and samo", known_contacts.find_names("priya🌸 and samo")) == [
        "priya",
        "samo",
    ]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sam's bike", ["sam"]),
        ("Priya’s place", ["Priya"]),
        ("Priya!!🎉", ["Priya"]),
        ("🎉priya🎉", ["priya"]),
        ("(it was sam)", ["sam"]),
        ("@Sam look", ["Sam"]),
        ("Sam\nOkafor", ["Sam\nOkafor"]),
    ],
)
def test_names_match_case_insensitively_on_word_boundaries(known_contacts, text, expected):
    assert spans(text, known_contacts.find_names(text)) == expected


@pytest.mark.parametrize(
    "text",
    [
        "same sample samosa Samsung",
        "i edited the education notes",
        "priyanka and sammie",
        "i will be willing",
    ],
)
def test_names_inside_other_words_and_stop_word_names_in_lowercase_are_not_matches(
    known_contacts, text
):
    assert known_contacts.find_names(text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("at priyas place rn", ["priya"]),  # chat's possessive with no apostrophe
        ("this is Sam Okafors new number", ["Sam Okafor"]),
        ("she wills it and pays the bills", []),  # a common-word form: the word plus s
    ],
)
def test_a_possessive_without_apostrophe_is_the_name_with_its_s_left_outside(
    known_contacts, text, expected
):
    """Issue 20: "at ryans place", "Gabriellas work mail" left all 15 known identifiers
    that survived on the generic multi-locale set."""
    assert spans(text, known_contacts.find_names(text)) == expected


def test_a_stop_word_name_counts_when_capitalized(known_contacts):
    text = "Will said he will come, WILL is late"
    assert spans(text, known_contacts.find_names(text)) == ["Will", "WILL"]


@pytest.mark.parametrize("phone", SAM.phone_forms)
def test_a_known_number_matches_in_any_formatting(known_contacts, phone):
    text = f"call me at {phone} ok"
    found = known_contacts.find_phones(text)
    assert [m.key for m in found] == [f"recipient:{SAM.recipient_id}"]
    assert text[found[0].start : found[0].end].replace("(", "").replace("+", "") in phone.replace(
        "(", ""
    ).replace("+", "")


@pytest.mark.parametrize("phone", ["+44 7700 900123", "07700 900123", "0044 7700 900 123"])
def test_international_numbers_match_with_country_code_or_trunk_zero(known_contacts, phone):
    assert [m.key for m in known_contacts.find_phones(f"it's {phone}")] == [
        f"recipient:{WILL.recipient_id}"
    ]


def test_two_numbers_in_one_run_of_digits_are_both_found(known_contacts):
    text = "415 555 0134 / 206 555 0188"
    assert [m.key for m in known_contacts.find_phones(text)] == [
        f"recipient:{SAM.recipient_id}",
        f"recipient:{PRIYA.recipient_id}",
    ]


def test_other_numbers_are_not_known_numbers(known_contacts):
    assert known_contacts.find_phones("order 5550134, 2024-05-12, 415 555 0199") == []


def test_emails_match_case_insensitively_inside_brackets(known_contacts):
    text = "mail <Sam.Okafor@Gmail.com>, or ed@lindqvist.se."
    assert spans(text, known_contacts.find_emails(text)) == [
        "Sam.Okafor@Gmail.com",
        "ed@lindqvist.se",
    ]


def test_name_forms_shorter_than_two_characters_are_skipped():
    frame = recipients_frame()
    frame.loc[frame["recipient_id"] == ED.recipient_id, "nickname"] = "E"
    contacts = KnownContacts.from_recipients(frame)
    assert ("e",) not in contacts.names
    assert contacts.find_names("E is here, Ed too") != []


def test_address_book_names_from_recipient_names_are_known_too():
    import pandas as pd

    name_forms = pd.DataFrame(
        {
            "recipient_id": [PRIYA.recipient_id, PRIYA.recipient_id],
            "source": ["system_given", "system_joined"],
            "name": ["Priyanka", "Priyanka Raghunathan"],
        }
    )
    contacts = KnownContacts.from_recipients(recipients_frame(), name_forms)
    text = "priyanka said hi, Priyanka Raghunathan's bag"
    found = contacts.find_names(text)
    assert spans(text, found) == ["priyanka", "Priyanka Raghunathan"]
    assert {m.key for m in found} == {f"recipient:{PRIYA.recipient_id}"}
    assert KnownContacts.from_recipients(recipients_frame()).find_names(text) == []
