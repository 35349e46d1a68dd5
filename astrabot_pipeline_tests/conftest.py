"""Shared test setup: offline, private files, and the path of ../shared when present."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pandas as pd

from astrabot_pipeline.settings import harden_process

harden_process()

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = PROJECT_ROOT.parent / "shared"


def make_messages(rows: list[tuple[int, int, bool, float, str | None]]) -> pd.DataFrame:
    """Messages frame from (thread_id, sender_id, is_outgoing, seconds, body) tuples."""
    return pd.DataFrame(
        {
            "message_id": range(1, len(rows) + 1),
            "thread_id": [r[0] for r in rows],
            "sender_id": [r[1] for r in rows],
            "is_outgoing": [r[2] for r in rows],
            "sent_at": pd.to_datetime([r[3] for r in rows], unit="s", utc=True),
            "body": [r[4] for r in rows],
        }
    )


def backdate(path: Path, seconds: float) -> Path:
    """Set `path`'s access and modification times `seconds` into the past (a file copied
    that long ago, for the sensor's settledness)."""
    stamp = time.time() - seconds
    os.utime(path, (stamp, stamp))
    return path
