import pandas as pd
import pytest

from astrabot_pipeline.conversations import ConversationProcessor, EmojiAnalyzer
from astrabot_pipeline_tests.conftest import make_messages

MINUTE = 60


def test_a_gap_longer_than_the_window_size_starts_a_new_window():
    messages = make_messages(
        [(1, 2, False, 0, "a"), (1, 1, True, 60, "b"), (1, 2, False, 120, "c")]
        + [
            (1, 2, False, 120 + 31 * MINUTE, "d"),
            (1, 1, True, 121 + 31 * MINUTE, "e"),
            (1, 2, False, 122 + 31 * MINUTE, "f"),
        ]
    )
    windows = ConversationProcessor(window_size_minutes=30).create_conversation_windows(messages)
    assert windows["window_id"].nunique() == 2
    assert windows.groupby("window_id").size().tolist() == [3, 3]


def test_windows_below_the_minimum_size_are_dropped():
    messages = make_messages(
        [(1, 2, False, 0, "a"), (1, 1, True, 60, "b"), (1, 2, False, 10_000, "c")]
    )
    windows = ConversationProcessor(min_messages_per_window=3).create_conversation_windows(messages)
    assert windows.empty


def test_threads_never_share_a_window_even_when_interleaved_in_time():
    messages = make_messages([(t, 2, False, s, "x") for s in range(0, 600, 60) for t in (1, 2)])
    windows = ConversationProcessor().create_conversation_windows(messages)
    assert windows.groupby("window_id")["thread_id"].nunique().max() == 1
    assert windows["window_id"].nunique() == 2


def test_a_long_active_session_is_capped_at_the_maximum_span():
    messages = make_messages([(1, 1 + i % 2, i % 2 == 0, i * 20 * MINUTE, "x") for i in range(10)])
    processor = ConversationProcessor(window_size_minutes=30, max_window_minutes=60)
    windows = processor.create_conversation_windows(messages)
    assert windows["window_span_seconds"].max() <= 60 * MINUTE
    # slices of 60 min from the session start: 3 + 3 + 3 messages, the lone 10th is dropped
    assert windows.groupby("window_id").size().tolist() == [3, 3, 3]


def test_bursts_group_consecutive_messages_of_one_sender_within_the_gap():
    messages = make_messages(
        [
            (1, 2, False, 0, "q?"),
            (1, 1, True, 30, "one"),
            (1, 1, True, 60, "two"),
            (1, 1, True, 400, "three"),
        ]
    )
    windows = ConversationProcessor(burst_gap_seconds=120).create_conversation_windows(messages)
    bursts = windows.groupby("burst_id")["message_id"].apply(list).tolist()
    assert bursts == [[1], [2, 3], [4]]
    assert windows["is_question"].tolist() == [True, False, False, False]
    assert windows["response_seconds"].tolist()[1] == 30


def test_relationship_dynamics_measure_owner_share_and_reply_time():
    messages = make_messages(
        [
            (1, 2, False, 0, "hey"),
            (1, 1, True, 90, "hi 😀"),
            (1, 2, False, 100, "ok"),
            (1, 1, True, 130, "good"),
        ]
    )
    processor = ConversationProcessor()
    dynamics = processor.analyze_relationship_dynamics(
        processor.create_conversation_windows(messages)
    )
    row = dynamics.iloc[0]
    assert row["owner_share"] == pytest.approx(0.5)
    assert row["owner_median_reply_seconds"] == pytest.approx(60)
    assert row["initiation_share"] == 0
    assert row["emoji_per_message"] == pytest.approx(0.25)


def test_emoji_analyzer_counts_multi_codepoint_emoji_once_and_ignores_missing_bodies():
    analyzer = EmojiAnalyzer()
    counts = analyzer.count_column(pd.Series(["👍🏽 nice 👨‍👩‍👧", None, "plain"]))
    assert counts.tolist() == [2, 0, 0]


def test_contract_tables_with_nullable_dtypes_window_like_plain_ones():
    from astrabot_pipeline.signal.tables import conform

    plain = make_messages([(1, 2, False, 0, "a"), (1, 1, True, 60, "b"), (1, 2, False, 120, "c")])
    contract = conform(
        "messages",
        plain.assign(received_at=None, quote_message_id=None, attachment_count=0, edited=False),
    ).astype({"message_id": "Int64", "thread_id": "Int64", "sender_id": "Int64"})
    processor = ConversationProcessor()
    windows = processor.create_conversation_windows(contract)
    assert windows["window_id"].tolist() == ["t1-m1"] * 3
