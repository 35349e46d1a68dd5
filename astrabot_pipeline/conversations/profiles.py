"""Window profiles: one row per conversation window with its size, timing, topic and tone.

Input is the per-message windows frame (`ConversationProcessor.create_conversation_windows`,
after anonymization: the text column is `text`). Output columns, one row per window:

=============================  ===========================================================
window_id                      the window's id (as in the windows frame)
thread_id                      its thread
start, end                     first and last message's `sent_at` (UTC)
span_seconds                   end - start, in seconds
messages                       messages in the window
participants                   distinct senders
owner_messages                 messages the owner sent
bursts                         distinct bursts (runs of one sender's quick messages)
median_gap_seconds             median gap between consecutive messages (NaN: one message)
median_owner_reply_seconds     median time the owner took to answer someone else
                               (NaN when the owner never answers in the window)
start_hour_local               hour (0-23) of `start` in the configured time zone
weekday_local                  weekday of `start` there, Monday = 0
topic, topic_score             taxonomy label and its share of the window's topic hits
                               (`conversations/topic.py`)
tone, tone_score               mean VADER compound of the window's messages that have text,
                               and its label (positive >= 0.05, negative <= -0.05, else
                               neutral; a window with no text at all is neutral, 0.0)
                               (`conversations/tone.py`)
=============================  ===========================================================

No text leaves this module: only counts, times, scores and taxonomy labels.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from astrabot_pipeline.conversations.timing import resolve_time_zone
from astrabot_pipeline.conversations.tone import (
    TONE_LABELS,
    as_text_array,
    default_scorer,
    tone_labels,
)
from astrabot_pipeline.conversations.topic import (
    TOPIC_LABELS,
    TOPICS,
    default_classifier,
    topic_of_hits,
)
from astrabot_pipeline.errors import SettingError

PROFILE_COLUMNS = (
    "window_id",
    "thread_id",
    "start",
    "end",
    "span_seconds",
    "messages",
    "participants",
    "owner_messages",
    "bursts",
    "median_gap_seconds",
    "median_owner_reply_seconds",
    "start_hour_local",
    "weekday_local",
    "topic",
    "topic_score",
    "tone",
    "tone_score",
)

_REQUIRED = (
    "window_id",
    "thread_id",
    "sender_id",
    "is_outgoing",
    "sent_at",
    "gap_seconds",
    "response_seconds",
    "burst_id",
)


def build_window_profiles(
    windows: pd.DataFrame,
    *,
    time_zone: str | tzinfo | None = None,
    text_column: str = "text",
) -> pd.DataFrame:
    """One row per window of `windows` (columns: PROFILE_COLUMNS, see the module doc).

    Rows come in the order the windows first appear. `time_zone`: an IANA name or a
    tzinfo; "" or None is the machine's zone. Raises UnknownTimeZoneError for an unknown
    zone, SettingError for a frame without the windows' columns.
    """
    missing = [c for c in (*_REQUIRED, text_column) if c not in windows.columns]
    if missing:
        raise SettingError(
            f"the windows frame lacks the columns {missing}: build it with "
            "ConversationProcessor.create_conversation_windows"
        )
    zone = time_zone if isinstance(time_zone, tzinfo) else resolve_time_zone(time_zone)
    if windows.empty:
        return _empty_profiles()
    windows = windows.reset_index(drop=True)
    codes, window_ids = pd.factorize(windows["window_id"], sort=False)
    n_windows = len(window_ids)
    outgoing = windows["is_outgoing"].astype(bool)
    text = as_text_array(windows[text_column])
    has_text = pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(text)), 0)
    has_text = has_text.to_numpy(zero_copy_only=False)
    compound = np.full(len(windows), np.nan)
    compound[has_text] = default_scorer().compound(text.filter(has_text))
    frame = pd.DataFrame(
        {
            "code": codes,
            "thread_id": windows["thread_id"],
            "sender_id": windows["sender_id"],
            "outgoing": outgoing,
            "sent_at": _as_utc(windows["sent_at"]),
            "gap": windows["gap_seconds"].astype("float64"),
            "owner_reply": windows["response_seconds"].astype("float64").where(outgoing),
            "burst_id": windows["burst_id"],
            "compound": compound,
        }
    )
    grouped = frame.groupby("code", sort=True)
    profiles = grouped.agg(
        thread_id=("thread_id", "first"),
        start=("sent_at", "min"),
        end=("sent_at", "max"),
        messages=("sent_at", "size"),
        participants=("sender_id", "nunique"),
        owner_messages=("outgoing", "sum"),
        bursts=("burst_id", "nunique"),
        median_gap_seconds=("gap", "median"),
        median_owner_reply_seconds=("owner_reply", "median"),
        tone_score=("compound", "mean"),
    )
    profiles.insert(0, "window_id", np.asarray(window_ids, dtype=object))
    profiles["start"] = _as_utc(profiles["start"])
    profiles["end"] = _as_utc(profiles["end"])
    profiles["span_seconds"] = (profiles["end"] - profiles["start"]).dt.total_seconds()
    local_start = profiles["start"].dt.tz_convert(zone)
    profiles["start_hour_local"] = local_start.dt.hour.astype("int64")
    profiles["weekday_local"] = local_start.dt.weekday.astype("int64")
    hits = default_classifier().hits(text)
    window_hits = np.zeros((n_windows, len(TOPICS)), dtype="int64")
    for topic in range(len(TOPICS)):
        window_hits[:, topic] = np.bincount(codes, weights=hits[:, topic], minlength=n_windows)
    profiles["topic"], profiles["topic_score"] = topic_of_hits(window_hits)
    profiles["tone_score"] = profiles["tone_score"].fillna(0.0)
    profiles["tone"] = tone_labels(profiles["tone_score"].to_numpy())
    for column in ("messages", "participants", "owner_messages", "bursts"):
        profiles[column] = profiles[column].astype("int64")
    profiles["thread_id"] = profiles["thread_id"].astype("int64")
    return profiles[list(PROFILE_COLUMNS)].reset_index(drop=True)


def label_counts(column: pd.Series, labels: Sequence[str]) -> dict[str, int]:
    """Rows per label of a fixed label set, every label present (zeros too)."""
    found = column.astype(str).value_counts()
    return {label: int(found.get(label, 0)) for label in labels}


def profile_distributions(profiles: pd.DataFrame) -> dict[str, dict[str, int]]:
    """Windows per topic and per tone label (every label, zeros included); no text."""
    return {
        "topic": label_counts(profiles["topic"], TOPIC_LABELS),
        "tone": label_counts(profiles["tone"], TONE_LABELS),
    }


def _as_utc(times: pd.Series) -> pd.Series:
    times = pd.to_datetime(times)
    if times.dt.tz is None:
        return times.dt.tz_localize("UTC")
    return times.dt.tz_convert("UTC")


def _empty_profiles() -> pd.DataFrame:
    dtypes = {
        "window_id": "object",
        "thread_id": "int64",
        "start": "datetime64[ms, UTC]",
        "end": "datetime64[ms, UTC]",
        "span_seconds": "float64",
        "messages": "int64",
        "participants": "int64",
        "owner_messages": "int64",
        "bursts": "int64",
        "median_gap_seconds": "float64",
        "median_owner_reply_seconds": "float64",
        "start_hour_local": "int64",
        "weekday_local": "int64",
        "topic": "object",
        "topic_score": "float64",
        "tone": "object",
        "tone_score": "float64",
    }
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in dtypes.items()})
