from __future__ import annotations

import pytest

from astrabot_pipeline.privacy.recognizers import (
    PHONE_NUMBER,
    STREET_ADDRESS,
    ChatPhoneRecognizer,
    KnownContactNameRecognizer,
    StreetAddressRecognizer,
)


def found(recognizer, entity: str, text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, [entity])]


@pytest.fixture(scope="module")
def addresses() -> StreetAddressRecognizer:
    return StreetAddressRecognizer()


@pytest.fixture(scope="module")
def phones() -> ChatPhoneRecognizer:
    return ChatPhoneRecognizer()


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("moved to 1234 linden avenue btw", "1234 linden avenue"),
        ("meet at 77 Harwood St?", "77 Harwood St"),
        ("221B Baker St. is the one", "221B Baker St."),
        ("i'm at 4146 Marlowe St, Cambridge", "4146 Marlowe St, Cambridge"),
        ("4146 Marlowe St, Cambridge is nice", "4146 Marlowe St"),
        ("12 Oak Ave, Apt 4B, Springfield, IL 62704", "12 Oak Ave, Apt 4B, Springfield, IL 62704"),
        (
            "send it to\n4114 Linden Avenue\nPortland, OR 97205\nthx",
            "4114 Linden Avenue\nPortland, OR 97205",
        ),
        ("apt 4 at 55 Kessler Way\nBoulder, CO 80302", "55 Kessler Way\nBoulder, CO 80302"),
        ("9 rue st, springfield il 62704", "9 rue st, springfield il 62704"),
    ],
)
def test_street_addresses_are_found_with_their_city_line(addresses, text, address):
    assert found(addresses, STREET_ADDRESS, text) == [address]


@pytest.mark.parametrize(
    "text",
    [
        "5 minutes down the road",
        "its a 10 min drive",
        "I have 2 cats way too many",
        "we walked 3 blocks down the street",
        "came 2nd place lol",
        "3 more days till the way",
    ],
)
def test_quantities_before_street_words_are_not_addresses(addresses, text):
    assert found(addresses, STREET_ADDRESS, text) == []


@pytest.mark.parametrize(
    "phone",
    [
        "+1 415 555 0134",
        "(415) 555-0134",
        "415.555.0134",
        "415-555-0134",
        "4155550134",
        "1-415-555-0134",
        "+44 7700 900123",
        "0044 7700 900123",
        "07700 900123",
        "+4915112345678",
    ],
)
def test_chat_phone_numbers_are_found_in_common_formats(phones, phone):
    assert found(phones, PHONE_NUMBER, f"call me at {phone}!") == [phone]


@pytest.mark.parametrize(
    "text", ["on 2024-05-12 at 10:30", "it cost 1,250.00", "room 1205", "v1.2.3"]
)
def test_dates_prices_and_short_numbers_are_not_phones(phones, text):
    assert found(phones, PHONE_NUMBER, text) == []


def test_known_name_recognizer_reports_only_its_entity(known_contacts):
    recognizer = KnownContactNameRecognizer(known_contacts)
    assert found(recognizer, "KNOWN_CONTACT_NAME", "hey sam") == ["sam"]
    assert recognizer.analyze("hey sam", ["PERSON"]) == []
