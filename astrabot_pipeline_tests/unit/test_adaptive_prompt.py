"""The adaptive family's system prompt, from relationship_dynamics and window_profiles rows."""

from __future__ import annotations

import math

import pandas as pd

from astrabot_pipeline.dataset.adaptive_prompt import (
    DEFAULT_SYSTEM_PROMPT,
    RELATIONSHIP_PHRASES,
    TONE_PHRASES,
    TOPIC_PHRASES,
    adaptive_prompts,
    describe,
)


def _dynamics(**overrides) -> pd.DataFrame:
    row = {
        "thread_id": 7,
        "is_group": False,
        "label": "close_friend",
        "owner_reply_median_seconds": 25.0,
        "owner_mean_message_chars": 18.0,
        "owner_emoji_per_message": 0.6,
        "owner_top_emoji": "😂🥲",
    }
    row.update(overrides)
    return pd.DataFrame([row])


def _profiles(*rows: tuple[str, int, str, str]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["window_id", "thread_id", "topic", "tone"])


def test_a_close_friend_window_about_food_reads_as_the_owner_writes_there():
    prompts = adaptive_prompts(_dynamics(), _profiles(("t7-m1", 7, "food_drink", "positive")))
    assert prompts == {
        "t7-m1": "You are chatting one-to-one with a close friend on Signal. The conversation "
        "is about food and drink, and its mood is upbeat. Here you usually reply within a "
        "minute, in short messages, often with emoji (😂🥲). Reply the way you always do."
    }


def test_each_window_of_a_thread_gets_its_own_topic_and_tone():
    prompts = adaptive_prompts(
        _dynamics(),
        _profiles(("t7-m1", 7, "travel", "neutral"), ("t7-m9", 7, "small_talk", "negative")),
    )
    assert "about travel, and its mood is matter-of-fact." in prompts["t7-m1"]
    # small talk is left unsaid; the tone still is
    assert "The mood of the conversation is tense or low." in prompts["t7-m9"]
    assert "about" not in prompts["t7-m9"]


def test_a_group_and_slow_long_replies_without_emoji():
    dynamics = _dynamics(
        is_group=True,
        label="group",
        owner_reply_median_seconds=3_600.0,
        owner_mean_message_chars=120.0,
        owner_emoji_per_message=0.0,
    )
    prompt = adaptive_prompts(dynamics, _profiles(("w", 7, "other", "neutral")))["w"]
    assert prompt.startswith("You are chatting in a group chat on Signal.")
    assert "reply after a while, in longer messages, rarely with emoji." in prompt


def test_a_thread_where_the_owner_never_replied_says_how_they_write_not_how_fast():
    dynamics = _dynamics(owner_reply_median_seconds=math.nan, owner_emoji_per_message=0.1)
    prompt = adaptive_prompts(dynamics, _profiles(("w", 7, "money", "neutral")))["w"]
    assert "Here you usually write in short messages, sometimes with emoji." in prompt
    assert "reply" not in prompt.split("Here you usually")[1].split(".")[0]


def test_unknown_labels_and_missing_rows_fall_back_to_plain_words():
    prompt = adaptive_prompts(
        _dynamics(label="not-a-label"), _profiles(("w", 7, "not-a-topic", "?"))
    )["w"]
    assert "one-to-one with someone you know" in prompt
    assert "conversation" not in prompt  # no topic, no tone: nothing said about them
    orphan = adaptive_prompts(_dynamics(), _profiles(("w", 99, "health", "positive")))["w"]
    assert orphan == (
        "You are chatting on Signal. The conversation is about health, and its mood is "
        "upbeat. Reply the way you always do."
    )
    assert describe(None, None) == DEFAULT_SYSTEM_PROMPT


def test_every_phrase_comes_from_the_fixed_vocabulary():
    """Nothing of a row but its labels and numbers reaches the prompt (the top emoji aside)."""
    dynamics = _dynamics(owner_top_emoji="")
    prompt = adaptive_prompts(dynamics, _profiles(("w", 7, "tech", "negative")))["w"]
    assert RELATIONSHIP_PHRASES["close_friend"] in prompt
    assert TOPIC_PHRASES["tech"] in prompt and TONE_PHRASES["negative"] in prompt
    assert "often with emoji." in prompt
