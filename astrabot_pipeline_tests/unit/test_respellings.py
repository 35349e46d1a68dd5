"""Texting's respellings of frequent words are recognised, and names are not read as them."""

from __future__ import annotations

import pytest

from astrabot_pipeline.privacy.respellings import Respellings

FREQUENT = ["joking", "guessing", "whenever", "somewhere", "because", "thats", "tomorrow",
            "where", "so", "daring", "class", "never", "really", "wanna", "could"]  # fmt: skip


@pytest.mark.parametrize(
    ("word", "original"),
    [
        ("jokin", "joking"),  # a dropped g
        ("guessin", "guessing"),
        ("whenevr", "whenever"),  # dropped vowels
        ("somewhr", "somewhere"),
        ("becaus", "because"),
        ("thts", "thats"),
        ("Tomarrow", "tomorrow"),  # one vowel changed, any case
        ("wherre", "where"),  # a letter doubled
        ("sooooo", "so"),  # stretched
        ("realy", "really"),  # a doubled letter written once
        ("wana", "wanna"),
        ("clas", "class"),
    ],
)
def test_texting_respellings_name_the_word_they_respell(word, original):
    assert Respellings(FREQUENT).original(word) == original


@pytest.mark.parametrize(
    "word",
    [
        "tessy",  # rare names keep their vowels
        "yunny",
        "raji",
        "smwhr",  # four vowels dropped: more than texting drops
        "tomorrow",  # a frequent word is no respelling
        "coud",  # a consonant dropped (not one of a double)
        "so",  # too short to tell
        "tomorrows",  # a letter added
        "nevar",  # a vowel changed in a short word
    ],
)
def test_names_and_other_words_are_no_respellings(word):
    assert Respellings(FREQUENT).original(word) is None


def test_a_listed_name_is_never_read_as_a_respelling():
    respellings = Respellings(FREQUENT)
    assert respellings.original("darin") == "daring"
    assert respellings.unless_named({"darin"}, {"smith"})("Darin") is None
