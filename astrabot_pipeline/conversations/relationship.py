"""Relationship dynamics: one row per thread of measured numbers and a rule-based label.

`relationship_dynamics(windows, profiles)` reads windowed messages (the anonymized windows
with `text` and `sender_pseudonym`, or the pre-anonymization windows with `body`) and,
optionally, `window_profiles` (one row per window with `topic` and `tone_score`). The
owner is the sender of outgoing messages, "contacts" everyone else in the thread. Only
windowed messages count. Rates whose denominator is empty are NaN and counts are 0: in a
thread where the owner never writes, the owner's per-message rates, reply latency and
contact_reply_rate are NaN, owner_reply_rate is 0 (contacts' turns went unanswered) and
owner_message_share / owner_char_share are 0. Columns:

* thread_id; is_group: the windows' `is_group` column when present, else more than two
  distinct senders; participants: distinct senders in the thread's windows
* messages, windows, owner_messages; owner_message_share: owner_messages / messages
* owner_char_share: the owner's share of all characters of text (length balance);
  owner_mean_message_chars: mean characters per owner message (NaN: owner silent)
* owner_reply_median_seconds, owner_reply_p90_seconds, contact_reply_median_seconds,
  contact_reply_p90_seconds: see `timing` (replies within a window)
* owner_reply_rate: share of the contacts' turns (a maximal run of messages of one side
  within a window) followed by an owner turn in the same window; contact_reply_rate the
  same for the owner's turns answered by a contact; reply_reciprocity: min/max of the two
  (1 = both sides answer equally often; NaN when either is NaN or both are 0)
* owner_initiation_share, owner_double_text_rate, contact_double_text_rate, burstiness,
  hour_profile (24 shares), weekday_profile (7 shares, Monday first), peak_hour,
  night_share: see `timing` (all messages of the thread, local time of `time_zone`)
* owner_question_rate, contact_question_rate: share of the side's messages that are
  questions (`is_question`)
* owner_emoji_per_message, contact_emoji_per_message: emoji per message of each side;
  emoji_reciprocity: min/max of the two (NaN when either is NaN or both 0);
  owner_emoji_only_rate: share of the owner's messages that are emoji only
* owner_top_emoji, contact_top_emoji: the side's 3 most used emoji as one string ("" when
  none), counting emoji in its messages and the reactions it gave in the thread (most
  used first, ties in code-point order)
* reactions_by_owner, reactions_by_contacts: reactions each side gave to the thread's
  windowed messages; reaction_reciprocity: min/max of the two (NaN when both are 0)
* with `profiles`: dominant_topic (the topic of most of the thread's windows, ties in
  alphabetical order; None without topics), family_topic_share and
  plans_logistics_topic_share (share of the thread's windows with that topic), mean_tone
  (mean `tone_score` of its windows); without `profiles` these are None/NaN
* label (one of RELATIONSHIP_LABELS) and label_rule (one of LABEL_RULES): the first rule
  that holds, in this order —
  1. "group_thread" -> group: is_group
  2. "too_few_messages" -> acquaintance: messages < MIN_MESSAGES_TO_LABEL (20)
  3. "family_topics" -> family_like: family_topic_share >= FAMILY_TOPIC_SHARE (0.25)
  4. "logistics_topics" -> coordination:
     plans_logistics_topic_share >= LOGISTICS_TOPIC_SHARE (0.4)
  5. "frequent_and_reciprocal" -> close_friend: windows >= CLOSE_FRIEND_MIN_WINDOWS (10),
     reply_reciprocity >= CLOSE_FRIEND_MIN_RECIPROCITY (0.6) and owner_message_share
     within CLOSE_FRIEND_OWNER_SHARE (0.3-0.7)
  6. "terse_questions" -> coordination: both sides' emoji per message below
     COORDINATION_MAX_EMOJI_PER_MESSAGE (0.05) and the mean of the two question rates
     at least COORDINATION_MIN_QUESTION_RATE (0.25)
  7. "otherwise" -> acquaintance
  Rules 3-4 need `profiles` (a NaN share never fires). Comparisons with NaN are false, so
  a thread where the owner never writes falls through to "otherwise" (or "group_thread").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import pyarrow.compute as pc

from astrabot_pipeline.conversations.emoji_analysis import (
    EMOJI_SEPARATOR,
    EmojiAnalyzer,
    arrow_text,
)
from astrabot_pipeline.conversations.timing import ThreadFrame, thread_timing
from astrabot_pipeline.errors import AstrabotError

RELATIONSHIP_LABELS = ("group", "family_like", "coordination", "close_friend", "acquaintance")
LABEL_RULES = (
    "group_thread",
    "too_few_messages",
    "family_topics",
    "logistics_topics",
    "frequent_and_reciprocal",
    "terse_questions",
    "otherwise",
)
MIN_MESSAGES_TO_LABEL = 20
FAMILY_TOPIC_SHARE = 0.25
LOGISTICS_TOPIC_SHARE = 0.4
CLOSE_FRIEND_MIN_WINDOWS = 10
CLOSE_FRIEND_MIN_RECIPROCITY = 0.6
CLOSE_FRIEND_OWNER_SHARE = (0.3, 0.7)
COORDINATION_MAX_EMOJI_PER_MESSAGE = 0.05
COORDINATION_MIN_QUESTION_RATE = 0.25
TOP_EMOJI = 3
FAMILY_TOPIC = "family"
LOGISTICS_TOPIC = "plans_logistics"

RELATIONSHIP_COLUMNS = (
    "thread_id",
    "is_group",
    "participants",
    "messages",
    "windows",
    "owner_messages",
    "owner_message_share",
    "owner_char_share",
    "owner_mean_message_chars",
    "owner_reply_median_seconds",
    "owner_reply_p90_seconds",
    "contact_reply_median_seconds",
    "contact_reply_p90_seconds",
    "owner_reply_rate",
    "contact_reply_rate",
    "reply_reciprocity",
    "owner_initiation_share",
    "owner_double_text_rate",
    "contact_double_text_rate",
    "burstiness",
    "owner_question_rate",
    "contact_question_rate",
    "owner_emoji_per_message",
    "contact_emoji_per_message",
    "emoji_reciprocity",
    "owner_emoji_only_rate",
    "owner_top_emoji",
    "contact_top_emoji",
    "reactions_by_owner",
    "reactions_by_contacts",
    "reaction_reciprocity",
    "hour_profile",
    "weekday_profile",
    "peak_hour",
    "night_share",
    "dominant_topic",
    "family_topic_share",
    "plans_logistics_topic_share",
    "mean_tone",
    "label",
    "label_rule",
)


class MissingTextColumnError(AstrabotError, KeyError):
    """The windows frame has neither the requested text column nor `body`."""


def _reciprocity(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    high, low = np.fmax(a, b), np.fmin(a, b)
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = low / high
    return np.where(np.isnan(a) | np.isnan(b) | (high == 0), np.nan, ratio)


def _per_thread_sum(frame: ThreadFrame, values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return np.bincount(frame.code[mask], values[mask], minlength=frame.threads)


def _divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denominator > 0, numerator / denominator, np.nan)


def _reply_rates(frame: ThreadFrame) -> tuple[np.ndarray, np.ndarray]:
    """(owner_reply_rate, contact_reply_rate) from turns (see the module docstring)."""
    side_changed = np.ones(len(frame.code), dtype=bool)
    side_changed[1:] = frame.outgoing[1:] != frame.outgoing[:-1]
    starts = np.flatnonzero(frame.first_in_window | side_changed)
    answered = np.zeros(len(starts), dtype=bool)
    answered[:-1] = ~frame.first_in_window[starts[1:]]
    owner_turn = frame.outgoing[starts]
    codes = frame.code[starts]

    def rate(turns: np.ndarray) -> np.ndarray:
        total = np.bincount(codes[turns], minlength=frame.threads)
        replied = np.bincount(codes[turns & answered], minlength=frame.threads)
        return _divide(replied.astype(float), total.astype(float))

    return rate(~owner_turn), rate(owner_turn)


def _top_emoji(frame: ThreadFrame, sources: Sequence[tuple[np.ndarray, np.ndarray]]) -> np.ndarray:
    """Per thread, the TOP_EMOJI most used emoji of (joined emoji strings, mask) sources."""
    codes: list[int] = []
    items: list[str] = []
    for joined, mask in sources:
        for code, text in zip(frame.code[mask].tolist(), joined[mask].tolist(), strict=True):
            if text:
                for item in text.split(EMOJI_SEPARATOR):
                    codes.append(code)
                    items.append(item)
    result = np.full(frame.threads, "", dtype=object)
    if items:
        counts = pd.DataFrame({"code": codes, "emoji": items}).value_counts().reset_index()
        counts = counts.sort_values(["code", "count", "emoji"], ascending=[True, False, True])
        top = counts.groupby("code").head(TOP_EMOJI).groupby("code")["emoji"].agg("".join)
        result[top.index.to_numpy()] = top.to_numpy()
    return result


def _joined_column(windows: pd.DataFrame, column: str, order: np.ndarray) -> np.ndarray:
    if column not in windows.columns:
        return np.full(len(order), "", dtype=object)
    return windows[column].fillna("").to_numpy(dtype=object)[order]


def _topics(frame: ThreadFrame, profiles: pd.DataFrame | None) -> dict[str, np.ndarray]:
    n = frame.threads
    result: dict[str, np.ndarray] = {
        "dominant_topic": np.full(n, None, dtype=object),
        "family_topic_share": np.full(n, np.nan),
        "plans_logistics_topic_share": np.full(n, np.nan),
        "mean_tone": np.full(n, np.nan),
    }
    if profiles is None or profiles.empty or "thread_id" not in profiles.columns:
        return result
    code = pd.Index(frame.thread_ids).get_indexer(profiles["thread_id"].to_numpy(np.int64))
    known = code >= 0
    profiles, code = profiles[known], code[known]
    if "topic" in profiles.columns:
        topics = pd.DataFrame({"code": code, "topic": profiles["topic"].to_numpy(dtype=object)})
        topics = topics.dropna()
        windows = np.bincount(topics["code"], minlength=n).astype(float)
        counts = topics.value_counts().reset_index()
        counts = counts.sort_values(["code", "count", "topic"], ascending=[True, False, True])
        dominant = counts.drop_duplicates("code")
        result["dominant_topic"][dominant["code"].to_numpy()] = dominant["topic"].to_numpy()
        for topic, column in (
            (FAMILY_TOPIC, "family_topic_share"),
            (LOGISTICS_TOPIC, "plans_logistics_topic_share"),
        ):
            hits = np.bincount(topics["code"][topics["topic"] == topic], minlength=n)
            result[column] = _divide(hits.astype(float), windows)
    if "tone_score" in profiles.columns:
        tone = pd.Series(profiles["tone_score"].to_numpy(np.float64)).groupby(code).mean()
        result["mean_tone"][tone.index.to_numpy()] = tone.to_numpy()
    return result


def _labels(table: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    low, high = CLOSE_FRIEND_OWNER_SHARE
    question_rate = (table["owner_question_rate"] + table["contact_question_rate"]) / 2
    rules = [
        ("group_thread", "group", table["is_group"]),
        ("too_few_messages", "acquaintance", table["messages"] < MIN_MESSAGES_TO_LABEL),
        ("family_topics", "family_like", table["family_topic_share"] >= FAMILY_TOPIC_SHARE),
        (
            "logistics_topics",
            "coordination",
            table["plans_logistics_topic_share"] >= LOGISTICS_TOPIC_SHARE,
        ),
        (
            "frequent_and_reciprocal",
            "close_friend",
            (table["windows"] >= CLOSE_FRIEND_MIN_WINDOWS)
            & (table["reply_reciprocity"] >= CLOSE_FRIEND_MIN_RECIPROCITY)
            & table["owner_message_share"].between(low, high),
        ),
        (
            "terse_questions",
            "coordination",
            (table["owner_emoji_per_message"] < COORDINATION_MAX_EMOJI_PER_MESSAGE)
            & (table["contact_emoji_per_message"] < COORDINATION_MAX_EMOJI_PER_MESSAGE)
            & (question_rate >= COORDINATION_MIN_QUESTION_RATE),
        ),
    ]
    rule = np.full(len(table), "otherwise", dtype=object)
    label = np.full(len(table), "acquaintance", dtype=object)
    decided = np.zeros(len(table), dtype=bool)
    for name, value, holds in rules:
        fires = holds.fillna(False).to_numpy(dtype=bool) & ~decided
        rule[fires], label[fires] = name, value
        decided |= fires
    return label, rule


def relationship_dynamics(
    windows: pd.DataFrame,
    profiles: pd.DataFrame | None = None,
    *,
    time_zone: str | None = None,
    text_column: str = "text",
) -> pd.DataFrame:
    """One row per thread: RELATIONSHIP_COLUMNS (see the module docstring)."""
    if text_column not in windows.columns:
        if "body" not in windows.columns:
            raise MissingTextColumnError(
                f"windows have no {text_column!r} or 'body' column: pass the windows "
                "frame from conversation_windows or anonymized_windows"
            )
        text_column = "body"
    if windows.empty:
        thread_timing(windows, time_zone=time_zone)  # still validates the time zone
        return pd.DataFrame(columns=list(RELATIONSHIP_COLUMNS))
    frame = ThreadFrame.from_windows(windows)
    timing = thread_timing(windows, time_zone=time_zone, frame=frame)
    order = frame.order
    out = frame.outgoing
    contact = ~out
    everyone = np.ones(len(out), dtype=bool)
    texts = windows[text_column].take(order)
    chars = pc.fill_null(pc.utf8_length(arrow_text(texts)), 0).to_numpy(zero_copy_only=False)
    chars = chars.astype(np.float64)
    if "emoji_count" in windows.columns:
        emoji_count = windows["emoji_count"].to_numpy(np.float64)[order]
        emoji_only = windows["emoji_only"].to_numpy(bool)[order]
        message_emoji = _joined_column(windows, "message_emoji", order)
    else:
        scan = EmojiAnalyzer().scan(texts)
        emoji_count = scan.count.to_numpy(np.float64)
        emoji_only = scan.emoji_only.to_numpy()
        message_emoji = scan.emoji.to_numpy(dtype=object)
    question = windows["is_question"].to_numpy(bool)[order]
    reacted_owner = _reaction_counts(windows, "reactions_by_owner", order)
    reacted_others = _reaction_counts(windows, "reactions_by_others", order)
    owner_messages = frame.count(out)
    messages = frame.count()
    sender_code = pd.factorize(frame.sender)[0].astype(np.int64)
    width = int(sender_code.max()) + 1
    pairs = np.unique(frame.code * width + sender_code)
    participants = np.bincount(pairs // width, minlength=frame.threads)
    if "is_group" in windows.columns:
        grouped = windows["is_group"].to_numpy(bool)[order].astype(np.float64)
        is_group = _per_thread_sum(frame, grouped, everyone) > 0
    else:
        is_group = participants > 2
    owner_reply_rate, contact_reply_rate = _reply_rates(frame)
    owner_emoji = _divide(_per_thread_sum(frame, emoji_count, out), owner_messages)
    contact_emoji = _divide(_per_thread_sum(frame, emoji_count, contact), frame.count(contact))
    given_by_owner = _per_thread_sum(frame, reacted_owner, everyone)
    given_by_contacts = _per_thread_sum(frame, reacted_others, everyone)
    table = pd.DataFrame(
        {
            "thread_id": frame.thread_ids,
            "is_group": is_group,
            "participants": participants.astype(np.int32),
            "messages": messages.astype(np.int64),
            "windows": frame.count(frame.first_in_window).astype(np.int64),
            "owner_messages": owner_messages.astype(np.int64),
            "owner_message_share": owner_messages / messages,
            "owner_char_share": _divide(
                _per_thread_sum(frame, chars, out), _per_thread_sum(frame, chars, everyone)
            ),
            "owner_mean_message_chars": _divide(_per_thread_sum(frame, chars, out), owner_messages),
            "owner_reply_median_seconds": timing["owner_reply_median_seconds"].to_numpy(),
            "owner_reply_p90_seconds": timing["owner_reply_p90_seconds"].to_numpy(),
            "contact_reply_median_seconds": timing["contact_reply_median_seconds"].to_numpy(),
            "contact_reply_p90_seconds": timing["contact_reply_p90_seconds"].to_numpy(),
            "owner_reply_rate": owner_reply_rate,
            "contact_reply_rate": contact_reply_rate,
            "reply_reciprocity": _reciprocity(owner_reply_rate, contact_reply_rate),
            "owner_initiation_share": timing["owner_initiation_share"].to_numpy(),
            "owner_double_text_rate": timing["owner_double_text_rate"].to_numpy(),
            "contact_double_text_rate": timing["contact_double_text_rate"].to_numpy(),
            "burstiness": timing["burstiness"].to_numpy(),
            "owner_question_rate": frame.rate(question, out),
            "contact_question_rate": frame.rate(question, contact),
            "owner_emoji_per_message": owner_emoji,
            "contact_emoji_per_message": contact_emoji,
            "emoji_reciprocity": _reciprocity(owner_emoji, contact_emoji),
            "owner_emoji_only_rate": frame.rate(emoji_only, out),
            "owner_top_emoji": _top_emoji(
                frame,
                [
                    (message_emoji, out),
                    (_joined_column(windows, "reaction_emoji_by_owner", order), everyone),
                ],
            ),
            "contact_top_emoji": _top_emoji(
                frame,
                [
                    (message_emoji, contact),
                    (_joined_column(windows, "reaction_emoji_by_others", order), everyone),
                ],
            ),
            "reactions_by_owner": given_by_owner.astype(np.int64),
            "reactions_by_contacts": given_by_contacts.astype(np.int64),
            "reaction_reciprocity": _reciprocity(given_by_owner, given_by_contacts),
            "hour_profile": timing["hour_profile"].to_numpy(),
            "weekday_profile": timing["weekday_profile"].to_numpy(),
            "peak_hour": timing["peak_hour"].array,
            "night_share": timing["night_share"].to_numpy(),
            **_topics(frame, profiles),
        }
    )
    table["label"], table["label_rule"] = _labels(table)
    return table[list(RELATIONSHIP_COLUMNS)]


def _reaction_counts(windows: pd.DataFrame, column: str, order: np.ndarray) -> np.ndarray:
    if column not in windows.columns:
        return np.zeros(len(order))
    return windows[column].to_numpy(np.float64)[order]


def one_to_one_threads(dynamics: pd.DataFrame) -> list:
    """The threads of a `relationship_dynamics` table that are no group chats: one contact
    each (the contact-level audit's unit)."""
    return dynamics.loc[~dynamics["is_group"].astype(bool), "thread_id"].tolist()
