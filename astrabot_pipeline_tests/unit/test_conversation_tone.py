"""The vectorized VADER scorer equals vaderSentiment's own compound on every message."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from astrabot_pipeline.conversations.tone import ToneScorer, _round4, tone_labels
from astrabot_pipeline.synthetic import generate_corpus

from .vader_cases import EDGE_CASES, adversarial_texts

_LIBRARY = SentimentIntensityAnalyzer()
_WORDS = st.sampled_from(
    sorted(_LIBRARY.lexicon)[::7] + sorted(_LIBRARY.emojis)[::5] + list(EDGE_CASES)
)
_PIECES = st.one_of(_WORDS, _WORDS.map(str.upper), st.text(max_size=4))
_SEPARATORS = st.sampled_from([" ", "", "\n", "!", "?!", " ... ", "\u00a0", "\u200d", "\ufe0f"])


@pytest.fixture(scope="module")
def scorer() -> ToneScorer:
    return ToneScorer()


@pytest.fixture(scope="module")
def library() -> SentimentIntensityAnalyzer:
    return _LIBRARY


def _library_compound(library: SentimentIntensityAnalyzer, texts: list[str]) -> np.ndarray:
    return np.array([library.polarity_scores(t)["compound"] for t in texts])


def _assert_equal(scorer, library, texts: list[str]) -> np.ndarray:
    scores = scorer.score(texts)
    expected = _library_compound(library, texts)
    wrong = np.flatnonzero(np.abs(scores.compound - expected) > 1e-6)
    assert wrong.size == 0, [(texts[i], scores.compound[i], expected[i]) for i in wrong[:10]]
    return scores.routed


def test_hand_computed_scores_follow_vaders_rules(scorer: ToneScorer) -> None:
    # "good" is 1.9 in VADER's lexicon: 1.9 / sqrt(1.9^2 + 15) = 0.4404.
    # "not good": 1.9 * -0.74 = -1.406 -> -0.3412. "good!!!": 1.9 + 3 * 0.292 -> 0.5826.
    # "very good": 1.9 + 0.293 -> 0.4927. No lexicon word -> 0.
    compound = scorer.compound(["good", "not good", "good!!!", "very good", "see you at 7"])
    assert compound.tolist() == [0.4404, -0.3412, 0.5826, 0.4927, 0.0]


def test_edge_cases_equal_the_library(scorer, library) -> None:
    routed = _assert_equal(scorer, library, list(EDGE_CASES))
    # "but", "least", "kind of" and the idioms go to the library; the rest is vectorized.
    assert 0 < routed.sum() < len(EDGE_CASES) / 2


def test_thousands_of_adversarial_messages_equal_the_library(scorer, library) -> None:
    texts = adversarial_texts(3000, seed=11)
    scores = scorer.score(texts)
    routed = _assert_equal(scorer, library, texts)
    vectorized = ~routed & (scores.compound != 0)
    # The proof is only worth something if most scored messages took the vectorized path.
    assert vectorized.sum() > 1500
    assert routed.mean() < 0.35


def test_generated_chat_history_equals_the_library(scorer, library) -> None:
    corpus = generate_corpus(n_messages=2000, seed=3)
    texts = [m.body or "" for m in corpus.chat_messages]
    _assert_equal(scorer, library, texts)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(_PIECES, _SEPARATORS), max_size=10))
def test_any_mix_of_words_emoji_and_unicode_equals_the_library(scorer, library, pieces) -> None:
    text = "".join(word + separator for word, separator in pieces)
    compound = scorer.compound([text])[0]
    assert abs(compound - library.polarity_scores(text)["compound"]) <= 1e-6


def test_missing_texts_score_zero_and_inputs_of_any_shape_agree(scorer: ToneScorer) -> None:
    texts = ["so happy", None, "", "awful", np.nan]
    from_list = scorer.compound(texts)
    from_series = scorer.compound(pd.Series(texts, dtype=object))
    from_str_series = scorer.compound(pd.Series(texts, dtype="str"))
    assert from_list[1] == from_list[2] == from_list[4] == 0.0
    assert from_list[0] > 0.05 and from_list[3] < -0.05
    np.testing.assert_array_equal(from_list, from_series)
    np.testing.assert_array_equal(from_list, from_str_series)
    assert scorer.compound([]).shape == (0,)


def test_vectorized_rounding_is_pythons_round_even_next_to_a_half() -> None:
    halves = (np.arange(-10_000, 10_000) + 0.5) / 10_000
    values = np.concatenate(
        [halves, np.nextafter(halves, 2), np.nextafter(halves, -2), np.arange(-32, 33) / 32]
    )
    expected = [round(value, 4) for value in values.tolist()]
    assert _round4(values).tolist() == expected


def test_labels_use_vaders_documented_thresholds() -> None:
    labels = tone_labels([0.05, 0.0499, 0.0, -0.0499, -0.05, 0.9, -0.9])
    assert labels.tolist() == [
        "positive",
        "neutral",
        "neutral",
        "neutral",
        "negative",
        "positive",
        "negative",
    ]
