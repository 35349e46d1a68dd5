"""Conversation analytics on a generated 1,000,000-message history (`_history.py`).

1. windowing + timing + relationship numbers (ConversationProcessor.create_conversation_windows
   with reactions, then relationship_dynamics, which computes thread_timing), wall time and
   peak RSS in a forked child (the child inherits the history the parent holds); goal
   <= 15 s and <= 2 GB on the 2-core dev machine.
2. The same work as a plain per-thread Python loop (itertuples, `emoji.emoji_list` on every
   message, zoneinfo per message, statistics per thread). A million messages would take
   minutes, so the loop runs on a subset of whole threads (BASELINE_MESSAGES messages) and
   is extrapolated linearly by message count; the vectorized code is timed on the same
   subset too, so one ratio is measured on identical data.
3. Emoji: the fast path (`EmojiAnalyzer.scan`, non-ASCII runs only) on every body vs
   `emoji.emoji_list` on every body (timed on EMOJI_BASELINE_MESSAGES and extrapolated).

Usage: python benchmarks/bench_conversations.py [n_messages]
"""

from __future__ import annotations

import math
import resource
import statistics
import sys
import time
from collections import Counter
from datetime import UTC, datetime

import emoji
import numpy as np
import pandas as pd
from _harness import measure, report
from _history import generate_history

from astrabot_pipeline.conversations import (
    ConversationProcessor,
    EmojiAnalyzer,
    relationship_dynamics,
    resolve_time_zone,
)

N_MESSAGES = 1_000_000
BASELINE_MESSAGES = 100_000
EMOJI_BASELINE_MESSAGES = 200_000
TIME_ZONE = "Europe/Berlin"
GAP = 30 * 60
MAX_SPAN = 12 * 60 * 60
MIN_MESSAGES = 3
BURST_GAP = 120


def vectorized(
    messages: pd.DataFrame, reactions: pd.DataFrame, owner_id: int
) -> tuple[int, float, float]:
    """(threads, seconds windowing, seconds timing + relationship)."""
    began = time.perf_counter()
    windows = ConversationProcessor().create_conversation_windows(messages, reactions, owner_id)
    windowed = time.perf_counter()
    dynamics = relationship_dynamics(windows, time_zone=TIME_ZONE, text_column="body")
    return len(dynamics), windowed - began, time.perf_counter() - windowed


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    values = sorted(values)
    position = (len(values) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(values) - 1)
    return values[low] + (values[high] - values[low]) * (position - low)


def _ratio(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b) or max(a, b) == 0:
        return math.nan
    return min(a, b) / max(a, b)


def _thread_loop(rows: list, reactions: dict, owner_id: int, zone) -> dict:
    """Windows, bursts, emoji, reactions, timing and relationship numbers of one thread."""
    windows: list[list] = []
    last = None
    for row in rows:
        seconds = row.sent_at.timestamp()
        body = row.body if isinstance(row.body, str) else ""
        if last is None or seconds - last > GAP or seconds - windows[-1][0]["seconds"] >= MAX_SPAN:
            windows.append([])
        found = [m["emoji"] for m in emoji.emoji_list(body)]
        stripped = "".join(body.split())
        local = datetime.fromtimestamp(seconds, UTC).astimezone(zone)
        given = reactions.get(row.message_id, [])
        windows[-1].append(
            {
                "seconds": seconds,
                "out": row.is_outgoing,
                "sender": row.sender_id,
                "chars": len(body),
                "emoji": found,
                "only": bool(found) and "".join(found) == stripped,
                "question": body.rstrip().endswith("?"),
                "hour": local.hour,
                "weekday": local.weekday(),
                "by_owner": [e for author, e in given if author == owner_id],
                "by_others": [e for author, e in given if author != owner_id],
            }
        )
        last = seconds
    windows = [w for w in windows if len(w) >= MIN_MESSAGES]
    messages = [m for w in windows for m in w]
    if not messages:
        return {}
    owner = [m for m in messages if m["out"]]
    contact = [m for m in messages if not m["out"]]
    owner_replies, contact_replies, double = [], [], Counter()
    turns = {"owner": [0, 0], "contact": [0, 0]}
    for window in windows:
        bursts = 0
        for i, m in enumerate(window):
            previous = window[i - 1] if i else None
            gap = m["seconds"] - previous["seconds"] if previous else None
            if previous is None or previous["sender"] != m["sender"] or gap > BURST_GAP:
                bursts += 1
                if previous is not None and previous["sender"] == m["sender"]:
                    double["owner" if m["out"] else "contact"] += 1
            if previous is not None and previous["sender"] != m["sender"]:
                if m["out"]:
                    owner_replies.append(gap)
                elif previous["out"]:
                    contact_replies.append(gap)
            if previous is None or previous["out"] != m["out"]:
                side = "owner" if m["out"] else "contact"
                turns[side][0] += 1
                if previous is not None:
                    turns["owner" if previous["out"] else "contact"][1] += 1
    gaps = [b["seconds"] - a["seconds"] for a, b in zip(messages, messages[1:], strict=False)]
    mu = statistics.fmean(gaps) if gaps else math.nan
    sigma = statistics.pstdev(gaps) if len(gaps) > 1 else math.nan
    hours = Counter(m["hour"] for m in messages)
    owner_rate = turns["contact"][1] / turns["contact"][0] if turns["contact"][0] else math.nan
    contact_rate = turns["owner"][1] / turns["owner"][0] if turns["owner"][0] else math.nan
    owner_emoji = sum(len(m["emoji"]) for m in owner) / len(owner) if owner else math.nan
    contact_emoji = sum(len(m["emoji"]) for m in contact) / len(contact) if contact else math.nan
    top_owner = Counter(e for m in owner for e in m["emoji"])
    top_owner.update(e for m in messages for e in m["by_owner"])
    top_contact = Counter(e for m in contact for e in m["emoji"])
    top_contact.update(e for m in messages for e in m["by_others"])
    chars = sum(m["chars"] for m in messages)
    return {
        "participants": len({m["sender"] for m in messages}),
        "messages": len(messages),
        "windows": len(windows),
        "owner_share": len(owner) / len(messages),
        "owner_char_share": sum(m["chars"] for m in owner) / chars if chars else math.nan,
        "owner_reply": (_quantile(owner_replies, 0.5), _quantile(owner_replies, 0.9)),
        "contact_reply": (_quantile(contact_replies, 0.5), _quantile(contact_replies, 0.9)),
        "reply_reciprocity": _ratio(owner_rate, contact_rate),
        "initiation": sum(w[0]["out"] for w in windows) / len(windows),
        "double_text": (
            double["owner"] / len(owner) if owner else math.nan,
            double["contact"] / len(contact) if contact else math.nan,
        ),
        "burstiness": (sigma - mu) / (sigma + mu) if len(gaps) >= 3 and sigma + mu else math.nan,
        "questions": sum(m["question"] for m in messages),
        "emoji_reciprocity": _ratio(owner_emoji, contact_emoji),
        "emoji_only": sum(m["only"] for m in owner),
        "top": (
            [e for e, _ in top_owner.most_common(3)],
            [e for e, _ in top_contact.most_common(3)],
        ),
        "reactions": (
            sum(len(m["by_owner"]) for m in messages),
            sum(len(m["by_others"]) for m in messages),
        ),
        "hour_profile": [hours[h] / len(messages) for h in range(24)],
        "weekday_profile": Counter(m["weekday"] for m in messages),
        "night_share": sum(hours[h] for h in range(6)) / len(messages),
    }


def per_thread_loop(messages: pd.DataFrame, reactions: pd.DataFrame, owner_id: int) -> int:
    """The obvious baseline: group rows by thread, then plain Python per message."""
    zone = resolve_time_zone(TIME_ZONE)
    by_message: dict[int, list] = {}
    for row in reactions.itertuples(index=False):
        by_message.setdefault(row.message_id, []).append((row.author_id, row.emoji))
    threads: dict[int, list] = {}
    for row in messages.sort_values(["thread_id", "sent_at", "message_id"]).itertuples(index=False):
        threads.setdefault(row.thread_id, []).append(row)
    return len([_thread_loop(rows, by_message, owner_id, zone) for rows in threads.values()])


def _subset(messages: pd.DataFrame, reactions: pd.DataFrame, target: int):
    """Whole threads, in random order, until about `target` messages."""
    sizes = messages.groupby("thread_id").size().sample(frac=1.0, random_state=0)
    chosen = sizes.index[: int(np.searchsorted(sizes.cumsum().to_numpy(), target)) + 1]
    part = messages[messages["thread_id"].isin(chosen)]
    return part, reactions[reactions["message_id"].isin(part["message_id"])]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N_MESSAGES
    began = time.perf_counter()
    history = generate_history(n)
    messages, reactions, owner = history.messages, history.reactions, history.owner_id
    held = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"generated {len(messages):,} messages in {messages['thread_id'].nunique():,} threads, "
        f"{len(reactions):,} reactions in {time.perf_counter() - began:.1f} s "
        f"(parent holds {held:.0f} MiB; children inherit it)"
    )
    print(f"windowing + timing + relationship numbers (time zone {TIME_ZONE}):")
    seconds, peak, (threads, windowing, relating) = measure(
        lambda: vectorized(messages, reactions, owner)
    )
    report("vectorized (goal <= 15 s, <= 2 GiB)", len(messages), "msgs", seconds, peak)
    print(f"  of which windowing {windowing:.2f} s, timing + relationship {relating:.2f} s")
    part, part_reactions = _subset(messages, reactions, BASELINE_MESSAGES)
    sub_seconds, sub_peak, _ = measure(lambda: vectorized(part, part_reactions, owner))
    report("vectorized, subset", len(part), "msgs", sub_seconds, sub_peak)
    loop_seconds, loop_peak, _ = measure(lambda: per_thread_loop(part, part_reactions, owner))
    report("baseline: per-thread Python loop, subset", len(part), "msgs", loop_seconds, loop_peak)
    extrapolated = loop_seconds * len(messages) / len(part)
    print(
        f"  speed-up on the same subset: {loop_seconds / sub_seconds:.1f}x; the loop "
        f"extrapolated to {len(messages):,} messages (linear in messages): "
        f"{extrapolated:.0f} s = {extrapolated / seconds:.1f}x the vectorized full run"
    )
    print(f"  threads: {threads:,}")
    print("emoji per message (count, emoji-only, emoji list):")
    bodies = messages["body"]
    fast_seconds, fast_peak, _ = measure(lambda: len(EmojiAnalyzer().scan(bodies).count))
    report("fast path: non-ASCII runs only", len(bodies), "msgs", fast_seconds, fast_peak)
    sample = bodies.iloc[:EMOJI_BASELINE_MESSAGES]
    slow_seconds, slow_peak, _ = measure(
        lambda: sum(len(emoji.emoji_list(b)) for b in sample if isinstance(b, str))
    )
    report("emoji.emoji_list on every body", len(sample), "msgs", slow_seconds, slow_peak)
    per_million = slow_seconds * len(bodies) / len(sample)
    print(
        f"  emoji_list on all {len(bodies):,} bodies, extrapolated: {per_million:.1f} s "
        f"= {per_million / fast_seconds:.1f}x the fast path"
    )


if __name__ == "__main__":
    main()
