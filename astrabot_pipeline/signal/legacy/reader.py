"""Streaming reader of legacy Signal Android `.backup` files (backup versions 0 and 1).

Reads one frame at a time (constant memory), verifies every frame and blob MAC, and
yields typed events. Blobs are decrypted in 1 MiB chunks into files, or only verified
and skipped. Layout and failure modes: docs/backup-formats.md §0, §1, §3, §5, §7.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Iterator
from hmac import compare_digest
from pathlib import Path
from typing import BinaryIO

from google.protobuf.message import DecodeError

from astrabot_pipeline.signal.errors import (
    CorruptFrameError,
    TruncatedBackupError,
    UnsupportedBackupError,
    WrongPassphraseError,
)
from astrabot_pipeline.signal.inputs import BACKUP_V2_MAGIC, open_regular
from astrabot_pipeline.signal.legacy import protos
from astrabot_pipeline.signal.legacy.crypto import (
    MAC_SIZE,
    PASSPHRASE_HINT,
    CryptoUnit,
    FrameCipher,
    KeyRing,
    as_key_ring,
    xor_bytes,
)
from astrabot_pipeline.signal.legacy.events import (
    BackupHeader,
    BlobEvent,
    BlobKind,
    DatabaseVersionEvent,
    EndEvent,
    FrameEvent,
    _key_value_event,
    _preference_event,
    _signed64,
    _statement_event,
)
from astrabot_pipeline.storage import PRIVATE_FILE_MODE, private_dir

MAX_FRAME_LENGTH = 110 * 1024 * 1024  # signalbackup-tools' cap; real frames are far smaller
MAX_HEADER_LENGTH = 10_240
MIN_HEADER_LENGTH = 2
SUPPORTED_BACKUP_VERSIONS = (0, 1)
BLOB_CHUNK_SIZE = 1 << 20
FIRST_FRAME_MAX_LENGTH = 4096
_READ_BUFFER = 1 << 20
_U32 = struct.Struct(">I")
_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9+._-]")
MAX_STEM_LENGTH = 64  # file names stay far below NAME_MAX (255) whatever the backup says
_COPY_MARK = "~"  # never in a sanitized stem, so "<stem>~2" cannot collide with a real name

BLOB_DIRECTORIES: dict[str, str] = {
    "attachment": "attachments",
    "avatar": "avatars",
    "sticker": "stickers",
}


def _safe_stem(name: str) -> str:
    """A file-name stem from a name in the backup: safe characters only, bounded length."""
    stem = _UNSAFE_NAME.sub("_", name)
    if len(stem) > MAX_STEM_LENGTH:
        digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()[:16]
        stem = f"{stem[: MAX_STEM_LENGTH - 17]}_{digest}"
    return stem


class BackupReader:
    """Iterate the frames of one `.backup` file as events, verifying every MAC.

    With `blob_dir`, blobs are written to `blob_dir/{attachments,avatars,stickers}/`;
    without it they are MAC-checked and skipped. `frames_read`/`bytes_read` track progress.
    With `null_as_nan`, statement parameters that are SQL NULL come as NULL_AS_NAN (for a
    consumer that only binds them in SQLite) instead of None.
    """

    def __init__(
        self,
        path: str | Path,
        passphrase: str | KeyRing,
        *,
        blob_dir: str | Path | None = None,
        verify_mac: bool = True,
        max_frame_length: int = MAX_FRAME_LENGTH,
        null_as_nan: bool = False,
    ) -> None:
        self.path = Path(path)
        self.null_as_nan = null_as_nan
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
        self._stem_counts: dict[tuple[str, str], int] = {}
        self._blob_directories: dict[str, Path] = {}
        self.trailing_bytes = 0
        self._buffer = b""
        self._position = 0

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
        self._file = open_regular(self.path, buffering=_READ_BUFFER)  # closed in close()
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
            self._note_trailing_data()
        finally:
            self.close()

    def _note_trailing_data(self) -> None:
        """Bytes after the End frame are not part of the backup: say so, never decode them."""
        self.trailing_bytes = self.file_size - self.bytes_read
        if self.trailing_bytes > 0:
            self.warnings.append(
                f"{self.trailing_bytes} bytes after the End frame (byte offset "
                f"{self.bytes_read}) are not part of the backup and were ignored; another "
                "tool appended them, or the file was copied over a longer one"
            )

    # -- header -----------------------------------------------------------------------

    def _read_header(self) -> BackupHeader:
        prefix = self._read_exact(4, "the header length")
        if prefix == BACKUP_V2_MAGIC[:4] and self._peek(4) == BACKUP_V2_MAGIC[4:]:
            raise UnsupportedBackupError(
                f"{self.path.name} is a backup-v2 file (SBACKUP prefix), not a legacy .backup"
            )
        length = _U32.unpack(prefix)[0]
        if not MIN_HEADER_LENGTH <= length <= MAX_HEADER_LENGTH:
            # The length is not quoted: in a file that is not a backup these are its first
            # four bytes, which may be anything (a symlink to /etc/shadow shows "root").
            raise UnsupportedBackupError(
                f"{self.path.name} is not a Signal Android .backup file (its first bytes are "
                "not a plausible header frame length); backup-v2 'main' files and other "
                "formats need another reader"
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
                "the backup's format version is newer than this decoder supports "
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
            try:
                return _statement_event(value, null_as_nan=self.null_as_nan)
            except DecodeError as error:
                raise self._undecodable_frame(self.frames_read, self._frame_start) from error
        if number == 4:
            return self._blob(
                "attachment",
                value.length,
                row_id=_signed64(value.rowId),
                attachment_id=_signed64(value.attachmentId) or None,
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
            return self._blob("sticker", value.length, row_id=_signed64(value.rowId))
        if number == 6:
            self.complete = bool(value)
            return EndEvent() if value else None
        self.warnings.append(f"skipped frame {self.frames_read}: unexpected header frame")
        return None

    def _read_frame(self) -> protos.RawBackupFrame:
        """Read, authenticate and decrypt one frame (statement parameters stay encoded)."""
        cipher = self._cipher
        assert cipher is not None and self.header is not None
        index = self.frames_read + 1
        offset = self._frame_start = self.bytes_read
        iv, keystream = cipher.next_frame()
        raw_length = self._read_exact(4, "a frame length")
        encrypted_length = self.header.version >= 1
        length = _U32.unpack(raw_length)[0]
        if encrypted_length:
            length ^= _U32.unpack_from(keystream)[0]
        if not (
            MAC_SIZE < length <= self.max_frame_length and length <= self.file_size - offset - 4
        ):
            self._check_frame_length(length, index, offset)
        data = self._read_exact(length, "a frame")
        body = data[:-MAC_SIZE]
        if self.verify_mac and not compare_digest(
            cipher.frame_mac(body, raw_length if encrypted_length else b""), data[-MAC_SIZE:]
        ):
            self._authentication_failed(index, offset, "frame")
        self.frames_read = index
        start = 4 if encrypted_length else 0
        size = len(body)
        if start + size > len(keystream):
            keystream = cipher.keystream(iv, start + size)
        try:
            return protos.RawBackupFrame.FromString(xor_bytes(body, keystream, start))
        except DecodeError as error:
            raise self._undecodable_frame(index, offset) from error

    def _undecodable_frame(self, index: int, offset: int) -> Exception:
        if index == 1 and not self.verify_mac:
            return WrongPassphraseError(self._wrong_passphrase_message())
        return CorruptFrameError(
            "a frame authenticated but is not a valid backup frame; the backup was written "
            "by an incompatible or broken exporter",
            frame_index=index,
            offset=offset,
        )

    def _check_frame_length(self, length: int, index: int, offset: int) -> None:
        remaining = self.file_size - offset - 4
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
                "implausible frame length; the backup is corrupted",
                frame_index=index,
                offset=offset,
            )
        if length > remaining:
            raise TruncatedBackupError(
                f"frame {index} at byte offset {offset} runs past the end of the file (only "
                f"{remaining} bytes remain): the file is truncated (or corrupted) - copy it from "
                "the phone again"
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
                f"the {kind} data after frame {index} (byte offset {offset}) runs past the end "
                f"of the file (only {remaining} bytes remain): the file is truncated"
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
            if sink is not None and target is not None:
                sink.close()
                target.unlink(missing_ok=True)
            raise
        if sink is not None and target is not None:
            sink.close()
            target.chmod(PRIVATE_FILE_MODE)

    def _blob_target(self, kind: BlobKind, row_id: int | None, name: str | None) -> Path | None:
        """A new file name for a blob: its row id (or sanitized name), numbered on repeats.

        A repeated name costs one dict lookup (a backup may repeat one name thousands of
        times); the file is opened with O_EXCL, so nothing is ever overwritten.
        """
        if self.blob_dir is None:
            return None
        directory = self._blob_directories.get(kind)
        if directory is None:
            directory = private_dir(self.blob_dir / BLOB_DIRECTORIES[kind])
            self._blob_directories[kind] = directory
        stem = str(row_id) if row_id is not None else _safe_stem(name or "unnamed")
        count = self._stem_counts.get((kind, stem), 0) + 1
        self._stem_counts[(kind, stem)] = count
        return directory / (f"{stem}.bin" if count == 1 else f"{stem}{_COPY_MARK}{count}.bin")

    # -- raw I/O ----------------------------------------------------------------------

    def _read_exact(self, size: int, what: str) -> bytes:
        position = self._position
        end = position + size
        buffer = self._buffer
        if end <= len(buffer):
            self._position = end
            self.bytes_read += size
            return buffer[position:end]
        data = self._refill(size)
        self.bytes_read += len(data)
        if len(data) != size:
            raise TruncatedBackupError(
                f"the backup ends inside {what} (after frame {self.frames_read}, byte offset "
                f"{self.bytes_read}): the file is incomplete - copy it from the phone again"
            )
        return data

    def _refill(self, size: int) -> bytes:
        """Return the next `size` bytes (fewer at the end of the file), reading ahead."""
        assert self._file is not None
        head = self._buffer[self._position :]
        if size - len(head) >= _READ_BUFFER:  # large blob chunks: no read-ahead copy
            self._buffer, self._position = b"", 0
            tail = self._file.read(size - len(head))
            return head + tail if head else tail
        self._buffer = buffer = head + self._file.read(_READ_BUFFER)
        self._position = min(size, len(buffer))
        return buffer[:size]

    def _peek(self, size: int) -> bytes:
        if self._position + size > len(self._buffer):
            assert self._file is not None
            self._buffer = self._buffer[self._position :] + self._file.read(_READ_BUFFER)
            self._position = 0
        return self._buffer[self._position : self._position + size]

    def _skip(self, length: int) -> None:
        assert self._file is not None
        size = length + MAC_SIZE
        buffered = min(size, len(self._buffer) - self._position)
        self._position += buffered
        self._file.seek(size - buffered, 1)
        self.bytes_read += size
