import math

import pandas as pd
import pytest

from astrabot_pipeline.conversations import (
    LABEL_RULES,
    RELATIONSHIP_COLUMNS,
    RELATIONSHIP_LABELS,
    ConversationProcessor,
    MissingTextColumnError,
    relationship_dynamics,
)
from astrabot_pipeline.conversations import relationship as rel
from astrabot_pipeline_tests.conftest import make_messages

HOUR = 3600


def _windows(rows, reactions=None) -> pd.DataFrame:
    messages = make_messages(rows)
    windows = ConversationProcessor().create_conversation_windows(messages, reactions, owner_id=1)
    return windows.rename(columns={"body": "text"})


def _chat(
    thread: int, sessions: int, owner_text: str = "sure thing", contact_text: str = "hey"
) -> list:
    rows = []
    for s in range(sessions):
        start = s * 5 * HOUR
        rows += [
            (thread, 2, False, start, contact_text),
            (thread, 1, True, start + 20, owner_text),
            (thread, 2, False, start + 50, contact_text),
            (thread, 1, True, start + 90, owner_text),
            (thread, 2, False, start + 130, contact_text),
        ]
    return rows


def test_balance_reciprocity_questions_and_emoji_are_measured_per_side():
    rows = [
        (1, 2, False, 0, "how are you?"),
        (1, 1, True, 30, "good 😂😂"),
        (1, 2, False, 60, "nice 👍🏽"),
        (1, 1, True, 90, "😂"),
    ]
    reactions = pd.DataFrame(
        {"message_id": [1, 2, 3], "author_id": [1, 2, 1], "emoji": ["❤️", "🔥", "❤️"]}
    )
    row = relationship_dynamics(_windows(rows, reactions), time_zone="UTC").iloc[0]
    assert row["messages"] == 4 and row["owner_messages"] == 2 and row["windows"] == 1
    assert row["owner_message_share"] == 0.5
    assert row["owner_char_share"] == pytest.approx(8 / (12 + 7 + 7 + 1))
    assert row["owner_mean_message_chars"] == pytest.approx(4.0)
    assert row["owner_reply_rate"] == 1.0 and row["contact_reply_rate"] == 0.5
    assert row["reply_reciprocity"] == 0.5
    assert row["owner_question_rate"] == 0.0 and row["contact_question_rate"] == 0.5
    assert row["owner_emoji_per_message"] == 1.5 and row["contact_emoji_per_message"] == 0.5
    assert row["emoji_reciprocity"] == pytest.approx(1 / 3)
    assert row["owner_emoji_only_rate"] == 0.5
    assert row["owner_top_emoji"] == "😂❤️" and row["contact_top_emoji"] == "👍🏽🔥"
    assert row["reactions_by_owner"] == 2 and row["reactions_by_contacts"] == 1
    assert row["reaction_reciprocity"] == 0.5
    assert row["owner_initiation_share"] == 0.0 and not row["is_group"]
    assert len(row["hour_profile"]) == 24 and len(row["weekday_profile"]) == 7


def test_a_group_where_the_owner_never_writes_works_with_nan_owner_rates():
    rows = [(5, 2 + i % 3, False, i * 30, "hi 😂" if i % 2 else "ok") for i in range(30)]
    row = relationship_dynamics(_windows(rows), time_zone="UTC").iloc[0]
    assert row["is_group"] and row["participants"] == 3
    assert row["owner_messages"] == 0 and row["owner_message_share"] == 0
    assert row["owner_char_share"] == 0
    for column in (
        "owner_mean_message_chars",
        "owner_reply_median_seconds",
        "contact_reply_rate",
        "reply_reciprocity",
        "owner_emoji_per_message",
        "emoji_reciprocity",
        "owner_question_rate",
        "owner_double_text_rate",
    ):
        assert math.isnan(row[column]), column
    assert row["owner_reply_rate"] == 0  # contacts' turns exist, none was answered
    assert row["owner_top_emoji"] == "" and row["contact_top_emoji"] == "😂"
    assert (row["label"], row["label_rule"]) == ("group", "group_thread")


def test_labels_follow_the_documented_rules():
    close = _chat(1, 12)
    few = _chat(2, 2)
    family = _chat(3, 6)
    terse = _chat(4, 6, owner_text="when?", contact_text="where?")
    one_sided = [(6, 2, False, i * 40, "hello") for i in range(25)]
    windows = _windows(close + few + family + terse + one_sided)
    profiles = windows.groupby("window_id", as_index=False)["thread_id"].first()
    profiles["topic"] = profiles["thread_id"].map({3: "family"}).fillna("media_links")
    profiles["tone_score"] = 0.5
    table = relationship_dynamics(windows, profiles, time_zone="UTC").set_index("thread_id")
    assert table.loc[1, "label_rule"] == "frequent_and_reciprocal"
    assert table.loc[1, "label"] == "close_friend"
    assert table.loc[2, "label_rule"] == "too_few_messages"
    assert table.loc[3, ["label", "label_rule"]].tolist() == ["family_like", "family_topics"]
    assert table.loc[3, "dominant_topic"] == "family" and table.loc[3, "family_topic_share"] == 1
    assert table.loc[4, ["label", "label_rule"]].tolist() == ["coordination", "terse_questions"]
    assert table.loc[6, ["label", "label_rule"]].tolist() == ["acquaintance", "otherwise"]
    assert table["mean_tone"].eq(0.5).all()
    assert set(table["label"]) <= set(RELATIONSHIP_LABELS)
    assert set(table["label_rule"]) <= set(LABEL_RULES)
    # Without profiles the topic rules cannot fire.
    plain = relationship_dynamics(windows, time_zone="UTC").set_index("thread_id")
    assert plain.loc[3, "label_rule"] != "family_topics" and plain["dominant_topic"].isna().all()


def test_logistics_topics_make_a_coordination_thread():
    windows = _windows(_chat(1, 12))
    profiles = windows.groupby("window_id", as_index=False)["thread_id"].first()
    profiles["topic"] = ["plans_logistics"] * 6 + ["feelings"] * 6
    row = relationship_dynamics(windows, profiles, time_zone="UTC").iloc[0]
    assert row["plans_logistics_topic_share"] == 0.5 >= rel.LOGISTICS_TOPIC_SHARE
    assert (row["label"], row["label_rule"]) == ("coordination", "logistics_topics")


def test_body_windows_empty_windows_and_a_missing_text_column():
    windows = _windows(_chat(1, 1)).rename(columns={"text": "body"})
    assert relationship_dynamics(windows, time_zone="UTC")["messages"].tolist() == [5]
    empty = relationship_dynamics(windows.iloc[:0], time_zone="UTC")
    assert empty.empty and list(empty.columns) == list(RELATIONSHIP_COLUMNS)
    with pytest.raises(MissingTextColumnError):
        relationship_dynamics(windows.drop(columns=["body"]), time_zone="UTC")
