"""Emoji usage per message and per sender, with the `emoji` package's full catalogue."""

from __future__ import annotations

from collections import Counter

import emoji
import pandas as pd


class EmojiAnalyzer:
    """Counts emoji in message bodies; no text leaves this class, only counts."""

    def count(self, body: str | None) -> int:
        return emoji.emoji_count(body) if isinstance(body, str) else 0

    def emoji_in(self, body: str | None) -> list[str]:
        return [match["emoji"] for match in emoji.emoji_list(body)] if isinstance(body, str) else []

    def count_column(self, bodies: pd.Series) -> pd.Series:
        """Emoji count per message, as int32 (0 for empty bodies)."""
        return bodies.map(self.count).astype("int32")

    def top_emoji(self, bodies: pd.Series, n: int = 10) -> list[tuple[str, int]]:
        counts: Counter[str] = Counter()
        for body in bodies:
            counts.update(self.emoji_in(body))
        return counts.most_common(n)
