"""Emoji usage per message and per side, with the `emoji` package's data as the only table.

Scanning every message with `emoji.emoji_list` costs ~16-27 µs a message (~16 s per
million), so `EmojiAnalyzer.scan` does the same work in three cheaper steps, all driven
by `emoji.EMOJI_DATA` (no emoji is written down here):

1. ASCII text holds no emoji: every key of `emoji.EMOJI_DATA` has a non-ASCII code point
   (the keycaps `#️⃣`, `1⃣`, … start with an ASCII character but go on with U+FE0F /
   U+20E3; a unit test checks the claim against the data). `Series.str.isascii()` is
   vectorized, so only the non-ASCII bodies (~20 % of a real history) go further.
2. In those, a regular expression built from the data finds the runs of characters that
   can be part of an emoji (non-ASCII code points from the lowest to the highest one used
   by any key, optionally led by one of the ASCII characters keys start with). An emoji
   never spans two runs, because every character of every key is in the class.
3. Each distinct run goes through `emoji.emoji_list` itself (memoized: runs repeat a
   lot, "😂", "😭😭", "❤️"), so the result is the package's own tokenization: skin-tone
   and ZWJ sequences, flags and keycaps each count as one emoji, and an unknown ZWJ
   combination splits into its known parts exactly as the package splits it.

A unit test proves `scan` equal to `emoji.emoji_list` on generated bodies.

Per message: `count` (int32), `emoji_only` (at least one emoji and nothing but emoji and
whitespace), `emoji` (the message's emoji in order, joined by single spaces; "" when none).
No text leaves this module: only emoji and counts.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

import emoji
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

EMOJI_SEPARATOR = " "


def _emoji_run_pattern() -> re.Pattern[str]:
    """Runs of characters that may belong to an emoji, derived from `emoji.EMOJI_DATA`.

    The class is one code-point range, from the lowest to the highest non-ASCII code point
    of any key: a superset of every key's characters (so no emoji is cut), and one range
    keeps `re` fast (a class of the exact 1,400+ astral code points is ~5x slower).
    """
    inner: set[int] = set()
    leading_ascii: set[str] = set()
    for key in emoji.EMOJI_DATA:
        for position, char in enumerate(key):
            if char.isascii():
                if position != 0:  # the runs below rely on ASCII only ever leading a key
                    raise RuntimeError("emoji data has ASCII inside a key; update the scanner")
                leading_ascii.add(char)
            else:
                inner.add(ord(char))
    lowest, highest = re.escape(chr(min(inner))), re.escape(chr(max(inner)))
    lead = "".join(re.escape(char) for char in sorted(leading_ascii))
    return re.compile(f"[{lead}]?[{lowest}-{highest}]+")


_RUNS = _emoji_run_pattern()


@lru_cache(maxsize=65_536)
def _emoji_of_run(run: str) -> tuple[str, ...]:
    return tuple(match["emoji"] for match in emoji.emoji_list(run))


def emoji_in(text: str | None) -> list[str]:
    """The emoji of one text in order, as the `emoji` package tokenizes them."""
    if not isinstance(text, str) or text.isascii():
        return []
    return [found for run in _RUNS.findall(text) for found in _emoji_of_run(run)]


def arrow_text(texts: pd.Series) -> pa.Array:
    """A text column as an Arrow string array (None/NaN become nulls), without a Python pass."""
    return pa.Array.from_pandas(texts.astype("str") if texts.dtype != "str" else texts)


@dataclass(frozen=True)
class EmojiScan:
    """Per-message emoji features, aligned with the scanned Series' index."""

    count: pd.Series  # int32
    emoji_only: pd.Series  # bool
    emoji: pd.Series  # str: the emoji joined by EMOJI_SEPARATOR, "" when none


def split_emoji(joined: Iterable[str | None]) -> list[str]:
    """Flatten `EMOJI_SEPARATOR`-joined emoji strings (a scan's `emoji` column) into emoji."""
    return [item for text in joined if text for item in text.split(EMOJI_SEPARATOR)]


def top_emoji(emoji_strings: Iterable[str | None], n: int = 3) -> str:
    """The `n` most used emoji (ties: first seen first) as one string, "" when none."""
    counts = Counter(split_emoji(emoji_strings))
    return "".join(item for item, _ in counts.most_common(n))


class EmojiAnalyzer:
    """Counts emoji in message bodies; no text leaves this class, only emoji and counts."""

    def count(self, body: str | None) -> int:
        return len(emoji_in(body))

    def emoji_in(self, body: str | None) -> list[str]:
        return emoji_in(body)

    def scan(self, bodies: pd.Series) -> EmojiScan:
        """Count, emoji-only flag and emoji list of every body (None/NaN: no emoji)."""
        n = len(bodies)
        counts = np.zeros(n, dtype=np.int32)
        only = np.zeros(n, dtype=bool)
        joined = np.full(n, "", dtype=object)
        text = arrow_text(bodies)
        ascii_text = pc.fill_null(pc.string_is_ascii(text), True).to_numpy(zero_copy_only=False)
        candidates = np.flatnonzero(~ascii_text)
        values = text.take(pa.array(candidates)).to_pylist()
        findall = _RUNS.findall
        for position, text in zip(candidates, values, strict=True):
            runs = findall(text)
            if not runs:
                continue
            found = [item for run in runs for item in _emoji_of_run(run)]
            if not found:
                continue
            counts[position] = len(found)
            joined[position] = EMOJI_SEPARATOR.join(found)
            only[position] = sum(map(len, found)) == len("".join(text.split()))
        index = bodies.index
        return EmojiScan(
            count=pd.Series(counts, index=index, name="emoji_count"),
            emoji_only=pd.Series(only, index=index, name="emoji_only"),
            emoji=pd.Series(joined, index=index, name="message_emoji", dtype=object),
        )

    def count_column(self, bodies: pd.Series) -> pd.Series:
        """Emoji count per message, as int32 (0 for empty bodies)."""
        return self.scan(bodies).count

    def top_emoji(self, bodies: pd.Series, n: int = 10) -> list[tuple[str, int]]:
        counts: Counter[str] = Counter(split_emoji(self.scan(bodies).emoji))
        return counts.most_common(n)
