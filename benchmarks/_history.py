"""A large synthetic chat history for the conversation benchmarks, generated vectorized.

`generate_history(1_000_000)` builds a million decoded messages in a few seconds, shaped
like a real history so windowing, timing and text analytics see realistic work:

* a few thousand threads with heavy-tailed activity (a log-normal weight per thread: a
  few busy threads hold most messages, most threads are quiet), ~15 % of them groups of
  3-12 people (the owner included), a fifth of those groups one where the owner never
  writes;
* sessions: each thread's messages come in sessions (geometric length, mean ~9) that
  start on a random day of ~2 years at a waking-hours-weighted local hour; inside a
  session replies come seconds to minutes apart (log-normal, median ~25 s), and a side
  often sends a burst of several messages before the other answers;
* bodies drawn from the project's synthetic corpus writer (`generate_corpus`), so they
  carry its questions, laughter, typos, tweet links and emoji; ~40 % are two corpus
  bodies joined, which makes well over 30 % of the million bodies distinct strings (a
  dedupe cache cannot make text analytics look free). Emoji sit on ~15 % of messages,
  among them skin-tone and ZWJ sequences taken from the `emoji` package's data, and ~1 %
  of messages are emoji-only; ~1 % of bodies are empty and ~3 % are attachment-only
  (body None, attachment_count >= 1); ~2 % carry an extra link;
* clock skew: ~0.5 % of incoming messages were received before they were sent;
* reactions on ~6 % of messages, by another participant of the thread.

`messages` has exactly the decoded contract's columns and dtypes (`signal.tables.conform`),
`reactions` likewise; `threads` is the contract's `threads` table (is_group per thread).
Everything comes from `numpy.random.default_rng(seed)` and `generate_corpus(seed=seed)`,
so a seed always gives the same history.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path

import emoji
import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astrabot_pipeline.signal.tables import conform  # noqa: E402
from astrabot_pipeline.synthetic import generate_corpus  # noqa: E402

OWNER_ID = 1
YEARS = 2.0
GROUP_SHARE = 0.15
SILENT_OWNER_GROUP_SHARE = 0.2
MEAN_SESSION_LENGTH = 9.0
EMOJI_MESSAGE_SHARE = 0.15
EMOJI_ONLY_SHARE = 0.01
EMPTY_SHARE = 0.01
ATTACHMENT_ONLY_SHARE = 0.03
LINK_SHARE = 0.02
JOINED_SHARE = 0.4
SKEWED_SHARE = 0.005
REACTED_SHARE = 0.06
_POOL_MESSAGES = 40_000
_START = pd.Timestamp("2024-01-01", tz="UTC").value // 1_000_000  # Unix ms
# Relative weight of each local hour of the day for session starts (waking hours dominate).
_HOUR_WEIGHTS = np.array(
    [
        3,
        1.5,
        0.5,
        0.2,
        0.2,
        0.5,
        3,
        8,
        12,
        11,
        10,
        11,
        15,
        13,
        10,
        10,
        11,
        14,
        18,
        20,
        21,
        20,
        15,
        8,
    ]
)
_SKIN_TONES = tuple(chr(code) for code in range(0x1F3FB, 0x1F400))
_LINK_HOSTS = ("https://example.org/a/", "https://news.example.com/story/", "https://youtu.be/")


@dataclass(frozen=True)
class HistoryFrames:
    """A generated history: decoded-contract `messages`, `reactions`, `threads`, the owner."""

    messages: pd.DataFrame
    reactions: pd.DataFrame
    threads: pd.DataFrame
    owner_id: int


def _emoji_pools() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Plain, skin-toned and ZWJ emoji, all fully qualified, from the `emoji` package."""
    qualified = [
        e
        for e, data in emoji.EMOJI_DATA.items()
        if data["status"] == emoji.STATUS["fully_qualified"]
    ]
    toned = [e for e in qualified if any(tone in e for tone in _SKIN_TONES)]
    zwj = [e for e in qualified if "\u200d" in e and e not in toned]
    plain = [e for e in qualified if e not in toned and "\u200d" not in e]
    return np.array(plain, dtype=object), np.array(toned, dtype=object), np.array(zwj, dtype=object)


def _body_pools(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Corpus bodies without and with emoji (distinct strings, in a fixed order)."""
    corpus = generate_corpus(n_messages=_POOL_MESSAGES, seed=seed, months=24)
    bodies = sorted({m.body for m in corpus.chat_messages if m.body})
    with_emoji = [b for b in bodies if not b.isascii() and emoji.emoji_count(b)]
    plain = [b for b in bodies if b.isascii() or not emoji.emoji_count(b)]
    return np.array(plain, dtype=object), np.array(with_emoji, dtype=object)


def _segment_starts(keys: np.ndarray) -> np.ndarray:
    """True where a run of equal keys begins (keys sorted)."""
    starts = np.ones(len(keys), dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    return starts


def _forward_fill(values: np.ndarray, valid: np.ndarray) -> np.ndarray:
    index = np.where(valid, np.arange(len(values)), 0)
    np.maximum.accumulate(index, out=index)
    return values[index]


def _bodies(rng: np.random.Generator, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(body per message as an object array with None for attachment-only, attachment count)."""
    plain, with_emoji = _body_pools(seed)
    plain_emoji, toned, zwj = _emoji_pools()
    # Corpus bodies carry emoji more often than a real history; draw the share we want.
    has_emoji = rng.random(n) < EMOJI_MESSAGE_SHARE
    bodies = np.where(
        has_emoji,
        with_emoji[rng.integers(0, len(with_emoji), n)],
        plain[rng.integers(0, len(plain), n)],
    )
    joined = np.flatnonzero(rng.random(n) < JOINED_SHARE)
    heads = plain[rng.integers(0, len(plain), len(joined))]
    separators = np.array([" ", ". ", "\n", ", "], dtype=object)[rng.integers(0, 4, len(joined))]
    bodies[joined] = heads + separators + bodies[joined]
    # Add a skin-toned or ZWJ emoji to a third of the emoji messages.
    decorated = np.flatnonzero(has_emoji & (rng.random(n) < 1 / 3))
    extra = np.where(
        rng.random(len(decorated)) < 0.5,
        toned[rng.integers(0, len(toned), len(decorated))],
        zwj[rng.integers(0, len(zwj), len(decorated))],
    )
    bodies[decorated] = bodies[decorated] + " " + extra
    links = np.flatnonzero(rng.random(n) < LINK_SHARE)
    hosts = np.array(_LINK_HOSTS, dtype=object)[rng.integers(0, len(_LINK_HOSTS), len(links))]
    tokens = rng.integers(10**6, 10**9, len(links)).astype(str).astype(object)
    bodies[links] = bodies[links] + " " + hosts + tokens
    kind = rng.random(n)
    only = np.flatnonzero(kind < EMOJI_ONLY_SHARE)
    pools = (plain_emoji[:200], toned, zwj)  # the first 200 plain ones: the common faces
    choice = rng.integers(0, 3, len(only))
    singles = np.empty(len(only), dtype=object)
    for which, pool in enumerate(pools):
        at = choice == which
        singles[at] = pool[rng.integers(0, len(pool), int(at.sum()))]
    repeat = rng.integers(1, 4, len(only))
    bodies[only] = [single * times for single, times in zip(singles, repeat, strict=True)]
    bodies[(kind >= EMOJI_ONLY_SHARE) & (kind < EMOJI_ONLY_SHARE + EMPTY_SHARE)] = ""
    attachment_only = (kind >= EMOJI_ONLY_SHARE + EMPTY_SHARE) & (
        kind < EMOJI_ONLY_SHARE + EMPTY_SHARE + ATTACHMENT_ONLY_SHARE
    )
    bodies[attachment_only] = None
    attachments = np.where(attachment_only, rng.integers(1, 4, n), 0)
    captioned = ~attachment_only & (rng.random(n) < 0.01)
    attachments[captioned] = 1
    return bodies, attachments.astype(np.int32)


def generate_history(
    n_messages: int = 1_000_000, n_threads: int = 3_000, seed: int = 0
) -> HistoryFrames:
    """A realistic decoded history of exactly `n_messages` messages in `n_threads` threads."""
    if n_messages < n_threads or n_threads < 1:
        raise ValueError("need at least one thread and one message per thread")
    rng = np.random.default_rng(seed)
    # --- threads and their people ---------------------------------------------------------
    weights = rng.lognormal(0.0, 1.6, n_threads)
    per_thread = 1 + rng.multinomial(n_messages - n_threads, weights / weights.sum())
    is_group = rng.random(n_threads) < GROUP_SHARE
    direct = np.flatnonzero(~is_group)
    contact_of = np.zeros(n_threads, dtype=np.int64)
    contact_of[direct] = OWNER_ID + 1 + np.arange(len(direct))
    contacts = contact_of[direct]
    group_size = np.where(is_group, rng.integers(3, 13, n_threads), 2)  # owner included
    group_size = np.minimum(group_size, len(contacts) + 1)
    owner_silent = is_group & (rng.random(n_threads) < SILENT_OWNER_GROUP_SHARE)
    # Participant table: row t holds the thread's writers (owner first unless silent).
    width = int(group_size.max())
    members = np.full((n_threads, width), -1, dtype=np.int64)
    members[:, 0] = OWNER_ID
    members[direct, 1] = contacts
    for t in np.flatnonzero(is_group):
        members[t, 1 : group_size[t]] = rng.choice(contacts, group_size[t] - 1, replace=False)
    writers = group_size - owner_silent
    first_writer = owner_silent.astype(np.int64)
    # --- messages: thread, session, sender -------------------------------------------------
    thread_index = np.repeat(np.arange(n_threads), per_thread)
    thread_begins = _segment_starts(thread_index)
    new_session = thread_begins | (rng.random(n_messages) < 1 / MEAN_SESSION_LENGTH)
    session = np.cumsum(new_session) - 1
    n_sessions = int(session[-1]) + 1
    days = rng.integers(0, int(365 * YEARS), n_sessions)
    hours = rng.choice(24, n_sessions, p=_HOUR_WEIGHTS / _HOUR_WEIGHTS.sum())
    session_start = (
        _START + (days * 24 + hours) * 3_600_000 + rng.integers(0, 3_600_000, n_sessions)
    )
    gaps = np.clip(rng.lognormal(np.log(25_000), 1.3, n_messages), 0, 25 * 60_000).astype(np.int64)
    gaps[new_session] = 0
    gaps[rng.random(n_messages) < 0.003] = 0  # a few identical timestamps
    offset = np.cumsum(gaps)
    offset -= offset[new_session][session]
    sent_ms = session_start[session] + offset
    # A side speaks a turn (a burst of 1+ messages) and then someone else takes over.
    switch = new_session | (rng.random(n_messages) < 0.55)
    pick = first_writer[thread_index] + (rng.random(n_messages) * writers[thread_index]).astype(
        np.int64
    )
    slot = _forward_fill(pick, switch)
    sender = members[thread_index, slot]
    # Order by (thread, time) and number messages in global time order like Signal's ids.
    order = np.lexsort((sent_ms, thread_index))
    thread_index, sent_ms, sender = thread_index[order], sent_ms[order], sender[order]
    by_time = np.argsort(sent_ms, kind="stable")
    message_id = np.empty(n_messages, dtype=np.int64)
    message_id[by_time] = np.arange(1, n_messages + 1)
    is_outgoing = sender == OWNER_ID
    delay = rng.lognormal(np.log(800), 1.0, n_messages).astype(np.int64)
    skewed = ~is_outgoing & (rng.random(n_messages) < SKEWED_SHARE)
    delay[skewed] = -rng.integers(1_000, 90_000, int(skewed.sum()))
    received_ms = np.where(is_outgoing, sent_ms, sent_ms + delay)
    bodies, attachments = _bodies(rng, n_messages, seed)
    messages = pd.DataFrame(
        {
            "message_id": message_id,
            "thread_id": thread_index.astype(np.int64) + 1,
            "sender_id": sender,
            "is_outgoing": is_outgoing,
            "sent_at": pd.to_datetime(sent_ms, unit="ms", utc=True),
            "received_at": pd.to_datetime(received_ms, unit="ms", utc=True),
            "body": bodies,
            "quote_message_id": pd.array([None] * n_messages, dtype="Int64"),
            "attachment_count": attachments,
            "edited": rng.random(n_messages) < 0.003,
        }
    )
    messages = conform("messages", messages.sort_values("message_id", ignore_index=True))
    # --- reactions --------------------------------------------------------------------------
    reacted = np.flatnonzero(rng.random(n_messages) < REACTED_SHARE)
    reacted = np.repeat(reacted, rng.integers(1, 3, len(reacted)))
    t = thread_index[reacted]
    author = members[t, rng.integers(0, group_size[t])]
    keep = (author != sender[reacted]) & (author >= 0)
    reacted, author = reacted[keep], author[keep]
    reaction_pool = np.array(
        ["❤️", "👍", "😂", "😮", "😢", "🙏", "🔥", "👍🏽", "👍🏻", "❤️‍🔥"], dtype=object
    )
    weights = np.array([8, 8, 6, 2, 2, 2, 2, 1, 1, 1], dtype=float)
    reaction_emoji = reaction_pool[
        rng.choice(len(reaction_pool), len(reacted), p=weights / weights.sum())
    ]
    reaction_ms = sent_ms[reacted] + rng.lognormal(np.log(60_000), 1.5, len(reacted)).astype(
        np.int64
    )
    reactions = pd.DataFrame(
        {
            "message_id": message_id[reacted],
            "author_id": author,
            "emoji": reaction_emoji,
            "sent_at": pd.to_datetime(reaction_ms, unit="ms", utc=True),
        }
    ).drop_duplicates(["message_id", "author_id"])
    reactions = conform("reactions", reactions.sort_values("message_id", ignore_index=True))
    threads = conform(
        "threads",
        pd.DataFrame(
            {
                "thread_id": np.arange(1, n_threads + 1, dtype=np.int64),
                "recipient_id": np.where(is_group, 10**9 + np.arange(n_threads), contact_of),
                "is_group": is_group,
                "title": None,
            }
        ),
    )
    return HistoryFrames(messages=messages, reactions=reactions, threads=threads, owner_id=OWNER_ID)


if __name__ == "__main__":
    import time

    began = time.perf_counter()
    history = generate_history()
    seconds = time.perf_counter() - began
    frame = history.messages
    bodies = frame["body"]
    print(f"{len(frame):,} messages, {len(history.reactions):,} reactions in {seconds:.1f} s")
    print(f"  distinct bodies: {bodies.nunique() / len(frame):.1%}")
    print(f"  groups: {history.threads['is_group'].mean():.1%} of threads")
    sizes = frame.groupby("thread_id").size().sort_values(ascending=False)
    print(f"  busiest 1 % of threads hold {sizes.head(len(sizes) // 100).sum() / len(frame):.1%}")
    print(f"  outgoing: {frame['is_outgoing'].mean():.1%}")
