"""`SignalProcessor`: decode any supported Signal history into contract tables, or validate
a legacy backup. The input's kind picks its reader from `registry.READERS`.

Output layout (written atomically: on any error no `out_dir` is left, and an earlier
good one is untouched; `.astrabot-decode` marks the folder as ours, see output_dir.py):

    out_dir/signal.sqlite                  the replayed Signal database (+ astrabot_* side tables)
    out_dir/tables/<name>.parquet          the contract tables (signal/tables.py)
    out_dir/attachments|avatars|stickers/  extracted blobs (attachment paths are relative to out_dir)
    out_dir/decode.json                    counts and versions only

(the database and blob folders as a legacy backup leaves them; other kinds leave their
own working database, or none).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from astrabot_pipeline import storage
from astrabot_pipeline.signal.backup_v2.reader import BackupV2Report
from astrabot_pipeline.signal.errors import PassphraseMissingError
from astrabot_pipeline.signal.input_reader import (
    DecodeProgress,
    DecodeRequest,
    DecodeSecrets,
    KindReport,
)
from astrabot_pipeline.signal.inputs import detect_input
from astrabot_pipeline.signal.legacy.crypto import KeyRing, as_key_ring
from astrabot_pipeline.signal.legacy.decode import (
    IntegrityReport,
    LegacyBackupReport,
    validate_integrity,
)
from astrabot_pipeline.signal.output_dir import (
    check_output_dir,
    check_readable_input,
    decode_output,
)
from astrabot_pipeline.signal.registry import READERS
from astrabot_pipeline.signal.tables import SCHEMAS, TABLE_NAMES, conform

TABLES_DIR = "tables"
MANIFEST_FILE = "decode.json"


@dataclass(frozen=True)
class DecodeResult:
    """Where a decode wrote its outputs, and counts (never content) describing them.

    `report` holds what only the input's kind reports; `frames`, `backup_version`,
    `trailing_bytes`, `records` and `format_version` read it (None for other kinds).
    """

    out_dir: Path
    db_path: Path | None
    row_counts: dict[str, int]
    bytes_read: int
    database_version: int | None
    blobs_extracted: int
    seconds: float
    input_kind: str
    warnings: tuple[str, ...] = ()
    bytes_not_decoded: int = 0  # non-zero only for a salvaged (damaged) input
    report: KindReport | None = None

    @property
    def frames(self) -> int | None:
        """Legacy backup frames decoded; None for other inputs."""
        return self.report.frames if isinstance(self.report, LegacyBackupReport) else None

    @property
    def backup_version(self) -> int | None:
        """The legacy header's version; None for other inputs."""
        return self.report.backup_version if isinstance(self.report, LegacyBackupReport) else None

    @property
    def trailing_bytes(self) -> int:
        """Bytes after a legacy backup's End frame, ignored; 0 for other inputs."""
        return self.report.trailing_bytes if isinstance(self.report, LegacyBackupReport) else 0

    @property
    def records(self) -> int | None:
        """Backup v2: JSON lines / protobuf records read (BackupInfo too); None otherwise."""
        return self.report.records if isinstance(self.report, BackupV2Report) else None

    @property
    def format_version(self) -> int | None:
        """Backup v2: the BackupInfo version of the input; None otherwise."""
        return self.report.format_version if isinstance(self.report, BackupV2Report) else None

    def read_tables(self, *, resolve_paths: bool = True) -> dict[str, pd.DataFrame]:
        """Load the contract tables this decode wrote (see `read_tables`)."""
        return read_tables(self.out_dir, resolve_paths=resolve_paths)


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
        progress: DecodeProgress | None = None,
        salvage: bool = False,
        replace: bool = True,
    ) -> DecodeResult:
        """Decode `backup_path` into `out_dir` (replaced atomically); raise BackupError on failure.

        The input's kind picks its reader (`registry.READERS`). With `salvage`, a damaged
        legacy backup or plaintext export keeps what was read before the damage, and a
        warning says where decoding stopped and how many bytes were lost. A wrong
        passphrase, or damage before the first frame, still raises.

        `out_dir` must be new, empty, or (with `replace`, the default) an earlier output of
        ours; anything else raises OutputFolderError before any work (signal/output_dir.py).
        """
        check_output_dir(out_dir, replace=replace, input_path=backup_path)
        check_readable_input(backup_path)
        kind = detect_input(backup_path)
        request = DecodeRequest(
            secrets=self._secrets,
            legacy_key_ring=self._key_ring,
            extract_attachments=self.extract_attachments,
            verify_mac=self.verify_mac,
            salvage=salvage,
            progress=progress,
        )
        started = time.perf_counter()
        out_dir = Path(out_dir)
        with decode_output(out_dir, replace=replace, input_path=backup_path) as temp:
            decoded = READERS[kind].decode(Path(backup_path), temp, request)
            _write_tables(temp / TABLES_DIR, decoded.tables)
            result = DecodeResult(
                out_dir=out_dir,
                db_path=out_dir / decoded.database.name if decoded.database else None,
                row_counts={name: len(frame) for name, frame in decoded.tables.items()},
                bytes_read=decoded.bytes_read,
                database_version=decoded.database_version,
                blobs_extracted=decoded.blobs_extracted,
                seconds=round(time.perf_counter() - started, 3),
                input_kind=kind.value,
                warnings=decoded.warnings,
                bytes_not_decoded=decoded.bytes_not_decoded,
                report=decoded.report,
            )
            storage.write_json(temp / MANIFEST_FILE, _manifest(result))
        if progress is not None and decoded.final_progress is not None:
            progress(*decoded.final_progress)
        return result

    def validate_integrity(self, backup_path: str | Path) -> IntegrityReport:
        """MAC-check every frame and blob of a legacy backup without writing anything."""
        return validate_integrity(backup_path, self._key_ring())


def _write_tables(directory: Path, tables: dict[str, pd.DataFrame]) -> None:
    storage.private_dir(directory)
    for name in TABLE_NAMES:
        storage.write_parquet(
            directory / f"{name}.parquet", conform(name, tables[name]), SCHEMAS[name]
        )


def _manifest(result: DecodeResult) -> dict[str, object]:
    """decode.json: the result's counts and versions (no paths), every kind the same keys."""
    return {
        "row_counts": dict(result.row_counts),
        "frames": result.frames,
        "bytes_read": result.bytes_read,
        "backup_version": result.backup_version,
        "database_version": result.database_version,
        "blobs_extracted": result.blobs_extracted,
        "seconds": result.seconds,
        "warnings": list(result.warnings),
        "bytes_not_decoded": result.bytes_not_decoded,
        "input_kind": result.input_kind,
        "trailing_bytes": result.trailing_bytes,
        "records": result.records,
        "format_version": result.format_version,
    }


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
