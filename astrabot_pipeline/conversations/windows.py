"""Conversation windows: per-thread sessions split at inactivity gaps, plus timing features.

A window is a run of messages in one thread with no gap longer than
`window_size_minutes` (a gap exactly equal to the limit stays inside the window), capped at
`max_window_minutes` of span (a long session is cut into consecutive slices of that span
from its first message) and at `max_window_messages` messages (a busy group chat that
never goes quiet for `window_size_minutes` would otherwise make one window of a whole
day, leaving the train/validation/test split and the ranking evaluation a handful of
windows; the slices are consecutive runs of that many messages); windows with fewer than `min_messages_per_window` messages are
dropped. A burst is consecutive messages by one sender each within `burst_gap_seconds` of
the previous one; a burst never crosses a window boundary (the first message of a window
always starts a burst).

Ordering uses `sent_at` (the sender's clock), then `message_id`: `received_at` is ignored, so
clock skew (a message received "before" it was sent) changes nothing, and identical
timestamps keep their `message_id` order. Input need not be sorted. Empty and
attachment-only (None) bodies are ordinary messages: no emoji, not a question.

Per message, besides the input columns (WINDOW_COLUMNS):

* window_id (str): "t<thread_id>-m<message_id of the window's first message>"
* position_in_window (int32): 0 for the first message of its window
* gap_seconds (float): seconds since the previous message of the window (NaN for the first)
* response_seconds (float): gap_seconds when the sender changed, else NaN
* burst_id (int64): bursts numbered across the whole frame
* emoji_count (int32), emoji_only (bool), message_emoji (str): see `emoji_analysis`;
  message_emoji is the message's emoji in order joined by single spaces ("" when none)
* is_question (bool): the body ends with "?" (or the full-width "？"), trailing spaces aside
* window_message_count, window_participants (int32), window_span_seconds (float)
* reactions_by_owner, reactions_by_others (int32): reactions this message received from
  the owner / from anyone else (the decoded `reactions` table; 0 without one)
* reaction_emoji_by_owner, reaction_emoji_by_others (str): those reactions' emoji joined by
  single spaces in reaction-table order ("" when none) — `emoji_analysis.split_emoji`
  turns them back into a list. All work is vectorized numpy/pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from astrabot_pipeline.conversations.emoji_analysis import (
    EMOJI_SEPARATOR,
    EmojiAnalyzer,
    arrow_text,
)
from astrabot_pipeline.errors import SettingError

DEFAULT_WINDOW_SIZE_MINUTES = 30
DEFAULT_MIN_MESSAGES_PER_WINDOW = 3
DEFAULT_MAX_WINDOW_MINUTES = 12 * 60
# About an hour of a busy group chat; a reply's context is a few turns, so nothing a
# training example uses is lost, and a day of busy chat becomes a dozen windows or more.
DEFAULT_MAX_WINDOW_MESSAGES = 100
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
    "emoji_only",
    "message_emoji",
    "is_question",
    "window_message_count",
    "window_span_seconds",
    "window_participants",
    "reactions_by_owner",
    "reactions_by_others",
    "reaction_emoji_by_owner",
    "reaction_emoji_by_others",
)
_WINDOW_DTYPES = {
    "window_id": "str",
    "position_in_window": "int32",
    "gap_seconds": "float64",
    "response_seconds": "float64",
    "burst_id": "int64",
    "emoji_count": "int32",
    "emoji_only": "bool",
    "message_emoji": "str",
    "is_question": "bool",
    "window_message_count": "int32",
    "window_span_seconds": "float64",
    "window_participants": "int32",
    "reactions_by_owner": "int32",
    "reactions_by_others": "int32",
    "reaction_emoji_by_owner": "str",
    "reaction_emoji_by_others": "str",
}
_US = 1_000_000  # microseconds per second: int64 µs spans ±292,000 years, so no date overflows


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


def utc_microseconds(times: pd.Series) -> np.ndarray:
    """int64 microseconds since the epoch (UTC); naive timestamps are taken as UTC."""
    index = pd.DatetimeIndex(times)
    if index.tz is not None:
        index = index.tz_convert("UTC").tz_localize(None)
    return index.as_unit("us").asi8


def _segment_starts(*keys: np.ndarray) -> np.ndarray:
    """True where any of the (sorted) key arrays changes value, and at position 0."""
    n = len(keys[0])
    starts = np.zeros(n, dtype=bool)
    if n:
        starts[0] = True
        for key in keys:
            starts[1:] |= key[1:] != key[:-1]
    return starts


class ConversationProcessor:
    """Groups decoded messages into conversation windows and measures their timing."""

    def __init__(
        self,
        window_size_minutes: int = DEFAULT_WINDOW_SIZE_MINUTES,
        min_messages_per_window: int = DEFAULT_MIN_MESSAGES_PER_WINDOW,
        max_window_minutes: int = DEFAULT_MAX_WINDOW_MINUTES,
        burst_gap_seconds: int = DEFAULT_BURST_GAP_SECONDS,
        max_window_messages: int = DEFAULT_MAX_WINDOW_MESSAGES,
    ) -> None:
        if window_size_minutes <= 0 or min_messages_per_window < 1:
            raise SettingError("window_size_minutes must be > 0 and min_messages_per_window >= 1")
        if max_window_minutes < window_size_minutes:
            raise SettingError("max_window_minutes must be at least window_size_minutes")
        if burst_gap_seconds < 0:
            raise SettingError("burst_gap_seconds must be >= 0")
        if max_window_messages < min_messages_per_window:
            raise SettingError("max_window_messages must be at least min_messages_per_window")
        self.max_messages = max_window_messages
        self.window_gap = pd.Timedelta(minutes=window_size_minutes)
        self.max_span = pd.Timedelta(minutes=max_window_minutes)
        self.min_messages = min_messages_per_window
        self.burst_gap = pd.Timedelta(seconds=burst_gap_seconds)
        self._window_gap_us = self.window_gap // pd.Timedelta(microseconds=1)
        self._max_span_us = self.max_span // pd.Timedelta(microseconds=1)
        self._burst_gap_us = self.burst_gap // pd.Timedelta(microseconds=1)
        self.emoji = EmojiAnalyzer()

    def create_conversation_windows(
        self,
        messages: pd.DataFrame,
        reactions: pd.DataFrame | None = None,
        owner_id: int | None = None,
    ) -> pd.DataFrame:
        """One row per windowed message: the message columns plus WINDOW_COLUMNS.

        `reactions` is the decoded `reactions` table (message_id, author_id, emoji); a
        reaction is the owner's when its author_id is `owner_id`, or, when `owner_id` is
        None, the sender_id of any outgoing message in `messages`.
        """
        # Contract columns may arrive as nullable extension dtypes (Int64, boolean) whose
        # comparisons yield NA; they are non-null by contract, so use plain numpy dtypes.
        frame = messages.astype(_KEY_DTYPES)
        if frame.empty:
            return _with_empty_window_columns(frame.reset_index(drop=True))
        thread = frame["thread_id"].to_numpy()
        sent = utc_microseconds(frame["sent_at"])
        order = np.lexsort((frame["message_id"].to_numpy(), sent, thread))
        thread, sent = thread[order], sent[order]
        same_thread = ~_segment_starts(thread)
        gap = np.zeros(len(sent), dtype=np.int64)
        gap[1:] = sent[1:] - sent[:-1]
        new_session = ~same_thread | (gap > self._window_gap_us)
        # Cap the span: cut a long session into consecutive max_span slices of its start.
        session_first = np.maximum.accumulate(np.where(new_session, np.arange(len(sent)), 0))
        slice_index = (sent - sent[session_first]) // self._max_span_us
        new_window = new_session | _segment_starts(slice_index)
        # Cap the count: every max_messages-th message of a window starts the next one.
        window_first = np.maximum.accumulate(np.where(new_window, np.arange(len(sent)), 0))
        new_window |= (np.arange(len(sent)) - window_first) % self.max_messages == 0
        window = np.cumsum(new_window) - 1
        sizes = np.bincount(window)
        keep = sizes[window] >= self.min_messages
        if owner_id is not None:
            owners = np.array([owner_id], dtype=np.int64)
        else:
            owners = np.unique(frame["sender_id"].to_numpy()[frame["is_outgoing"].to_numpy()])
        frame = frame.take(order[keep]).reset_index(drop=True)
        return self._add_window_features(
            frame, new_window[keep], gap[keep], sent[keep], reactions, owners
        )

    def _add_window_features(
        self,
        frame: pd.DataFrame,
        first_in_window: np.ndarray,
        gap_us: np.ndarray,
        sent: np.ndarray,
        reactions: pd.DataFrame | None,
        owners: np.ndarray,
    ) -> pd.DataFrame:
        n = len(frame)
        if n == 0:
            return _with_empty_window_columns(frame)
        window = np.cumsum(first_in_window) - 1
        starts = np.flatnonzero(first_in_window)
        ends = np.append(starts[1:], n) - 1
        sizes = (ends - starts + 1).astype(np.int32)
        thread = frame["thread_id"].to_numpy()
        message_id = frame["message_id"].to_numpy()
        window_names = np.array(
            [
                f"t{t}-m{m}"
                for t, m in zip(thread[starts].tolist(), message_id[starts].tolist(), strict=True)
            ],
            dtype=object,
        )
        sender = frame["sender_id"].to_numpy()
        gap_seconds = gap_us / _US
        gap_seconds[first_in_window] = np.nan
        sender_changed = np.zeros(n, dtype=bool)
        sender_changed[1:] = sender[1:] != sender[:-1]
        sender_changed &= ~first_in_window
        new_burst = first_in_window | sender_changed | (gap_us > self._burst_gap_us)
        sender_codes = pd.factorize(sender)[0].astype(np.int64)
        pairs = np.unique(window * (int(sender_codes.max()) + 1) + sender_codes)
        participants = np.bincount(pairs // (int(sender_codes.max()) + 1), minlength=len(starts))
        bodies = frame["body"] if "body" in frame.columns else pd.Series([None] * n, dtype=object)
        scan = self.emoji.scan(bodies)
        features = {
            "window_id": window_names[window],
            "position_in_window": (np.arange(n) - starts[window]).astype(np.int32),
            "gap_seconds": gap_seconds,
            "response_seconds": np.where(sender_changed, gap_seconds, np.nan),
            "burst_id": np.cumsum(new_burst).astype(np.int64),
            "emoji_count": scan.count.to_numpy(),
            "emoji_only": scan.emoji_only.to_numpy(),
            "message_emoji": scan.emoji.to_numpy(),
            "is_question": _ends_with_question_mark(bodies),
            "window_message_count": sizes[window],
            "window_span_seconds": ((sent[ends] - sent[starts]) / _US)[window],
            "window_participants": participants.astype(np.int32)[window],
        }
        features.update(_reaction_features(frame, reactions, owners))
        added = pd.DataFrame(features)
        return pd.concat([frame.drop(columns=list(WINDOW_COLUMNS), errors="ignore"), added], axis=1)

    def summarize(self, messages: pd.DataFrame, windows: pd.DataFrame) -> WindowSummary:
        firsts = windows["position_in_window"].to_numpy() == 0
        sizes = windows["window_message_count"].to_numpy()[firsts]
        return WindowSummary(
            messages_in=len(messages),
            messages_windowed=len(windows),
            windows=int(firsts.sum()),
            threads=int(windows["thread_id"].nunique()),
            bursts=int(windows["burst_id"].nunique()),
            median_window_size=float(np.median(sizes)) if sizes.size else 0.0,
            max_window_span_minutes=float(windows["window_span_seconds"].max() / 60)
            if len(windows)
            else 0.0,
        )


def _ends_with_question_mark(bodies: pd.Series) -> np.ndarray:
    """True where a body ends with "?" or "？", trailing whitespace aside (None: False)."""
    found = pc.match_substring_regex(arrow_text(bodies), r"[?？]\s*$")
    return pc.fill_null(found, False).to_numpy(zero_copy_only=False)


def _reaction_features(
    frame: pd.DataFrame, reactions: pd.DataFrame | None, owners: np.ndarray
) -> dict[str, np.ndarray]:
    """Per message: reactions received from the owner (author in `owners`) / others, and
    their emoji. Reactions to messages outside the windows are ignored."""
    n = len(frame)
    counts = {"owner": np.zeros(n, dtype=np.int32), "others": np.zeros(n, dtype=np.int32)}
    emoji = {"owner": np.full(n, "", dtype=object), "others": np.full(n, "", dtype=object)}
    if reactions is not None and len(reactions):
        position = pd.Series(np.arange(n), index=frame["message_id"].to_numpy())
        position = position[~position.index.duplicated()]  # ids are unique by contract
        row = (
            position.reindex(reactions["message_id"].astype("int64").to_numpy())
            .fillna(-1)
            .to_numpy(np.int64)
        )
        found = row >= 0
        row = row[found]
        by_owner = np.isin(reactions["author_id"].astype("int64").to_numpy()[found], owners)
        marks = reactions["emoji"].to_numpy(dtype=object)[found]
        for side, mask in (("owner", by_owner), ("others", ~by_owner)):
            counts[side] = np.bincount(row[mask], minlength=n).astype(np.int32)
            collected: dict[int, list[str]] = {}
            for at, mark in zip(row[mask].tolist(), marks[mask].tolist(), strict=True):
                if isinstance(mark, str) and mark:  # a reaction without emoji still counts
                    collected.setdefault(at, []).append(mark)
            for at, marks_of_message in collected.items():
                emoji[side][at] = EMOJI_SEPARATOR.join(marks_of_message)
    return {
        "reactions_by_owner": counts["owner"],
        "reactions_by_others": counts["others"],
        "reaction_emoji_by_owner": emoji["owner"],
        "reaction_emoji_by_others": emoji["others"],
    }


def _with_empty_window_columns(frame: pd.DataFrame) -> pd.DataFrame:
    empty = frame.copy()
    for column in WINDOW_COLUMNS:
        empty[column] = pd.Series(dtype=_WINDOW_DTYPES[column])
    return empty
