"""Shared test setup: offline, private files, and the path of ../shared when present."""

from __future__ import annotations

import os
import struct
import time
from collections.abc import Sequence
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


def thinnest_history_examples(conversations: Sequence[list[dict]]) -> pd.DataFrame:
    """The mixed dataset of the thinnest history the dataset stage accepts: one
    conversational example per conversation (MIN_TRAINING_EXAMPLES of them), all but the
    last two in one window, so the split leaves one test window of one example."""
    from astrabot_pipeline.dataset import TrainingDataCreator
    from astrabot_pipeline.dataset.builder import EXAMPLE_COLUMNS, MIN_TRAINING_EXAMPLES

    if len(conversations) != MIN_TRAINING_EXAMPLES:
        raise ValueError(f"the thinnest history has {MIN_TRAINING_EXAMPLES} conversations")
    rows = []
    for i, messages in enumerate(conversations):
        window = "w0" if i < MIN_TRAINING_EXAMPLES - 2 else f"w{i}"
        rows.append(
            {
                "example_id": f"conversational:{window}:{i}",
                "kind": "conversational",
                "window_id": window,
                "thread_id": 1,
                "window_start": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=i),
                "split": None,
                "messages": messages,
            }
        )
    frame = pd.DataFrame(rows, columns=list(EXAMPLE_COLUMNS))
    return TrainingDataCreator().combine(frame).examples


def legacy_backup_stub(path: Path, body: bytes = b"") -> Path:
    """A file that starts like a legacy `.backup` (a plausible header frame length and
    field tag) followed by `body`: what the backup folder's discovery takes for a backup
    without decoding it, so sensor tests need no encrypted demo backup."""
    path.write_bytes(struct.pack(">I", 36) + b"\x0a" + bytes(35) + body)
    return path
