"""What a backup-v2 input holds, without writing anything: frames counted by kind.

Encrypted `main`, snapshot folder, plaintext export ZIP or `main.jsonl`: the file is
authenticated (when encrypted) and every frame parsed and counted by kind, with the same
limits and errors as a decode.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from astrabot_pipeline.signal.backup_v2.reader import open_frames
from astrabot_pipeline.signal.discovery import input_size
from astrabot_pipeline.signal.inputs import InputKind


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
