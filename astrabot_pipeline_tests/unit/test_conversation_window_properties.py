"""Property tests: windows are exactly the long-enough sessions, whole and in time order."""

import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrabot_pipeline.conversations import ConversationProcessor

LIMIT_MINUTES = 5
LIMIT = LIMIT_MINUTES * 60
# Gaps around the limit: 0 (identical timestamps), short, exactly the limit, just over, long.
GAPS = st.one_of(
    st.sampled_from([0, LIMIT, LIMIT + 1]),
    st.integers(0, LIMIT),
    st.integers(LIMIT + 1, 10 * LIMIT),
)
THREAD = st.lists(st.tuples(GAPS, st.sampled_from([1, 2, 3])), min_size=1, max_size=25)


def _messages(threads: list[list[tuple[int, int]]], order_seed: int) -> pd.DataFrame:
    rows, message_id = [], 0
    for thread_id, thread in enumerate(threads, start=1):
        at = 1_000 * thread_id  # threads overlap in time
        for gap, sender in thread:
            at += gap
            message_id += 1
            rows.append((message_id, thread_id, sender, sender == 1, at))
    frame = pd.DataFrame(rows, columns=["message_id", "thread_id", "sender_id", "is_outgoing", "s"])
    frame["sent_at"] = pd.to_datetime(frame.pop("s"), unit="s", utc=True)
    frame["body"] = "x"
    return frame.sample(frac=1.0, random_state=order_seed)  # unsorted input


def _sessions(messages: pd.DataFrame) -> list[list[int]]:
    """Reference: per thread in (sent_at, message_id) order, split where a gap exceeds LIMIT."""
    sessions = []
    for _, thread in messages.sort_values(["thread_id", "sent_at", "message_id"]).groupby(
        "thread_id"
    ):
        previous = None
        for row in thread.itertuples():
            if previous is None or (row.sent_at - previous).total_seconds() > LIMIT:
                sessions.append([])
            sessions[-1].append(row.message_id)
            previous = row.sent_at
    return sessions


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    threads=st.lists(THREAD, min_size=1, max_size=4),
    minimum=st.integers(1, 4),
    order_seed=st.integers(0, 1000),
)
def test_windows_are_exactly_the_sessions_with_at_least_the_minimum_count(
    threads, minimum, order_seed
):
    messages = _messages(threads, order_seed)
    processor = ConversationProcessor(
        window_size_minutes=LIMIT_MINUTES,
        min_messages_per_window=minimum,
        max_window_minutes=10**6,  # no span cap: windows must equal sessions
    )
    windows = processor.create_conversation_windows(messages)
    sessions = _sessions(messages)
    kept = [s for s in sessions if len(s) >= minimum]
    dropped = {m for s in sessions if len(s) < minimum for m in s}
    # Every message of a long-enough session lands in exactly one window, whole, in order.
    assert windows["message_id"].is_unique
    found = [group["message_id"].tolist() for _, group in windows.groupby("window_id", sort=False)]
    assert sorted(found) == sorted(kept)
    for _, group in windows.groupby("window_id"):
        assert group["sent_at"].is_monotonic_increasing
        assert group["position_in_window"].tolist() == list(range(len(group)))
    # The dropped messages are exactly those of the shorter sessions.
    assert set(messages["message_id"]) - set(windows["message_id"]) == dropped
    # No gap inside a window exceeds the limit.
    assert not (windows["gap_seconds"] > LIMIT).any()


@settings(max_examples=25, deadline=None)
@given(threads=st.lists(THREAD, min_size=1, max_size=3), order_seed=st.integers(0, 1000))
def test_capped_windows_never_exceed_the_span_and_bursts_stay_inside(threads, order_seed):
    messages = _messages(threads, order_seed)
    processor = ConversationProcessor(
        window_size_minutes=LIMIT_MINUTES,
        min_messages_per_window=1,
        max_window_minutes=2 * LIMIT_MINUTES,
        burst_gap_seconds=LIMIT,
    )
    windows = processor.create_conversation_windows(messages)
    assert len(windows) == len(messages)
    assert (windows["window_span_seconds"] <= 2 * LIMIT).all()
    assert windows.groupby("burst_id")["window_id"].nunique().max() == 1
    assert not (windows["gap_seconds"] > LIMIT).any()
