"""Streaming reader of legacy Signal Android `.backup` files (backup versions 0 and 1).

Reads one frame at a time (constant memory), verifies every frame and blob MAC, and
yields typed events. Blobs are decrypted in 1 MiB chunks into files, or only verified
and skipped. Layout and failure modes: signal-backup-format.md §0, §1, §3, §5, §7.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, Literal

from google.protobuf.message import DecodeError

from astrabot_pipeline.signal import protos
from astrabot_pipeline.signal.crypto import (
    MAC_SIZE,
    PASSPHRASE_HINT,
    CryptoUnit,
    FrameCipher,
    KeyRing,
    as_key_ring,
)
from astrabot_pipeline.signal.errors import (
    CorruptFrameError,
    TruncatedBackupError,
    UnsupportedBackupError,
    WrongPassphraseError,
)
from astrabot_pipeline.storage import PRIVATE_FILE_MODE, private_dir

MAX_FRAME_LENGTH = 110 * 1024 * 1024  # signalbackup-tools' cap; real frames are far smaller
MAX_HEADER_LENGTH = 10_240
MIN_HEADER_LENGTH = 2
SUPPORTED_BACKUP_VERSIONS = (0, 1)
BLOB_CHUNK_SIZE = 1 << 20
FIRST_FRAME_MAX_LENGTH = 4096
BACKUP_V2_MAGIC = b"SBACKUP\x01"
_READ_BUFFER = 1 << 20
_U32 = struct.Struct(">I")
_INT64_WRAP = 1 << 64
_INT64_MAX = (1 << 63) - 1
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9+._-]")

SqlValue = str | int | float | bytes | None
BlobKind = Literal["attachment", "avatar", "sticker"]
BLOB_DIRECTORIES: dict[str, str] = {
    "attachment": "attachments",
    "avatar": "avatars",
    "sticker": "stickers",
}


@dataclass(frozen=True)
class BackupHeader:
    """The plaintext header: backup format version, IV and salt (kept out of repr)."""

    version: int
    iv: bytes = field(repr=False)
    salt: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class DatabaseVersionEvent:
    version: int


@dataclass(frozen=True, slots=True)
class StatementEvent:
    """One SQL statement with its positional parameters (integers already signed)."""

    sql: str
    params: tuple[SqlValue, ...]


@dataclass(frozen=True, slots=True)
class PreferenceEvent:
    file: str
    key: str
    value: str | bool | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class KeyValueEvent:
    key: str
    value: str | int | float | bool | bytes | None


@dataclass(frozen=True, slots=True)
class BlobEvent:
    """An attachment/avatar/sticker blob; `path` is where it was written, or None if skipped."""

    kind: BlobKind
    length: int
    row_id: int | None = None
    attachment_id: int | None = None
    name: str | None = None
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class EndEvent:
    pass


FrameEvent = (
    DatabaseVersionEvent | StatementEvent | PreferenceEvent | KeyValueEvent | BlobEvent | EndEvent
)


def _signed64(value: int) -> int:
    """Signal writes Java longs into a uint64 field: map 2**64 + n back to n."""
    return value - _INT64_WRAP if value > _INT64_MAX else value


def _param_value(param: protos.SqlParameter) -> SqlValue:
    fields = param.ListFields()
    if not fields:
        return None
    descriptor, value = fields[0]
    number = descriptor.number
    if number == 2:
        return _signed64(value)
    if number == 5:
        return None
    return value


def _statement_event(statement: protos.SqlStatement) -> StatementEvent:
    return StatementEvent(statement.statement, tuple(map(_param_value, statement.parameters)))


def _preference_event(preference: protos.SharedPreference) -> PreferenceEvent:
    if preference.isStringSetValue:
        value: str | bool | tuple[str, ...] | None = tuple(preference.stringSetValue)
    elif preference.HasField("booleanValue"):
        value = preference.booleanValue
    elif preference.HasField("value"):
        value = preference.value
    else:
        value = None
    return PreferenceEvent(preference.file, preference.key, value)


def _key_value_event(key_value: protos.KeyValue) -> KeyValueEvent:
    values = [value for descriptor, value in key_value.ListFields() if descriptor.number != 1]
    return KeyValueEvent(key_value.key, values[0] if values else None)


class BackupReader:
    """Iterate the frames of one `.backup` file as events, verifying every MAC.

    With `blob_dir`, blobs are written to `blob_dir/{attachments,avatars,stickers}/`;
    without it they are MAC-checked and skipped. `frames_read`/`bytes_read` track progress.
    """

    def __init__(
        self,
        path: str | Path,
        passphrase: str | KeyRing,
        *,
        blob_dir: str | Path | None = None,
        verify_mac: bool = True,
        max_frame_length: int = MAX_FRAME_LENGTH,
    ) -> None:
        self.path = Path(path)
        self._key_ring = as_key_ring(passphrase)
        self.blob_dir = Path(blob_dir) if blob_dir is not None else None
        self.verify_mac = verify_mac
        self.max_frame_length = max_frame_length
        self.header: BackupHeader | None = None
        self.database_version: int | None = None
        self.frames_read = 0
        self.bytes_read = 0
        self.file_size = 0
        self.complete = False
        self.warnings: list[str] = []
        self._file: BinaryIO | None = None
        self._cipher: FrameCipher | None = None
        self._frame_start = 0
        self._used_names: set[Path] = set()

    def __repr__(self) -> str:
        return f"BackupReader({self.path.name!r}, frames_read={self.frames_read})"

    def __enter__(self) -> BackupReader:
        self.open()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __iter__(self) -> Iterator[FrameEvent]:
        return self.events()

    def open(self) -> BackupHeader:
        """Open the file, parse the plaintext header and derive the keys (idempotent)."""
        if self.header is not None:
            return self.header
        if self.path.is_dir():
            raise UnsupportedBackupError(
                f"{self.path.name} is a folder: that is the new on-device backup format "
                "(backup v2), not a legacy .backup file; use the backup-v2 reader"
            )
        self._file = open(self.path, "rb", buffering=_READ_BUFFER)  # noqa: SIM115 - closed in close()
        self.file_size = self.path.stat().st_size
        self.header = self._read_header()
        keys = self._key_ring.keys_for(self.header.salt)
        self._cipher = FrameCipher(keys, self.header.iv)
        return self.header

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def events(self) -> Iterator[FrameEvent]:
        """Yield one event per frame until the End frame; raise BackupError subclasses.

        A reader is single-use: it closes its file when the iteration ends.
        """
        if self.header is not None and self._file is None:
            raise RuntimeError("this BackupReader was already read; create a new one")
        self.open()
        try:
            while not self.complete:
                if self.bytes_read >= self.file_size:
                    raise TruncatedBackupError(
                        f"the backup ends after {self.frames_read} frames without its End frame "
                        f"(byte offset {self.bytes_read}): the file is incomplete - copy it from "
                        "the phone again, or make a new backup"
                    )
                event = self._next_event()
                if event is not None:
                    yield event
        finally:
            self.close()

    # -- header -----------------------------------------------------------------------

    def _read_header(self) -> BackupHeader:
        prefix = self._read_exact(4, "the header length")
        if prefix == BACKUP_V2_MAGIC[:4] and self._peek(4) == BACKUP_V2_MAGIC[4:]:
            raise UnsupportedBackupError(
                f"{self.path.name} is a backup-v2 file (SBACKUP prefix), not a legacy .backup"
            )
        length = _U32.unpack(prefix)[0]
        if not MIN_HEADER_LENGTH <= length <= MAX_HEADER_LENGTH:
            raise UnsupportedBackupError(
                f"{self.path.name} is not a Signal Android .backup file (header length {length}); "
                "backup-v2 'main' files and other formats need another reader"
            )
        raw = self._read_exact(length, "the header")
        try:
            header = protos.BackupFrame.FromString(raw).header
        except DecodeError as error:
            raise UnsupportedBackupError(
                f"{self.path.name} is not a Signal Android .backup file (unreadable header)"
            ) from error
        if len(header.iv) != 16:
            raise UnsupportedBackupError(
                f"{self.path.name} is not a Signal Android .backup file (no 16-byte IV in header)"
            )
        if header.version not in SUPPORTED_BACKUP_VERSIONS:
            raise UnsupportedBackupError(
                f"backup format version {header.version} is newer than this decoder supports "
                f"({SUPPORTED_BACKUP_VERSIONS[-1]} at most); update astrabot-pipeline"
            )
        return BackupHeader(version=header.version, iv=header.iv, salt=header.salt)

    # -- frames -----------------------------------------------------------------------

    def _next_event(self) -> FrameEvent | None:
        frame = self._read_frame()
        fields = frame.ListFields()
        if not fields:
            self.warnings.append(f"skipped frame {self.frames_read}: no known field")
            return None
        descriptor, value = fields[0]
        number = descriptor.number
        if number == 2:
            return _statement_event(value)
        if number == 4:
            return self._blob(
                "attachment",
                value.length,
                row_id=value.rowId,
                attachment_id=value.attachmentId or None,
            )
        if number == 5:
            self.database_version = value.version
            return DatabaseVersionEvent(value.version)
        if number == 9:
            return _key_value_event(value)
        if number == 3:
            return _preference_event(value)
        if number == 7:
            return self._blob("avatar", value.length, name=value.recipientId or value.name)
        if number == 8:
            return self._blob("sticker", value.length, row_id=value.rowId)
        if number == 6:
            self.complete = bool(value)
            return EndEvent() if value else None
        self.warnings.append(f"skipped frame {self.frames_read}: unexpected header frame")
        return None

    def _read_frame(self) -> protos.BackupFrame:
        assert self._cipher is not None and self.header is not None
        index = self.frames_read + 1
        offset = self._frame_start = self.bytes_read
        unit = self._cipher.next_unit()
        raw_length = self._read_exact(4, "a frame length")
        if self.header.version >= 1:
            unit.mac_update(raw_length)
            raw_length = unit.apply(raw_length)
        length = _U32.unpack(raw_length)[0]
        self._check_frame_length(length, index, offset)
        data = self._read_exact(length, "a frame")
        body = data[:-MAC_SIZE]
        unit.mac_update(body)
        if self.verify_mac and not unit.mac_matches(data[-MAC_SIZE:]):
            self._authentication_failed(index, offset, "frame")
        self.frames_read = index
        try:
            return protos.BackupFrame.FromString(unit.apply(body))
        except DecodeError as error:
            if index == 1 and not self.verify_mac:
                raise WrongPassphraseError(self._wrong_passphrase_message()) from error
            raise CorruptFrameError(
                "a frame authenticated but is not a valid backup frame; the backup was written "
                "by an incompatible or broken exporter",
                frame_index=index,
                offset=offset,
            ) from error

    def _check_frame_length(self, length: int, index: int, offset: int) -> None:
        remaining = self.file_size - self.bytes_read
        plausible = MAC_SIZE < length <= self.max_frame_length
        encrypted_length = self.header is not None and self.header.version >= 1
        # v1 hides frame lengths: a wrong passphrase decrypts the first one to a random
        # 32-bit number. The first frame is the few-byte DatabaseVersion frame, so a small
        # length that overruns the file means truncation (a random one is this small with
        # probability ~1e-6), anything else a wrong passphrase.
        cut_short = plausible and remaining < length <= FIRST_FRAME_MAX_LENGTH
        unreadable = not plausible or length > remaining
        if index == 1 and encrypted_length and unreadable and not cut_short:
            raise WrongPassphraseError(self._wrong_passphrase_message())
        if not plausible:
            raise CorruptFrameError(
                f"implausible frame length {length}; the backup is corrupted",
                frame_index=index,
                offset=offset,
            )
        if length > remaining:
            raise TruncatedBackupError(
                f"frame {index} at byte offset {offset} needs {length} bytes but only {remaining} "
                "remain: the file is truncated (or corrupted) - copy it from the phone again"
            )

    def _authentication_failed(self, index: int, offset: int, what: str) -> None:
        if index == 1 and what == "frame":
            raise WrongPassphraseError(self._wrong_passphrase_message())
        raise CorruptFrameError(
            f"{what} failed its MAC check: the backup is corrupted (a damaged copy or "
            "storage error); copy it from the phone again",
            frame_index=index,
            offset=offset,
        )

    def _wrong_passphrase_message(self) -> str:
        return (
            f"the first frame of {self.path.name} does not authenticate: the passphrase is "
            f"wrong for this backup; {PASSPHRASE_HINT}"
        )

    # -- blobs ------------------------------------------------------------------------

    def _blob(
        self,
        kind: BlobKind,
        length: int,
        *,
        row_id: int | None = None,
        attachment_id: int | None = None,
        name: str | None = None,
    ) -> BlobEvent:
        assert self._cipher is not None
        index, offset = self.frames_read, self.bytes_read
        remaining = self.file_size - offset
        if length + MAC_SIZE > remaining:
            raise TruncatedBackupError(
                f"the {kind} data after frame {index} (byte offset {offset}) needs "
                f"{length + MAC_SIZE} bytes but only {remaining} remain: the file is truncated"
            )
        unit = self._cipher.next_unit()
        target = self._blob_target(kind, row_id, name)
        if target is None and not self.verify_mac:
            self._skip(length)
        else:
            self._stream_blob(unit, length, target, index, offset, kind)
        return BlobEvent(kind, length, row_id, attachment_id, name, target)

    def _stream_blob(
        self,
        unit: CryptoUnit,
        length: int,
        target: Path | None,
        index: int,
        offset: int,
        kind: str,
    ) -> None:
        unit.mac_update(unit.iv)
        sink = open(target, "xb") if target is not None else None  # noqa: SIM115
        try:
            left = length
            while left:
                chunk = self._read_exact(min(BLOB_CHUNK_SIZE, left), f"{kind} data")
                left -= len(chunk)
                unit.mac_update(chunk)
                if sink is not None:
                    sink.write(unit.apply(chunk))
            expected = self._read_exact(MAC_SIZE, f"{kind} data MAC")
            if self.verify_mac and not unit.mac_matches(expected):
                self._authentication_failed(index, offset, f"{kind} data")
        except BaseException:
            if sink is not None:
                sink.close()
                target.unlink(missing_ok=True)  # type: ignore[union-attr]
            raise
        if sink is not None:
            sink.close()
            target.chmod(PRIVATE_FILE_MODE)  # type: ignore[union-attr]

    def _blob_target(self, kind: BlobKind, row_id: int | None, name: str | None) -> Path | None:
        if self.blob_dir is None:
            return None
        directory = private_dir(self.blob_dir / BLOB_DIRECTORIES[kind])
        stem = str(row_id) if row_id is not None else _UNSAFE_NAME.sub("_", name or "unnamed")
        target = directory / f"{stem}.bin"
        suffix = 1
        while target in self._used_names or target.exists():
            suffix += 1
            target = directory / f"{stem}-{suffix}.bin"
        self._used_names.add(target)
        return target

    # -- raw I/O ----------------------------------------------------------------------

    def _read_exact(self, size: int, what: str) -> bytes:
        assert self._file is not None
        data = self._file.read(size)
        self.bytes_read += len(data)
        if len(data) != size:
            raise TruncatedBackupError(
                f"the backup ends inside {what} (after frame {self.frames_read}, byte offset "
                f"{self.bytes_read}): the file is incomplete - copy it from the phone again"
            )
        return data

    def _peek(self, size: int) -> bytes:
        assert self._file is not None
        return self._file.peek(size)[:size]  # type: ignore[attr-defined]

    def _skip(self, length: int) -> None:
        assert self._file is not None
        self._file.seek(length + MAC_SIZE, 1)
        self.bytes_read += length + MAC_SIZE
