"""What a legacy `.backup` holds, without writing anything: versions, frame and blob counts, rows.

Every frame and blob is MAC-checked (as a decode would) but nothing is replayed or
extracted, so inspecting needs no disk space and leaves no plaintext behind.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from astrabot_pipeline.signal.input_reader import (
    PROGRESS_EVERY_BYTES,
    PROGRESS_EVERY_FRAMES,
    DecodeProgress,
)
from astrabot_pipeline.signal.legacy.crypto import KeyRing, as_key_ring
from astrabot_pipeline.signal.legacy.events import (
    BlobEvent,
    DatabaseVersionEvent,
    EndEvent,
    KeyValueEvent,
    PreferenceEvent,
    StatementEvent,
)
from astrabot_pipeline.signal.legacy.reader import BackupReader
from astrabot_pipeline.signal.legacy.sqlite_replay import inserted_table
from astrabot_pipeline.signal.output_dir import check_readable_input

_EVENT_KINDS: dict[type, str] = {
    StatementEvent: "statement",
    DatabaseVersionEvent: "database_version",
    PreferenceEvent: "preference",
    KeyValueEvent: "key_value",
    EndEvent: "end",
}


@dataclass(frozen=True)
class BackupInspection:
    """Counts (never content) describing one backup; raised errors mean nothing was counted."""

    backup_path: Path
    file_size: int
    backup_version: int
    database_version: int | None
    frames: int
    frames_by_kind: dict[str, int]
    blob_counts: dict[str, int]
    blob_bytes: dict[str, int]
    table_rows: dict[str, int]
    seconds: float
    warnings: tuple[str, ...] = field(default=())


def inspect_backup(
    backup_path: str | Path,
    passphrase: str | KeyRing,
    *,
    progress: DecodeProgress | None = None,
) -> BackupInspection:
    """MAC-check every frame and blob of `backup_path` and count what it holds.

    Raises the same BackupError subclasses as a decode (wrong passphrase, truncation...).
    """
    check_readable_input(backup_path)  # a typed error for a locked file or a symlink loop
    started = time.perf_counter()
    reader = BackupReader(backup_path, as_key_ring(passphrase), verify_mac=True)
    kinds: Counter[str] = Counter()
    blob_counts: Counter[str] = Counter()
    blob_bytes: Counter[str] = Counter()
    rows: Counter[str] = Counter()
    tables_by_sql: dict[str, str | None] = {}
    reported = 0
    for count, event in enumerate(reader, start=1):
        if type(event) is StatementEvent:
            sql = event.sql
            if sql not in tables_by_sql:
                tables_by_sql[sql] = inserted_table(sql)
            if (table := tables_by_sql[sql]) is not None:
                rows[table] += 1
        if isinstance(event, BlobEvent):
            kinds[event.kind] += 1
            blob_counts[event.kind] += 1
            blob_bytes[event.kind] += event.length
        else:
            kinds[_EVENT_KINDS[type(event)]] += 1
        if progress is not None and (
            count % PROGRESS_EVERY_FRAMES == 0
            or reader.bytes_read - reported >= PROGRESS_EVERY_BYTES
        ):
            progress(reader.frames_read, reader.bytes_read, reader.file_size)
            reported = reader.bytes_read
    if progress is not None:
        progress(reader.frames_read, reader.bytes_read, reader.file_size)
    assert reader.header is not None
    return BackupInspection(
        backup_path=Path(backup_path),
        file_size=reader.file_size,
        backup_version=reader.header.version,
        database_version=reader.database_version,
        frames=reader.frames_read,
        frames_by_kind=dict(sorted(kinds.items())),
        blob_counts=dict(sorted(blob_counts.items())),
        blob_bytes=dict(sorted(blob_bytes.items())),
        table_rows=dict(sorted(rows.items())),
        seconds=round(time.perf_counter() - started, 3),
        warnings=tuple(reader.warnings),
    )
