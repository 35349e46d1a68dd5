import numpy as np
import pandas as pd

from astrabot_pipeline.conversations import WINDOW_COLUMNS, ConversationProcessor, EmojiAnalyzer
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


def _same_windows(a: pd.DataFrame, b: pd.DataFrame) -> None:
    columns = ["message_id", "window_id", "position_in_window", "burst_id", "gap_seconds"]
    pd.testing.assert_frame_equal(a[columns], b[columns])


def test_identical_timestamps_stay_in_one_window_in_message_id_order():
    messages = make_messages(
        [(1, 2, False, 0, "a"), (1, 1, True, 0, "b"), (1, 2, False, 0, "c"), (1, 1, True, 5, "d")]
    )
    windows = ConversationProcessor().create_conversation_windows(messages.iloc[::-1])
    assert windows["message_id"].tolist() == [1, 2, 3, 4]
    assert windows["window_id"].nunique() == 1
    assert windows["gap_seconds"].tolist()[1:] == [0.0, 0.0, 5.0]
    assert windows["response_seconds"].tolist()[1:] == [0.0, 0.0, 5.0]


def test_windowing_uses_sent_at_so_clock_skew_in_received_at_changes_nothing():
    messages = make_messages([(1, 2, False, 60 * i, "x") for i in range(4)])
    skewed = messages.assign(received_at=messages["sent_at"] - pd.Timedelta(hours=3))
    processor = ConversationProcessor()
    plain = processor.create_conversation_windows(messages)
    _same_windows(plain, processor.create_conversation_windows(skewed))
    assert len(plain) == 4


def test_empty_and_attachment_only_bodies_are_ordinary_messages():
    messages = make_messages(
        [
            (1, 2, False, 0, ""),
            (1, 1, True, 10, None),
            (1, 2, False, 20, "   "),
            (1, 1, True, 30, "ok?"),
        ]
    )
    windows = ConversationProcessor().create_conversation_windows(messages)
    assert len(windows) == 4
    assert windows["emoji_count"].tolist() == [0, 0, 0, 0]
    assert windows["emoji_only"].tolist() == [False] * 4
    assert windows["is_question"].tolist() == [False, False, False, True]
    assert windows["message_emoji"].tolist() == [""] * 4


def test_a_one_message_thread_is_dropped_below_the_minimum_and_kept_at_one():
    messages = make_messages([(7, 2, False, 0, "hello")])
    assert ConversationProcessor().create_conversation_windows(messages).empty
    kept = ConversationProcessor(min_messages_per_window=1).create_conversation_windows(messages)
    assert kept["window_id"].tolist() == ["t7-m1"]
    assert np.isnan(kept["gap_seconds"].iloc[0]) and kept["window_span_seconds"].iloc[0] == 0


def test_unsorted_input_gives_the_same_windows_as_sorted_input():
    rows = [
        (1 + i % 3, 1 + i % 2, i % 2 == 1, (i // 3) * 50 + (i // 40) * 4000, "x")
        for i in range(120)
    ]
    messages = make_messages(rows)
    processor = ConversationProcessor()
    shuffled = messages.sample(frac=1.0, random_state=3)
    _same_windows(
        processor.create_conversation_windows(messages),
        processor.create_conversation_windows(shuffled),
    )


def test_a_gap_exactly_at_the_limit_stays_in_the_window_and_one_second_more_splits():
    limit = 30 * MINUTE
    at_limit = make_messages(
        [(1, 2, False, 0, "a"), (1, 1, True, limit, "b"), (1, 2, False, 2 * limit, "c")]
    )
    windows = ConversationProcessor(window_size_minutes=30).create_conversation_windows(at_limit)
    assert windows["window_id"].nunique() == 1 and windows["gap_seconds"].max() == limit
    beyond = make_messages(
        [(1, 2, False, 0, "a"), (1, 1, True, 60, "b"), (1, 2, False, 60 + limit + 1, "c")]
    )
    processor = ConversationProcessor(window_size_minutes=30, min_messages_per_window=1)
    assert processor.create_conversation_windows(beyond)["window_id"].nunique() == 2


def test_a_burst_never_crosses_a_window_boundary():
    # One sender writing every minute: one burst, but the 60-minute span cap cuts the session.
    messages = make_messages([(1, 2, False, i * MINUTE, "x") for i in range(90)])
    processor = ConversationProcessor(window_size_minutes=30, max_window_minutes=60)
    windows = processor.create_conversation_windows(messages)
    assert windows["window_id"].nunique() == 2
    assert windows.groupby("burst_id")["window_id"].nunique().max() == 1
    assert windows["burst_id"].nunique() == 2
    # A burst gap longer than the window gap cannot join messages across windows either.
    split = make_messages([(1, 2, False, t, "x") for t in (0, 10, 20, 3000, 3010, 3020)])
    wide = ConversationProcessor(window_size_minutes=30, burst_gap_seconds=7200)
    windows = wide.create_conversation_windows(split)
    assert windows.groupby("burst_id")["window_id"].nunique().max() == 1
    assert windows["burst_id"].nunique() == 2


def test_messages_carry_emoji_only_and_their_emoji():
    messages = make_messages(
        [(1, 2, False, 0, "👍🏽 👨‍👩‍👧"), (1, 1, True, 10, "ha 😂😂"), (1, 2, False, 20, "#️⃣")]
    )
    windows = ConversationProcessor().create_conversation_windows(messages)
    assert windows["emoji_count"].tolist() == [2, 2, 1]
    assert windows["emoji_only"].tolist() == [True, False, True]
    assert windows["message_emoji"].tolist() == ["👍🏽 👨‍👩‍👧", "😂 😂", "#️⃣"]


def test_reactions_are_counted_per_message_by_owner_and_by_others():
    messages = make_messages([(1, 2, False, 0, "a"), (1, 1, True, 10, "b"), (1, 2, False, 20, "c")])
    reactions = pd.DataFrame(
        {
            "message_id": [1, 1, 2, 3, 99],
            "author_id": [1, 3, 2, 1, 1],
            "emoji": ["❤️", "👍🏽", "😂", "🔥", "😮"],
        }
    )
    processor = ConversationProcessor()
    windows = processor.create_conversation_windows(messages, reactions, owner_id=1)
    assert windows["reactions_by_owner"].tolist() == [1, 0, 1]
    assert windows["reactions_by_others"].tolist() == [1, 1, 0]
    assert windows["reaction_emoji_by_owner"].tolist() == ["❤️", "", "🔥"]
    assert windows["reaction_emoji_by_others"].tolist() == ["👍🏽", "😂", ""]
    # Without owner_id the owner is whoever sent the outgoing messages (sender 1 here).
    inferred = processor.create_conversation_windows(messages, reactions)
    _same_windows(windows, inferred)
    assert inferred["reactions_by_owner"].tolist() == [1, 0, 1]
    assert windows["reactions_by_owner"].dtype == np.int32


def test_empty_input_has_every_window_column():
    windows = ConversationProcessor().create_conversation_windows(make_messages([]))
    assert windows.empty and set(WINDOW_COLUMNS) <= set(windows.columns)


def test_dates_far_from_today_do_not_overflow():
    messages = make_messages(
        [(1, 2, False, 0, "a"), (1, 1, True, 60, "b"), (1, 2, False, 120, "c")]
    )
    messages["sent_at"] = messages["sent_at"].dt.as_unit("ms") + pd.Timedelta(days=365 * 1000)
    windows = ConversationProcessor().create_conversation_windows(messages)
    assert windows["gap_seconds"].tolist()[1:] == [60.0, 60.0]
