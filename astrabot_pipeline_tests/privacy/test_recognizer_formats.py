"""Formats beyond US chat style: European streets, grouped numbers, cards, SSNs."""

from __future__ import annotations

import pytest

from astrabot_pipeline.privacy.recognizers import (
    PHONE_NUMBER,
    STREET_ADDRESS,
    ChatPhoneRecognizer,
    LuhnCardRecognizer,
    StreetAddressRecognizer,
)


def found(recognizer, entity: str, text: str) -> list[str]:
    return [text[r.start : r.end] for r in recognizer.analyze(text, [entity])]


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("i live at Koskikatu 25 now", "Koskikatu 25"),
        ("it's 1072 Pohlstrasse 9\nSuite 858\nBÖRSSUM\nGermany 74285", None),
        ("meet at Via Franscini 71?", "Via Franscini 71"),
        ("62 Rue Gafsa, Apt. 981", "62 Rue Gafsa, Apt. 981"),
        ("14 Crown Street\n Suite 321\n LONDON\n United Kingdom 75419", None),
        # A name and the house number after it, with a house number before or a part after.
        ("the address: 692 Kuuse 53 Apt. 641, Grubbenvorst, Netherlands 04020", None),
        ("send it to Dunajska 56, Studenec", "Dunajska 56, Studenec"),
        (
            "Fuglie 41 Popović Dam\n Suite 860\n UPPLANDS VÄSBY\n Sweden 56687",
            "Fuglie 41 Popović Dam\n Suite 860\n UPPLANDS VÄSBY\n Sweden 56687",
        ),
        ("it's 9931 14 Iliou Street, MARIEHOLM, Sweden", None),
        ("lives at 10252 Μεγάλη Άμμος 184, ΠΑΦΟΣ", None),
        ("on Villacher Strasse 89 now", "Villacher Strasse 89"),
        ("at 29 Rue de Tanger tonight", "29 Rue de Tanger"),
        ("Via dei Fiorentini 17\nRoma", "Via dei Fiorentini 17\nRoma"),
        # Quoted lines, blank lines, and a postal code closing the last part mid-sentence.
        ("> 772 ul. Narewska 94\n> Apt. 478\n>\n> Poznań\n> Poland 35403", None),
        ("at 2035 Gewerbepark 45 Apt. 815 Suite 979, Brú, Iceland 82407", None),
        # Boxes and military post.
        ("PO: 0912 P.O. Box 287 Apt. 051, Tallinn, Estonia", None),
        ("PSC 4095, Box 8316\nAPO AE 85103", "PSC 4095, Box 8316\nAPO AE 85103"),
        ("USNS Bergman\nFPO AP 93757", "USNS Bergman\nFPO AP 93757"),
        ("meet at the corner of Kuusiku 7 and Alexander Flat", "Kuusiku 7 and Alexander Flat"),
    ],
)
def test_street_addresses_of_other_countries_are_found_with_their_lines(text, address):
    expected = address or text[text.index(next(c for c in text if c.isdigit())) :]
    assert found(StreetAddressRecognizer(), STREET_ADDRESS, text) == [expected]


@pytest.mark.parametrize(
    "text",
    [
        "Via email is fine",
        "Weg 5 minutes",
        "the ring 5 times",
        "Windows 11, Mac is better",
        "we won Game 7 lol",
        "Area 51 is real",
        "i have 2 cats and 3 dogs",
        "Season 2 was better\nSeason 3 meh",
        "top 10 Movies 2024",
        "USS Enterprise is my fav ship",
    ],
)
def test_street_words_without_a_house_number_are_not_addresses(text):
    assert found(StreetAddressRecognizer(), STREET_ADDRESS, text) == []


@pytest.mark.parametrize(
    "phone", ["0490 75 40 81", "(37) 788-063", "467 3395", "03.93.92.16.85", "345-899-3560x4587"]
)
def test_grouped_and_extension_phone_numbers_are_found(phone):
    assert found(ChatPhoneRecognizer(), PHONE_NUMBER, f"call {phone} pls") == [phone]


@pytest.mark.parametrize("text", ["due 12.03.2024 ok", "ssn 123-45-6789", "born 1990-04-12"])
def test_dates_and_social_security_numbers_are_not_phones(text):
    assert found(ChatPhoneRecognizer(), PHONE_NUMBER, text) == []


def test_luhn_valid_numbers_of_any_card_length_are_cards():
    cards = LuhnCardRecognizer()
    # 19 digits and a 2-series prefix: both outside Presidio's card pattern.
    assert cards.validate_result("4131034282458809939")
    assert cards.validate_result("2720-4186-9525-2980")
    assert not cards.validate_result("4131034282458809938")
    text = "card 4131034282458809939 or 2720 4186 9525 2980, not 4131034282458809938"
    assert found(cards, "CREDIT_CARD", text) == ["4131034282458809939", "2720 4186 9525 2980"]


@pytest.mark.parametrize(
    ("text", "card"),
    [
        ("pay with 4111-1111-1111-1111 ok", "4111-1111-1111-1111"),  # dashes
        ("pay with 4111 1111 1111 1111 ok", "4111 1111 1111 1111"),  # spaces
        ("id 000000000000 here", "000000000000"),  # 12 digits, the shortest
        ("id 00000000000 here", None),  # 11 digits: too short
        ("id 41310342824588099390 here", None),  # 20 digits: too long
        ("v1.4111111111111111 ok", None),  # part of a version or decimal
        ("4111 1111  1111 1111", None),  # two spaces break a group
        ("4111_1111_1111_1111", None),  # not a card separator
    ],
)
def test_card_numbers_are_12_to_19_digits_grouped_by_single_spaces_or_dashes(text, card):
    assert found(LuhnCardRecognizer(), "CREDIT_CARD", text) == ([card] if card else [])
