"""Conversation windows: per-thread sessions split at inactivity gaps, plus timing features.

A window is a run of messages in one thread with no gap longer than
`window_size_minutes`, capped at `max_window_minutes` of span; windows with fewer than
`min_messages_per_window` messages are dropped. A burst is consecutive messages by one
sender each within `burst_gap_seconds` of the previous. All work is vectorized pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from astrabot_pipeline.conversations.emoji_analysis import EmojiAnalyzer
from astrabot_pipeline.errors import SettingError

DEFAULT_WINDOW_SIZE_MINUTES = 30
DEFAULT_MIN_MESSAGES_PER_WINDOW = 3
DEFAULT_MAX_WINDOW_MINUTES = 12 * 60
DEFAULT_BURST_GAP_SECONDS = 120

_KEY_DTYPES = {
    "message_id": "int64",
    "thread_id": "int64",
    "sender_id": "int64",
    "is_outgoing": "bool",
}

WINDOW_COLUMNS = (
    "window_id",
    "position_in_window",
    "gap_seconds",
    "response_seconds",
    "burst_id",
    "emoji_count",
    "is_question",
    "window_message_count",
    "window_span_seconds",
    "window_participants",
)


@dataclass(frozen=True)
class WindowSummary:
    """Counts describing a windowing run (safe for metadata: no text)."""

    messages_in: int
    messages_windowed: int
    windows: int
    threads: int
    bursts: int
    median_window_size: float
    max_window_span_minutes: float

    def to_metadata(self) -> dict[str, float | int]:
        return dict(self.__dict__)


class ConversationProcessor:
    """Groups decoded messages into conversation windows and measures their dynamics."""

    def __init__(
        self,
        window_size_minutes: int = DEFAULT_WINDOW_SIZE_MINUTES,
        min_messages_per_window: int = DEFAULT_MIN_MESSAGES_PER_WINDOW,
        max_window_minutes: int = DEFAULT_MAX_WINDOW_MINUTES,
        burst_gap_seconds: int = DEFAULT_BURST_GAP_SECONDS,
    ) -> None:
        if window_size_minutes <= 0 or min_messages_per_window < 1:
            raise SettingError("window_size_minutes must be > 0 and min_messages_per_window >= 1")
        if max_window_minutes < window_size_minutes:
            raise SettingError("max_window_minutes must be at least window_size_minutes")
        self.window_gap = pd.Timedelta(minutes=window_size_minutes)
        self.max_span = pd.Timedelta(minutes=max_window_minutes)
        self.min_messages = min_messages_per_window
        self.burst_gap = pd.Timedelta(seconds=burst_gap_seconds)
        self.emoji = EmojiAnalyzer()

    def create_conversation_windows(self, messages: pd.DataFrame) -> pd.DataFrame:
        """One row per windowed message: the message columns plus WINDOW_COLUMNS."""
        # Contract columns may arrive as nullable extension dtypes (Int64, boolean) whose
        # comparisons yield NA; they are non-null by contract, so use plain numpy dtypes.
        frame = messages.astype(_KEY_DTYPES).sort_values(["thread_id", "sent_at", "message_id"])
        frame = frame.reset_index(drop=True)
        if frame.empty:
            return _with_empty_window_columns(frame)
        same_thread = frame["thread_id"].eq(frame["thread_id"].shift())
        gap = frame["sent_at"].diff().where(same_thread)
        session = (~same_thread | (gap > self.window_gap)).cumsum()
        # Cap the span: split a long session into consecutive max_span slices of its start.
        session_start = frame.groupby(session)["sent_at"].transform("min")
        slice_index = ((frame["sent_at"] - session_start) // self.max_span).astype("int64")
        window_key = session.astype("int64") * 1_000_000 + slice_index
        sizes = window_key.map(window_key.value_counts())
        keep = sizes >= self.min_messages
        frame = frame[keep].reset_index(drop=True)
        window_key = window_key[keep].reset_index(drop=True)
        gap = gap[keep].reset_index(drop=True)
        return self._add_window_features(frame, window_key, gap)

    def _add_window_features(
        self, frame: pd.DataFrame, window_key: pd.Series, gap: pd.Series
    ) -> pd.DataFrame:
        grouped = frame.groupby(window_key)
        first_id = grouped["message_id"].transform("first")
        frame["window_id"] = "t" + frame["thread_id"].astype(str) + "-m" + first_id.astype(str)
        frame["position_in_window"] = grouped.cumcount().astype("int32")
        first_in_window = frame["position_in_window"].eq(0)
        frame["gap_seconds"] = gap.dt.total_seconds().where(~first_in_window)
        sender_changed = frame["sender_id"].ne(frame["sender_id"].shift()) & ~first_in_window
        frame["response_seconds"] = frame["gap_seconds"].where(sender_changed)
        new_burst = first_in_window | sender_changed | (gap > self.burst_gap)
        frame["burst_id"] = new_burst.cumsum().astype("int64")
        bodies = frame["body"]
        frame["emoji_count"] = self.emoji.count_column(bodies)
        frame["is_question"] = bodies.fillna("").str.rstrip().str.endswith("?")
        frame["window_message_count"] = grouped["message_id"].transform("size").astype("int32")
        span = grouped["sent_at"].transform("max") - grouped["sent_at"].transform("min")
        frame["window_span_seconds"] = span.dt.total_seconds()
        frame["window_participants"] = grouped["sender_id"].transform("nunique").astype("int32")
        return frame

    def summarize(self, messages: pd.DataFrame, windows: pd.DataFrame) -> WindowSummary:
        per_window = windows.groupby("window_id")
        sizes = per_window.size()
        return WindowSummary(
            messages_in=len(messages),
            messages_windowed=len(windows),
            windows=int(sizes.size),
            threads=int(windows["thread_id"].nunique()),
            bursts=int(windows["burst_id"].nunique()),
            median_window_size=float(sizes.median()) if sizes.size else 0.0,
            max_window_span_minutes=float(windows["window_span_seconds"].max() / 60)
            if len(windows)
            else 0.0,
        )

    def analyze_relationship_dynamics(
        self, windows: pd.DataFrame, text_column: str = "body"
    ) -> pd.DataFrame:
        """Per-thread dynamics: volume, owner share, reply latency, burstiness, emoji rate."""
        if windows.empty:
            return pd.DataFrame(columns=list(_DYNAMICS_COLUMNS))
        frame = windows.assign(
            owner_chars=windows[text_column].fillna("").str.len().where(windows["is_outgoing"]),
            owner_reply=windows["response_seconds"].where(windows["is_outgoing"]),
        )
        grouped = frame.groupby("thread_id")
        dynamics = pd.DataFrame(
            {
                "messages": grouped.size(),
                "windows": grouped["window_id"].nunique(),
                "owner_share": grouped["is_outgoing"].mean(),
                "owner_median_reply_seconds": grouped["owner_reply"].median(),
                "owner_mean_message_chars": grouped["owner_chars"].mean(),
                "messages_per_burst": grouped.size() / grouped["burst_id"].nunique(),
                "emoji_per_message": grouped["emoji_count"].mean(),
                "question_rate": grouped["is_question"].mean(),
                "participants": grouped["window_participants"].max(),
            }
        ).reset_index()
        dynamics["initiation_share"] = (
            _owner_initiation_share(windows).reindex(dynamics["thread_id"]).to_numpy()
        )
        return dynamics[list(_DYNAMICS_COLUMNS)]


_DYNAMICS_COLUMNS = (
    "thread_id",
    "messages",
    "windows",
    "owner_share",
    "initiation_share",
    "owner_median_reply_seconds",
    "owner_mean_message_chars",
    "messages_per_burst",
    "emoji_per_message",
    "question_rate",
    "participants",
)


def _owner_initiation_share(windows: pd.DataFrame) -> pd.Series:
    starts = windows[windows["position_in_window"] == 0]
    return starts.groupby("thread_id")["is_outgoing"].mean()


def _with_empty_window_columns(frame: pd.DataFrame) -> pd.DataFrame:
    empty = frame.copy()
    for column in WINDOW_COLUMNS:
        empty[column] = pd.Series(dtype=np.dtype("O") if column == "window_id" else "float64")
    return empty
