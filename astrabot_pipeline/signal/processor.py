"""`SignalProcessor`: decode a legacy `.backup` into SQLite + contract tables, or validate it.

Output layout (written atomically: on any error no `out_dir` is left, and an earlier
good one is untouched; `.astrabot-decode` marks the folder as ours, see output_dir.py):

    out_dir/signal.sqlite                  the replayed Signal database (+ astrabot_* side tables)
    out_dir/tables/<name>.parquet          the contract tables (signal/tables.py)
    out_dir/attachments|avatars|stickers/  extracted blobs (attachment paths are relative to out_dir)
    out_dir/decode.json                    counts and versions only
"""

from __future__ import annotations

import contextlib
import gc
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from astrabot_pipeline import storage
from astrabot_pipeline.signal.android_db.csv_export import normalize_csv_export
from astrabot_pipeline.signal.android_db.database_tables import NormalizedBackup, normalize_database
from astrabot_pipeline.signal.android_db.plain_sqlite import normalize_plain_android_db
from astrabot_pipeline.signal.backup_v2 import decode_backup_v2
from astrabot_pipeline.signal.backup_v2.frame_tables import BackupV2Decode
from astrabot_pipeline.signal.desktop.reader import normalize_desktop_db
from astrabot_pipeline.signal.discovery import input_size
from astrabot_pipeline.signal.errors import (
    BackupError,
    CorruptFrameError,
    PassphraseMissingError,
    TruncatedBackupError,
)
from astrabot_pipeline.signal.inputs import InputKind, detect_input
from astrabot_pipeline.signal.legacy.crypto import KeyRing, as_key_ring
from astrabot_pipeline.signal.legacy.reader import (
    BackupReader,
    BlobEvent,
    KeyValueEvent,
    PreferenceEvent,
    StatementEvent,
)
from astrabot_pipeline.signal.legacy.sqlite_replay import SqliteReplayer
from astrabot_pipeline.signal.output_dir import (
    check_output_dir,
    check_readable_input,
    decode_output,
)
from astrabot_pipeline.signal.tables import SCHEMAS, TABLE_NAMES, conform

DB_FILE = "signal.sqlite"
TABLES_DIR = "tables"
MANIFEST_FILE = "decode.json"
PROGRESS_EVERY_FRAMES = 10_000
PROGRESS_EVERY_BYTES = 16 << 20  # large attachments: frames alone would report too rarely
NO_MAC_WARNING = (
    "MAC verification was disabled: corrupted or tampered data was not "
    "detected; use this output for diagnosis only"
)

ProgressCallback = Callable[[int, int, int], None]
"""Called as progress(frames_read, bytes_read, file_size) every PROGRESS_EVERY_FRAMES frames
or PROGRESS_EVERY_BYTES bytes, whichever comes first, and once at the end."""


@dataclass(frozen=True)
class DecodeResult:
    """Where a decode wrote its outputs, and counts (never content) describing them."""

    out_dir: Path
    db_path: Path | None
    row_counts: dict[str, int]
    frames: int | None  # legacy .backup frames; None for other inputs
    bytes_read: int
    backup_version: int | None  # the legacy header's version; None for other inputs
    database_version: int | None
    blobs_extracted: int
    seconds: float
    warnings: tuple[str, ...] = ()
    bytes_not_decoded: int = 0  # non-zero only for a salvaged (damaged) backup
    input_kind: str = InputKind.LEGACY_BACKUP.value
    trailing_bytes: int = 0  # bytes after a legacy backup's End frame, ignored
    records: int | None = None  # backup v2: JSON lines / protobuf records read (BackupInfo too)
    format_version: int | None = None  # backup v2: the BackupInfo version of the input

    def read_tables(self, *, resolve_paths: bool = True) -> dict[str, pd.DataFrame]:
        """Load the contract tables this decode wrote (see `read_tables`)."""
        return read_tables(self.out_dir, resolve_paths=resolve_paths)


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

    def raise_for_error(self) -> None:
        """Re-raise the BackupError that made this report fail, if any."""
        if self.error is not None:
            raise self.error


@dataclass(frozen=True, repr=False)
class DecodeSecrets:
    """What an input may need to open: passphrase or recovery key, ACI, Desktop key."""

    passphrase: str | None = None
    aci: str | None = None
    desktop_key: str | None = None


# How each non-legacy input becomes contract tables inside the (temporary) output folder;
# the last argument is `salvage` (only the backup-v2 reader can stop early at damage).
_NORMALIZERS: dict[InputKind, Callable[[Path, Path, DecodeSecrets, bool], NormalizedBackup]] = {
    InputKind.BACKUP_V2: lambda path, work, secrets, salvage: decode_backup_v2(
        path, work, recovery_key=secrets.passphrase, aci=secrets.aci, salvage=salvage
    ),
    InputKind.BACKUP_V2_EXPORT: lambda path, work, secrets, salvage: decode_backup_v2(
        path, work, recovery_key=None, aci=secrets.aci, salvage=salvage
    ),
    InputKind.DESKTOP: lambda path, work, secrets, _: normalize_desktop_db(
        path, work, key_hex=secrets.desktop_key
    ),
    InputKind.PLAIN_SQLITE: lambda path, work, _, __: normalize_plain_android_db(path, work),
    InputKind.CSV_EXPORT: lambda path, work, _, __: normalize_csv_export(path, work),
}


class SignalProcessor:
    """Load and validate any supported Signal history (see `signal/inputs.py`)."""

    def __init__(
        self,
        passphrase: str | KeyRing | None = None,
        *,
        aci: str | None = None,
        desktop_key: str | None = None,
        extract_attachments: bool = True,
        verify_mac: bool = True,
    ) -> None:
        self._passphrase = passphrase
        self._key_ring_cache: KeyRing | None = None
        self._secrets = DecodeSecrets(
            passphrase if isinstance(passphrase, str) else None, aci, desktop_key
        )
        self.extract_attachments = extract_attachments
        self.verify_mac = verify_mac

    @property
    def _key_ring(self) -> KeyRing:
        """The legacy passphrase's keys, checked only when a legacy backup needs them."""
        if self._key_ring_cache is None:
            if self._passphrase is None:
                raise PassphraseMissingError(
                    "this backup needs its passphrase: set SIGNAL_BACKUP_PASSPHRASE to the "
                    "30 digits Signal showed when backups were turned on"
                )
            self._key_ring_cache = as_key_ring(self._passphrase)
        return self._key_ring_cache

    def __repr__(self) -> str:
        return (
            f"SignalProcessor(extract_attachments={self.extract_attachments}, "
            f"verify_mac={self.verify_mac})"
        )

    def decode(
        self,
        backup_path: str | Path,
        out_dir: str | Path,
        *,
        progress: ProgressCallback | None = None,
        salvage: bool = False,
        replace: bool = True,
    ) -> DecodeResult:
        """Decode `backup_path` into `out_dir` (replaced atomically); raise BackupError on failure.

        With `salvage`, a corrupted or truncated backup keeps every frame replayed before the
        damage, and a warning says where decoding stopped and how many bytes were lost. A
        wrong passphrase, or damage before the first frame, still raises.

        `out_dir` must be new, empty, or (with `replace`, the default) an earlier output of
        ours; anything else raises OutputFolderError before any work (signal/output_dir.py).
        """
        check_output_dir(out_dir, replace=replace, input_path=backup_path)
        check_readable_input(backup_path)
        kind = detect_input(backup_path)
        if kind is not InputKind.LEGACY_BACKUP:
            return self._decode_normalized(
                kind, Path(backup_path), Path(out_dir), salvage=salvage, replace=replace
            )
        started = time.perf_counter()
        out_dir = Path(out_dir)
        with decode_output(out_dir, replace=replace, input_path=backup_path) as temp:
            reader = BackupReader(
                backup_path,
                self._key_ring,
                blob_dir=temp if self.extract_attachments else None,
                verify_mac=self.verify_mac,
                null_as_nan=True,  # only SqliteReplayer sees the statements
            )
            reader.open()
            frames_good = bytes_good = reported = 0
            damage: BackupError | None = None
            with SqliteReplayer(
                temp / DB_FILE, blob_root=temp, input_bytes=reader.file_size
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
                    if not salvage or frames_good == 0:
                        raise
                    damage = error
            normalized = normalize_database(
                temp / DB_FILE,
                blob_root=temp,
                attachment_paths=replayer.blob_paths.get("attachment", {}),
            )
            _write_tables(temp / TABLES_DIR, normalized.tables)
            assert reader.header is not None
            warnings = list(reader.warnings + replayer.stats.warnings + normalized.warnings)
            if not self.verify_mac:
                warnings.insert(0, NO_MAC_WARNING)
            if damage is not None:
                warnings.insert(0, _salvage_warning(damage, frames_good, bytes_good, reader))
            result = DecodeResult(
                out_dir=out_dir,
                db_path=out_dir / DB_FILE,
                row_counts={name: len(frame) for name, frame in normalized.tables.items()},
                frames=frames_good,
                bytes_read=bytes_good,
                backup_version=reader.header.version,
                database_version=reader.database_version,
                blobs_extracted=replayer.stats.blobs if self.extract_attachments else 0,
                seconds=round(time.perf_counter() - started, 3),
                warnings=tuple(warnings),
                bytes_not_decoded=reader.file_size - bytes_good if damage is not None else 0,
                trailing_bytes=reader.trailing_bytes,
            )
            storage.write_json(temp / MANIFEST_FILE, _manifest(result))
        if progress is not None:
            progress(frames_good, bytes_good, bytes_good)
        return result

    def _decode_normalized(
        self,
        kind: InputKind,
        path: Path,
        out_dir: Path,
        *,
        salvage: bool = False,
        replace: bool = True,
    ) -> DecodeResult:
        """Backup v2, Desktop, plain SQLite and CSV inputs: normalize, write, rename.

        The legacy-only fields (`frames`, `backup_version`) are None here; a backup-v2
        input reports its `records` and its BackupInfo `format_version` instead (and, when
        salvaged, the bytes lost in `bytes_not_decoded`).
        """
        started = time.perf_counter()
        with decode_output(out_dir, replace=replace, input_path=path) as temp:
            normalized = _NORMALIZERS[kind](path, temp, self._secrets, salvage)
            _write_tables(temp / TABLES_DIR, normalized.tables)
            databases = sorted(temp.glob("*.sqlite"))
            v2 = normalized.stats if isinstance(normalized, BackupV2Decode) else None
            result = DecodeResult(
                out_dir=out_dir,
                db_path=out_dir / databases[0].name if databases else None,
                row_counts={name: len(frame) for name, frame in normalized.tables.items()},
                frames=None,
                bytes_read=input_size(path),
                backup_version=None,
                database_version=None if v2 is not None else normalized.database_version,
                blobs_extracted=0,
                seconds=round(time.perf_counter() - started, 3),
                warnings=tuple(normalized.warnings),
                bytes_not_decoded=v2.bytes_not_decoded if v2 is not None else 0,
                input_kind=kind.value,
                records=v2.records if v2 is not None else None,
                format_version=v2.format_version if v2 is not None else None,
            )
            storage.write_json(temp / MANIFEST_FILE, _manifest(result))
        return result

    def validate_integrity(self, backup_path: str | Path) -> IntegrityReport:
        """MAC-check every frame and blob without writing anything."""
        started = time.perf_counter()
        reader = BackupReader(backup_path, self._key_ring, verify_mac=True)
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


def _write_tables(directory: Path, tables: dict[str, pd.DataFrame]) -> None:
    storage.private_dir(directory)
    for name in TABLE_NAMES:
        storage.write_parquet(
            directory / f"{name}.parquet", conform(name, tables[name]), SCHEMAS[name]
        )


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


def _manifest(result: DecodeResult) -> dict[str, object]:
    manifest = asdict(result)
    for key in ("out_dir", "db_path"):
        manifest.pop(key)
    manifest["warnings"] = list(result.warnings)
    return manifest


def read_tables(out_dir: str | Path, *, resolve_paths: bool = True) -> dict[str, pd.DataFrame]:
    """Load the contract tables of a decode; attachment paths made absolute by default."""
    out_dir = Path(out_dir)
    tables = {
        name: conform(name, storage.read_parquet(out_dir / TABLES_DIR / f"{name}.parquet"))
        for name in TABLE_NAMES
    }
    if resolve_paths:
        paths = tables["attachments"]["path"]
        tables["attachments"]["path"] = paths.map(
            lambda p: str(out_dir / p) if isinstance(p, str) else None
        )
    return tables
