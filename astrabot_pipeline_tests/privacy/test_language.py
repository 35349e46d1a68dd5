"""Non-English messages are detected and counted, never altered or dropped."""

from __future__ import annotations

import pytest

from astrabot_pipeline.privacy.language import classify, detect_languages
from astrabot_pipeline.synthetic import generate_corpus

ENGLISH = [
    "are you coming tonight?",
    "running 10 min late sorry",
    "i will bring the wine",
    "see you at 7",
    "honestly i'll probably do taxes",
    "have you seen this https://x.com/someone/status/1508738273157104087",
    "omg that was so funny lol",
]
OTHER_LATIN = [
    "no me gusta la comida",
    "je ne sais pas ce que tu veux",
    "ich weiß nicht was du meinst",
    "che cosa fai stasera",
    "não sei o que você quer",
    "ik weet het niet meer",
]
OTHER_SCRIPTS = {
    "привет как дела": "CYRILLIC",
    "今日は何をしますか": "HIRAGANA",
    "你好": "HAN",
    "مرحبا كيف حالك": "ARABIC",
    "γεια": "GREEK",
}
TOO_SHORT = ["lol ok", "🎉🎉", "", "   ", None, "7:30?", "Sam!!"]


@pytest.mark.parametrize("text", ENGLISH)
def test_english_chat_messages_are_english(text):
    assert classify(text)[0] == "english"


@pytest.mark.parametrize("text", OTHER_LATIN)
def test_other_latin_script_languages_are_not_english(text):
    assert classify(text) == ("non_english", "LATIN")


@pytest.mark.parametrize(("text", "script"), OTHER_SCRIPTS.items())
def test_other_scripts_are_not_english_however_short(text, script):
    assert classify(text) == ("non_english", script)


@pytest.mark.parametrize("text", TOO_SHORT)
def test_messages_under_three_words_are_too_short_to_tell(text):
    assert classify(text)[0] == "too_short"


def test_the_report_counts_every_message_and_each_script():
    texts = [*ENGLISH, *OTHER_LATIN, *OTHER_SCRIPTS, *TOO_SHORT]
    report = detect_languages(texts)
    assert (report.english, report.non_english, report.too_short) == (7, 11, 7)
    assert report.total == len(texts)
    assert report.scripts["LATIN"] == 7 + 6 + 2  # short ones with letters: "lol ok", "Sam!!"
    assert report.scripts["CYRILLIC"] == 1
    assert report.needs_warning


def test_metadata_holds_numbers_only():
    metadata = detect_languages([*ENGLISH, *OTHER_LATIN]).to_metadata()
    assert all(isinstance(value, int | float) for value in metadata.values())
    assert metadata["language_non_english"] == len(OTHER_LATIN)


def test_a_few_non_english_messages_stay_under_the_warning_threshold():
    report = detect_languages([*ENGLISH * 5, OTHER_LATIN[0]])
    assert report.non_english == 1 and not report.needs_warning


def test_the_english_demo_corpus_raises_no_warning():
    corpus = generate_corpus(n_messages=1_500, seed=3)
    report = detect_languages(message.body for message in corpus.chat_messages)
    assert report.english > report.too_short > 0
    assert not report.needs_warning, report
