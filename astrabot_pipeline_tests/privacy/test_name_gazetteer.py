"""Given names from the world name list: found where they read as names, left as words."""

from __future__ import annotations

import pytest

from astrabot_pipeline.privacy.name_gazetteer import EnglishLexicon, NameGazetteer, load_given_names

GIVEN = {
    "sunniva",
    "silvana",
    "monika",
    "will",
    "rose",
    "hope",
    "may",
    "faina",
    "hey",
    "sam",
    "cris",
    "jörg",
}
ENGLISH = {"will", "rose", "hope", "may", "said", "hey", "soon", "tales"}


@pytest.fixture(scope="module")
def gazetteer() -> NameGazetteer:
    return NameGazetteer(GIVEN, ENGLISH, is_noise=lambda word: word.lower() == "hey")


def names(gazetteer: NameGazetteer, text: str) -> list[str]:
    return [text[span.start : span.end] for span in gazetteer.find(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Sunniva is very reliable", ["Sunniva"]),  # no English word: a name anywhere
        ("tell silvana i said hi", ["silvana"]),  # lower-case, no English word
        ("follow up with monika žilková soon", ["monika žilková"]),
        ("verses from Faina D. Yefremova's tales", ["Faina D. Yefremova"]),
        ("ask Rose Delgado about it", ["Rose Delgado"]),  # Capitalized mid-sentence
        ("did you ask Rose?", ["Rose"]),
        ("Roberto's sister Sunniva's car", ["Sunniva"]),
    ],
)
def test_names_are_found_where_they_read_as_names(gazetteer, text, expected):
    assert names(gazetteer, text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "Will you be there?",  # sentence start: the word
        "i will call you later",
        "Hope you're ok. Rose prices again",
        "see you in May",  # a month, even Capitalized
        "did you ask Will?",  # a stop word stays a word wherever it stands
        "hey there",  # chat noise
    ],
)
def test_names_that_are_english_words_are_left_as_words(gazetteer, text):
    assert names(gazetteer, text) == []


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("anyone interested in CRIS, author profiles and the like", []),  # an acronym
        ("hey CRIS, are you coming tonight", ["CRIS"]),  # a chat cue names it
        ("WHERE IS CRIS", ["CRIS"]),  # a shouted message: every word is SHOUTED
        ("SUNNIVA IS HERE", ["SUNNIVA"]),
        ("did you see what JÖRG posted", ["JÖRG"]),  # acronyms have no accents
    ],
)
def test_a_shouted_listed_name_in_a_lower_case_message_is_an_acronym(gazetteer, text, expected):
    assert names(gazetteer, text) == expected


def test_lower_case_names_do_not_swallow_english_words_after_them(gazetteer):
    assert names(gazetteer, "hey sam said yes") == ["sam"]


def test_the_shipped_name_list_is_read():
    given = load_given_names()
    assert len(given) > 40_000
    assert {"sunniva", "antti", "tünde", "elínborg"} <= given


def test_english_words_are_known_in_every_inflection():
    lexicon = EnglishLexicon(
        ["run", "price", "kind"], ["ran"], [("s", ""), ("es", "e"), ("er", "")]
    )
    assert {"run", "ran", "prices", "kinder"} <= {
        w for w in ("run", "ran", "prices", "kinder") if w in lexicon
    }
    assert "silvana" not in lexicon and "runx" not in lexicon
    names_only = NameGazetteer({"ran", "silvana"}, lexicon)
    assert [(s.start, s.end) for s in names_only.find("she ran to silvana")] == [(11, 18)]


# Frequent words ("larry") beside dictionary words ("long"), and common family names.
_FREQUENT = {"larry", "brenda", "long", "crystal", "mike", "stone", "robinson", "way", "clear"}
_DICTIONARY = {"long", "crystal", "mike", "stone", "way", "clear", "park"}
_FAMILY = {"stone", "robinson", "way", "clear", "park", "long"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("assign to larry stone for 1.6", ["larry stone"]),
        ("brenda robinson from work added me", ["brenda robinson"]),
        ("that goes a long way", []),  # a given name that is a dictionary word: a word
        ("crystal clear", []),
        ("i saw mike park's email", []),  # the rule's recall cost: "mike" is a word too
        ("the larry build broke", []),  # a frequent word with no family name after it
    ],
)
def test_a_lower_case_given_name_before_a_common_family_name_is_a_name(text, expected):
    gazetteer = NameGazetteer(
        {"larry", "brenda", "long", "crystal", "mike"},
        _FREQUENT | _DICTIONARY,
        family_names=_FAMILY,
        in_dictionary=_DICTIONARY.__contains__,
    )
    assert names(gazetteer, text) == expected
