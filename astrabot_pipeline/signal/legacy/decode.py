"""The legacy `.backup` as an input kind: stream the frames, replay them into SQLite, read the
tables (`LegacyBackupReader`), or only MAC-check every frame (`validate_integrity`).

The decode leaves `signal.sqlite` (the replayed database, with astrabot_* side tables) and
the extracted blobs in `attachments|avatars|stickers/` of the output folder.
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from astrabot_pipeline.signal.android_db.database_tables import normalize_database
from astrabot_pipeline.signal.errors import BackupError, CorruptFrameError, TruncatedBackupError
from astrabot_pipeline.signal.input_reader import (
    PROGRESS_EVERY_BYTES,
    PROGRESS_EVERY_FRAMES,
    DecodedInput,
    DecodeRequest,
    KindReport,
)
from astrabot_pipeline.signal.inputs import InputKind
from astrabot_pipeline.signal.legacy.crypto import KeyRing
from astrabot_pipeline.signal.legacy.events import (
    BlobEvent,
    KeyValueEvent,
    PreferenceEvent,
    StatementEvent,
)
from astrabot_pipeline.signal.legacy.reader import BackupReader
from astrabot_pipeline.signal.legacy.sqlite_replay import SqliteReplayer

DB_FILE = "signal.sqlite"
NO_MAC_WARNING = (
    "MAC verification was disabled: corrupted or tampered data was not "
    "detected; use this output for diagnosis only"
)


@dataclass(frozen=True)
class LegacyBackupReport(KindReport):
    """What only a legacy backup reports: its frames, header version and trailing bytes."""

    frames: int
    backup_version: int
    trailing_bytes: int = 0  # bytes after the End frame, ignored


class LegacyBackupReader:
    """A Signal Android `.backup` (backup versions 0 and 1), opened with its passphrase."""

    kind: ClassVar[InputKind] = InputKind.LEGACY_BACKUP

    def decode(self, path: Path, work_dir: Path, request: DecodeRequest) -> DecodedInput:
        """Replay every frame into `work_dir/signal.sqlite` and read the contract tables.

        With `request.salvage`, a corrupted or truncated backup keeps every frame replayed
        before the damage, and a warning says where decoding stopped and how many bytes were
        lost. A wrong passphrase, or damage before the first frame, still raises.
        """
        progress = request.progress
        reader = BackupReader(
            path,
            request.legacy_key_ring(),
            blob_dir=work_dir if request.extract_attachments else None,
            verify_mac=request.verify_mac,
            null_as_nan=True,  # only SqliteReplayer sees the statements
        )
        reader.open()
        frames_good = bytes_good = reported = 0
        damage: BackupError | None = None
        with SqliteReplayer(
            work_dir / DB_FILE, blob_root=work_dir, input_bytes=reader.file_size
        ) as replayer:
            try:
                with _cyclic_gc_paused():
                    for count, event in enumerate(reader, start=1):
                        replayer.handle(event)
                        frames_good, bytes_good = reader.frames_read, reader.bytes_read
                        if progress is not None and (
                            count % PROGRESS_EVERY_FRAMES == 0
                            or bytes_good - reported >= PROGRESS_EVERY_BYTES
                        ):
                            progress(frames_good, bytes_good, reader.file_size)
                            reported = bytes_good
            except (CorruptFrameError, TruncatedBackupError) as error:
                if not request.salvage or frames_good == 0:
                    raise
                damage = error
        normalized = normalize_database(
            work_dir / DB_FILE,
            blob_root=work_dir,
            attachment_paths=replayer.blob_paths.get("attachment", {}),
        )
        assert reader.header is not None
        warnings = list(reader.warnings + replayer.stats.warnings + normalized.warnings)
        if not request.verify_mac:
            warnings.insert(0, NO_MAC_WARNING)
        if damage is not None:
            warnings.insert(0, _salvage_warning(damage, frames_good, bytes_good, reader))
        return DecodedInput(
            tables=normalized.tables,
            database=work_dir / DB_FILE,
            bytes_read=bytes_good,
            database_version=reader.database_version,
            warnings=tuple(warnings),
            blobs_extracted=replayer.stats.blobs if request.extract_attachments else 0,
            bytes_not_decoded=reader.file_size - bytes_good if damage is not None else 0,
            report=LegacyBackupReport(
                frames=frames_good,
                backup_version=reader.header.version,
                trailing_bytes=reader.trailing_bytes,
            ),
            final_progress=(frames_good, bytes_good, bytes_good),
        )


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector around the frame loop: it makes a few
    short-lived objects per frame and no reference cycles (reference counting frees them),
    yet the collector's full passes would walk every object of the process again and again
    (about 3 % of a message-heavy decode)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _salvage_warning(
    error: BackupError, frames_good: int, bytes_good: int, reader: BackupReader
) -> str:
    """Where a salvaged decode stopped and what was lost: offsets and counts only."""
    lost = reader.file_size - bytes_good
    share = lost / reader.file_size if reader.file_size else 0.0
    return (
        f"salvaged: decoding stopped at frame {frames_good + 1} (byte offset {bytes_good}); "
        f"{lost} of {reader.file_size} bytes ({share:.1%}) not decoded; "
        f"{type(error).__name__}: {error}"
    )


@dataclass(frozen=True)
class IntegrityReport:
    """Outcome of a MAC check of every frame and blob; `error` is set when `ok` is False."""

    backup_path: Path
    ok: bool
    frames: int
    bytes_read: int
    file_size: int
    backup_version: int | None
    database_version: int | None
    statements: int
    blobs: int
    key_values: int
    preferences: int
    seconds: float
    error: BackupError | None = field(default=None, compare=False)


def validate_integrity(backup_path: str | Path, key_ring: KeyRing) -> IntegrityReport:
    """MAC-check every frame and blob without writing anything."""
    started = time.perf_counter()
    reader = BackupReader(backup_path, key_ring, verify_mac=True)
    counts = {StatementEvent: 0, BlobEvent: 0, KeyValueEvent: 0, PreferenceEvent: 0}
    error: BackupError | None = None
    try:
        for event in reader:
            if type(event) in counts:
                counts[type(event)] += 1
    except BackupError as caught:
        error = caught
    return IntegrityReport(
        backup_path=Path(backup_path),
        ok=error is None,
        frames=reader.frames_read,
        bytes_read=reader.bytes_read,
        file_size=reader.file_size,
        backup_version=reader.header.version if reader.header else None,
        database_version=reader.database_version,
        statements=counts[StatementEvent],
        blobs=counts[BlobEvent],
        key_values=counts[KeyValueEvent],
        preferences=counts[PreferenceEvent],
        seconds=round(time.perf_counter() - started, 3),
        error=error,
    )
