"""Topic hits from the taxonomy's word lists; agreement with the hand-labelled set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from astrabot_pipeline.conversations.agreement import (
    cohen_kappa,
    labelled_agreement,
    load_labelled_messages,
)
from astrabot_pipeline.conversations.topic import (
    OTHER,
    TOPIC_LABELS,
    TOPIC_WORDS,
    TOPICS,
    TopicClassifier,
    topic_forms,
    topic_of_hits,
)

LABELLED = Path(__file__).resolve().parents[1] / "data" / "labelled_messages.jsonl"


@pytest.fixture(scope="module")
def classifier() -> TopicClassifier:
    return TopicClassifier()


def _hits(classifier: TopicClassifier, text: str) -> dict[str, int]:
    row = classifier.hits([text])[0]
    return {topic: int(count) for topic, count in zip(TOPICS, row, strict=True) if count}


def test_each_listed_word_is_one_hit_for_its_topic(classifier) -> None:
    assert _hits(classifier, "Pizza and BEER tonight?") == {"food_drink": 2, "plans_logistics": 1}
    labels, scores = classifier.classify(["Pizza and BEER tonight?"])
    assert labels.tolist() == ["food_drink"] and scores.tolist() == [pytest.approx(2 / 3)]


def test_plurals_possessives_links_and_amounts_count(classifier) -> None:
    assert _hits(classifier, "cookies for the babies") == {"food_drink": 1, "family": 1}
    assert _hits(classifier, "my mom's car") == {"family": 1}
    assert _hits(classifier, "my mom’s car") == {"family": 1}
    assert _hits(classifier, "https://x.com/a/status/1 and www.example.org") == {"media_links": 2}
    assert _hits(classifier, "you owe me $20, or 15€") == {"money": 3}


def test_small_talk_wins_only_without_another_topic(classifier) -> None:
    labels, scores = classifier.classify(["hey hahaha ok", "hey lol, ramen?", "see the fence"])
    assert labels.tolist() == ["small_talk", "food_drink", OTHER]
    assert scores.tolist() == [1.0, 1.0, 0.0]


def test_ties_go_to_the_topic_listed_first() -> None:
    hits = np.zeros((2, len(TOPICS)), dtype="int32")
    hits[0, TOPICS.index("plans_logistics")] = hits[0, TOPICS.index("family")] = 2
    hits[1, TOPICS.index("feelings")] = hits[1, TOPICS.index("money")] = 1
    labels, scores = topic_of_hits(hits)
    assert labels.tolist() == ["family", "money"]
    assert scores.tolist() == [0.5, 0.5]


def test_missing_and_empty_texts_have_no_topic(classifier) -> None:
    hits = classifier.hits([None, "", "   ", "<PERSON> <LOCATION>"])
    assert hits.sum() == 0
    labels, scores = topic_of_hits(hits)
    assert set(labels) == {OTHER} and not scores.any()
    assert classifier.hits([]).shape == (0, len(TOPICS))


def test_word_lists_are_lower_case_and_disjoint() -> None:
    seen: dict[str, str] = {}
    for topic, words in TOPIC_WORDS.items():
        for word in words:
            assert word == word.lower().strip(), word
            assert seen.setdefault(word, topic) == topic, (word, seen[word], topic)
    assert set(topic_forms()) >= set(seen)


def test_labels_are_taxonomy_names_never_message_words(classifier) -> None:
    texts = ["zebra quantum", "tacos", "flight delayed", "", "lol"]
    labels, _ = classifier.classify(texts)
    assert set(labels) <= set(TOPIC_LABELS)


def test_cohen_kappa_matches_a_hand_computed_case() -> None:
    # p_o = 0.75; p_e = 0.5*0.25 + 0.5*0.75 = 0.5 -> kappa = 0.5
    assert cohen_kappa(np.array(["a", "a", "b", "b"]), np.array(["a", "b", "b", "b"])) == 0.5
    assert cohen_kappa(np.array(["a", "a"]), np.array(["a", "a"])) == 1.0


def test_agreement_with_the_hand_labelled_set_stays_above_its_floors() -> None:
    labelled = load_labelled_messages(LABELLED)
    assert len(labelled) >= 100 and set(labelled["split"]) == {"dev", "heldout"}
    dev = labelled_agreement(labelled[labelled["split"] == "dev"])
    heldout = labelled_agreement(labelled[labelled["split"] == "heldout"])
    # Floors a little under the figures measured when the set was written (dev / held-out:
    # topic accuracy 0.94 / 0.86; tone accuracy 0.68 / 0.48, kappa 0.51 / 0.22). Only dev
    # errors guided the word lists; the tone is VADER's, untouched by the set.
    assert dev.topic_accuracy >= 0.90
    assert heldout.topic_accuracy >= 0.80
    assert dev.tone_accuracy >= 0.64 and dev.tone_kappa >= 0.45
    assert heldout.tone_accuracy >= 0.44 and heldout.tone_kappa >= 0.15
