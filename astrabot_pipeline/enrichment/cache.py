"""A small on-disk cache of resolved tweets, keyed by tweet id, written atomically."""

from __future__ import annotations

import json
from pathlib import Path

from astrabot_pipeline.storage import write_json


class TweetCache:
    """JSON file mapping tweet id -> {"status", "text"}; only resolved tweets are cached."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._entries: dict[str, dict[str, str | None]] = {}
        if path is not None and path.exists():
            try:
                self._entries = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, json.JSONDecodeError):
                # A damaged cache only costs refetches; start over rather than fail the run.
                self._entries = {}

    def get(self, tweet_id: str) -> dict[str, str | None] | None:
        return self._entries.get(tweet_id)

    def put(self, tweet_id: str, entry: dict[str, str | None]) -> None:
        self._entries[tweet_id] = entry

    def __len__(self) -> int:
        return len(self._entries)

    def save(self) -> None:
        if self.path is not None:
            write_json(self.path, self._entries)
