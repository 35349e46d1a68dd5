"""One entry point for every backup-v2 input: encrypted `main`, plaintext ZIP, `main.jsonl`.

Detection, in order: a folder (a `signal-backup-*` snapshot, the `SignalBackups` folder
holding them, or an unzipped export with `main.jsonl`), a ZIP, a JSON-lines file,
otherwise an encrypted `main` file that needs the recovery key and the ACI.
"""

from __future__ import annotations

import codecs
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from astrabot_pipeline.signal.backup_v2 import container, frames, jsonl
from astrabot_pipeline.signal.backup_v2.errors import (
    ForwardSecrecyTokenRequiredError,
    MissingRecoveryKeyError,
)
from astrabot_pipeline.signal.backup_v2.frame_tables import BackupV2Decode, normalize_frames
from astrabot_pipeline.signal.backup_v2.frames import FrameSource, ReadStats
from astrabot_pipeline.signal.backup_v2.keys import RECOVERY_KEY_HINT, message_backup_key_for
from astrabot_pipeline.signal.discovery import input_size
from astrabot_pipeline.signal.errors import UnsupportedBackupError
from astrabot_pipeline.signal.input_reader import (
    DecodedInput,
    DecodeRequest,
    KindReport,
    first_database,
)
from astrabot_pipeline.signal.inputs import InputKind
from astrabot_pipeline.signal.proto_builder import DynamicMessage

MAIN_FILE = "main"
SNAPSHOT_PREFIX = "signal-backup-"


def resolve_main(path: Path) -> Path:
    """The file to read for `path`: itself, or the `main`/`main.jsonl` of a backup folder."""
    if not path.is_dir():
        if not path.exists():
            raise UnsupportedBackupError(f"no backup found at {path}")
        return path
    for name in (MAIN_FILE, jsonl.MAIN_JSONL):
        if (path / name).is_file():
            return path / name
    snapshots = sorted(
        p for p in path.iterdir() if p.is_dir() and p.name.startswith(SNAPSHOT_PREFIX)
    )
    if snapshots:  # names end in a UTC timestamp, so the last sorts newest
        return resolve_main(snapshots[-1])
    raise UnsupportedBackupError(
        f"{path} is a folder without a backup-v2 `main` file, `main.jsonl` or "
        f"`{SNAPSHOT_PREFIX}*` snapshot"
    )


ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")


def _is_zip(path: Path) -> bool:
    # Checking the leading signature too: `is_zipfile` alone only looks for an end record
    # near the tail, which random ciphertext contains now and then.
    with path.open("rb") as stream:
        head = stream.read(4)
    return head in ZIP_MAGICS and zipfile.is_zipfile(path)


def _looks_like_json(path: Path) -> bool:
    """A `.jsonl` name, or text that opens a JSON object (ciphertext is not valid UTF-8)."""
    if path.suffix in (".jsonl", ".json"):
        return True
    with path.open("rb") as stream:
        head = stream.read(256)
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head, final=False)
    except UnicodeDecodeError:
        return False
    return head.removeprefix(codecs.BOM_UTF8).lstrip().startswith(b"{")


def open_frames(
    path: Path,
    *,
    recovery_key: str | None,
    aci: str | None,
    forward_secrecy_token: bytes | None = None,
    salvage: bool = False,
) -> FrameSource:
    """BackupInfo, lazy Frames and read stats of any backup-v2 input.

    An encrypted one is authenticated first. `salvage` applies to the plaintext export:
    a damaged line ends the frames early with a warning (see `jsonl.read_lines`); the
    encrypted file is authenticated as a whole, so damage there fails before decrypting.
    """
    main = resolve_main(Path(path))
    if _is_zip(main):
        return jsonl.read_export_zip(main, salvage=salvage)
    if _looks_like_json(main):
        return jsonl.read_jsonl(main, salvage=salvage)
    if not recovery_key:
        raise MissingRecoveryKeyError(f"this is an encrypted backup-v2 file; {RECOVERY_KEY_HINT}")
    layout = container.inspect_container(main)
    if layout.has_forward_secrecy and forward_secrecy_token is None:
        raise ForwardSecrecyTokenRequiredError(
            "this is a remote (cloud) backup: it starts with SBACKUP metadata and is "
            "encrypted with a forward-secrecy token that only Signal's servers hold; use an "
            "on-device backup folder or Signal's plaintext export instead"
        )
    key = message_backup_key_for(
        recovery_key, aci, forward_secrecy_token if layout.has_forward_secrecy else None
    )
    stats = ReadStats()
    info, frame_stream = frames.parse_frames(
        container.open_encrypted_records(main, key, stats), stats
    )
    return FrameSource(info, frame_stream, stats)


def read_backup_frames(
    path: Path,
    *,
    recovery_key: str | None,
    aci: str | None,
    forward_secrecy_token: bytes | None = None,
) -> tuple[DynamicMessage, Iterator[DynamicMessage]]:
    """(BackupInfo, lazy Frames) of any backup-v2 input; an encrypted one is authenticated first."""
    source = open_frames(
        path, recovery_key=recovery_key, aci=aci, forward_secrecy_token=forward_secrecy_token
    )
    return source.info, source.frames


def decode_backup_v2(
    path: Path,
    work_dir: Path,
    *,
    recovery_key: str | None,
    aci: str | None,
    forward_secrecy_token: bytes | None = None,
    salvage: bool = False,
) -> BackupV2Decode:
    """Decode a backup-v2 input into conformed contract tables, with what was read.

    `work_dir` is created if missing; nothing is written there yet (attachments are not
    extracted, so every `attachments.path` is None). With `salvage`, a damaged line of a
    plaintext export keeps the frames before it (the warnings say which line).
    """
    Path(work_dir).mkdir(parents=True, exist_ok=True)
    source = open_frames(
        path,
        recovery_key=recovery_key,
        aci=aci,
        forward_secrecy_token=forward_secrecy_token,
        salvage=salvage,
    )
    return normalize_frames(source.info, source.frames, self_aci=aci, stats=source.stats)


@dataclass(frozen=True)
class BackupV2Report(KindReport):
    """What only a backup-v2 input reports: records read (BackupInfo too) and its version."""

    records: int  # JSON lines or protobuf records
    format_version: int | None  # the BackupInfo version of the input


class BackupV2Reader:
    """An encrypted backup-v2 `main` or its snapshot folder, opened with the recovery key."""

    kind: ClassVar[InputKind] = InputKind.BACKUP_V2

    def decode(self, path: Path, work_dir: Path, request: DecodeRequest) -> DecodedInput:
        backup = decode_backup_v2(
            path,
            work_dir,
            recovery_key=request.secrets.passphrase,
            aci=request.secrets.aci,
            salvage=request.salvage,
        )
        return _decoded(backup, path, work_dir)


class BackupV2ExportReader:
    """Signal's plaintext export of a backup v2 (ZIP, folder or `main.jsonl`): no key."""

    kind: ClassVar[InputKind] = InputKind.BACKUP_V2_EXPORT

    def decode(self, path: Path, work_dir: Path, request: DecodeRequest) -> DecodedInput:
        backup = decode_backup_v2(
            path, work_dir, recovery_key=None, aci=request.secrets.aci, salvage=request.salvage
        )
        return _decoded(backup, path, work_dir)


def _decoded(backup: BackupV2Decode, path: Path, work_dir: Path) -> DecodedInput:
    return DecodedInput(
        tables=backup.tables,
        database=first_database(work_dir),
        bytes_read=input_size(path),
        database_version=None,
        warnings=tuple(backup.warnings),
        bytes_not_decoded=backup.stats.bytes_not_decoded,
        report=BackupV2Report(
            records=backup.stats.records, format_version=backup.stats.format_version
        ),
    )


__all__ = [
    "BackupV2ExportReader",
    "BackupV2Reader",
    "BackupV2Report",
    "decode_backup_v2",
    "open_frames",
    "read_backup_frames",
    "resolve_main",
]
