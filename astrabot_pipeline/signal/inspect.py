"""What a backup holds, without writing anything: versions, frame and blob counts, rows.

Legacy `.backup`: every frame and blob is MAC-checked (as a decode would) but nothing is
replayed or extracted, so inspecting needs no disk space and leaves no plaintext behind.
Backup v2 (encrypted `main`, snapshot folder, plaintext export ZIP or `main.jsonl`): the
file is authenticated (when encrypted) and every frame parsed and counted by kind, with
the same limits and errors as a decode.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from astrabot_pipeline.signal.backup_v2.reader import open_frames
from astrabot_pipeline.signal.crypto import KeyRing, as_key_ring
from astrabot_pipeline.signal.discovery import input_size
from astrabot_pipeline.signal.errors import PassphraseMissingError, UnsupportedBackupError
from astrabot_pipeline.signal.inputs import InputKind, detect_input
from astrabot_pipeline.signal.output_dir import check_readable_input
from astrabot_pipeline.signal.processor import (
    PROGRESS_EVERY_BYTES,
    PROGRESS_EVERY_FRAMES,
    ProgressCallback,
)
from astrabot_pipeline.signal.reader import (
    BackupReader,
    BlobEvent,
    DatabaseVersionEvent,
    EndEvent,
    KeyValueEvent,
    PreferenceEvent,
    StatementEvent,
)
from astrabot_pipeline.signal.sqlite_replay import inserted_table

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
    progress: ProgressCallback | None = None,
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


@dataclass(frozen=True)
class BackupV2Inspection:
    """Counts (never content) describing one backup-v2 input or plaintext export."""

    backup_path: Path
    input_kind: str
    file_size: int
    format_version: int | None
    records: int
    lines: int
    bytes_decompressed: int
    frames_by_kind: dict[str, int]
    chat_items_by_kind: dict[str, int]
    seconds: float
    warnings: tuple[str, ...] = field(default=())

    def summary_lines(self) -> list[str]:
        """What `astrabot inspect` prints (counts only)."""
        read = f"{self.lines:,} lines of main.jsonl" if self.lines else "authenticated"
        return [
            f"backup: {self.backup_path.name} ({self.input_kind}, {self.file_size:,} bytes, "
            f"{read}, {self.bytes_decompressed:,} bytes decompressed, in {self.seconds:.1f} s)",
            f"format version (BackupInfo): {self.format_version}",
            f"records: {self.records:,} (BackupInfo and {self.records - 1:,} frames)",
            "frames:",
            *(f"  {kind}: {count:,}" for kind, count in self.frames_by_kind.items()),
            "chat items:" if self.chat_items_by_kind else "chat items: none",
            *(f"  {kind}: {count:,}" for kind, count in self.chat_items_by_kind.items()),
            *(f"warning: {warning}" for warning in self.warnings),
        ]


def inspect_backup_v2(
    backup_path: str | Path,
    *,
    recovery_key: str | None = None,
    aci: str | None = None,
    forward_secrecy_token: bytes | None = None,
) -> BackupV2Inspection:
    """Read every frame of a backup-v2 input and count them by kind; nothing is written.

    The recovery key and ACI are needed only for an encrypted `main`. Raises the same
    BackupError subclasses as a decode (damaged line, size limits, wrong key...).
    """
    started = time.perf_counter()
    path = Path(backup_path)
    source = open_frames(
        path, recovery_key=recovery_key, aci=aci, forward_secrecy_token=forward_secrecy_token
    )
    kinds: Counter[str] = Counter()
    items: Counter[str] = Counter()
    for frame in source.frames:
        kind = frame.WhichOneof("item") or "unset"
        kinds[kind] += 1
        if kind == "chatItem":
            items[frame.chatItem.WhichOneof("item") or "unset"] += 1
    stats = source.stats
    empty = stats.records - 1 - sum(kinds.values())  # runs of empty binary records
    if empty > 0:
        kinds["unset"] += empty
    return BackupV2Inspection(
        backup_path=path,
        input_kind=(InputKind.BACKUP_V2 if stats.lines == 0 else InputKind.BACKUP_V2_EXPORT).value,
        file_size=input_size(path),
        format_version=stats.format_version,
        records=stats.records,
        lines=stats.lines,
        bytes_decompressed=stats.bytes_read,
        frames_by_kind=dict(sorted(kinds.items())),
        chat_items_by_kind=dict(sorted(items.items())),
        seconds=round(time.perf_counter() - started, 3),
        warnings=tuple(stats.warnings),
    )


def inspect_input(
    backup_path: str | Path,
    passphrase: str | KeyRing | None,
    *,
    aci: str | None = None,
    progress: ProgressCallback | None = None,
) -> BackupInspection | BackupV2Inspection:
    """Inspect a legacy `.backup` or a backup-v2 input, whichever `backup_path` holds."""
    kind = detect_input(backup_path)
    if kind in (InputKind.BACKUP_V2, InputKind.BACKUP_V2_EXPORT):
        return inspect_backup_v2(
            backup_path,
            recovery_key=passphrase if isinstance(passphrase, str) else None,
            aci=aci,
        )
    if kind is not InputKind.LEGACY_BACKUP:
        raise UnsupportedBackupError(
            f"inspect reads Signal .backup files and backup-v2 inputs; this is a {kind.value} "
            "input: decode it instead"
        )
    if passphrase is None:
        raise PassphraseMissingError(
            "this backup needs its passphrase: set SIGNAL_BACKUP_PASSPHRASE to the 30 digits "
            "Signal showed when backups were turned on"
        )
    return inspect_backup(backup_path, passphrase, progress=progress)
