"""The encrypted backup-v2 `main` file: authenticate, then stream-decrypt and gunzip it.

Layout (docs/backup-formats.md §8.1; libsignal `src/frame.rs`):
    [ "SBACKUP\\x01" + varint-delimited metadata ]   remote backups only
    IV(16) || AES-256-CBC(PKCS7(gzip(records))) || HMAC-SHA256(hmacKey, IV || ciphertext)
The HMAC is checked over the whole file before a single byte is decrypted; decryption
then streams in fixed-size chunks, so memory stays bounded whatever the backup size.
The plaintext is a sequence of varint-length-delimited protobuf records. The gzip stream
may inflate to at most `limits.decompressed_limit` of the ciphertext size, and one record
may hold at most `limits.MAX_FRAME_BYTES` (backup_v2/limits.py says why).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from google.protobuf.message import DecodeError

from astrabot_pipeline.signal.backup_v2 import frames
from astrabot_pipeline.signal.backup_v2.errors import (
    CorruptBackupV2Error,
    DecompressionLimitError,
    FrameTooLargeError,
)
from astrabot_pipeline.signal.backup_v2.frames import ReadStats
from astrabot_pipeline.signal.backup_v2.keys import MessageBackupKey
from astrabot_pipeline.signal.backup_v2.limits import (
    MAX_FRAME_BYTES,
    decompressed_limit,
    expansion_message,
)
from astrabot_pipeline.signal.errors import TruncatedBackupError, WrongPassphraseError
from astrabot_pipeline.signal.inputs import BACKUP_V2_MAGIC

IV_SIZE = 16
MAC_SIZE = 32
BLOCK_SIZE = 16
CHUNK_SIZE = 1 << 16
MAX_RECORD_SIZE = MAX_FRAME_BYTES  # a single frame larger than this is corruption, not data
MAX_METADATA_SIZE = 1 << 16
_GZIP_WBITS = 16 + zlib.MAX_WBITS
_NOT_ZERO = re.compile(rb"[^\x00]")


@dataclass(frozen=True)
class ContainerLayout:
    """Where the encrypted payload lies in the file, and the forward-secrecy metadata if any."""

    payload_offset: int
    payload_end: int
    forward_secrecy_pairs: int

    @property
    def has_forward_secrecy(self) -> bool:
        return self.payload_offset > 0


def read_varint(stream: BinaryIO) -> int | None:
    """A protobuf base-128 varint, or None at a clean end of stream."""
    result = shift = 0
    while True:
        byte = stream.read(1)
        if not byte:
            if shift == 0:
                return None
            raise TruncatedBackupError("the file ends inside a length prefix")
        result |= (byte[0] & 0x7F) << shift
        if byte[0] < 0x80:
            return result
        shift += 7
        if shift > 63:
            raise CorruptBackupV2Error("a length prefix is longer than 10 bytes")


def inspect_container(path: Path) -> ContainerLayout:
    """Parse the optional `SBACKUP\\x01` metadata and locate IV || ciphertext || MAC."""
    size = path.stat().st_size
    offset, pairs = 0, 0
    with path.open("rb") as stream:
        if stream.read(len(BACKUP_V2_MAGIC)) == BACKUP_V2_MAGIC:
            length = read_varint(stream)
            if length is None or length > MAX_METADATA_SIZE:
                raise CorruptBackupV2Error("the SBACKUP metadata length is missing or implausible")
            raw = stream.read(length)
            if len(raw) != length:
                raise TruncatedBackupError("the file ends inside the SBACKUP metadata")
            try:
                pairs = len(frames.BackupMetadata.FromString(raw).pair)
            except DecodeError as error:
                raise CorruptBackupV2Error("the SBACKUP metadata does not parse") from error
            offset = stream.tell()
    if size - offset < IV_SIZE + BLOCK_SIZE + MAC_SIZE or (size - offset - IV_SIZE - MAC_SIZE) % (
        BLOCK_SIZE
    ):
        raise TruncatedBackupError(
            f"the encrypted payload is {size - offset} bytes, not IV + whole AES blocks + MAC; "
            "the file is truncated or not a backup-v2 main file"
        )
    return ContainerLayout(offset, size, pairs)


def _chunks(stream: BinaryIO, start: int, end: int) -> Iterator[bytes]:
    stream.seek(start)
    remaining = end - start
    while remaining:
        chunk = stream.read(min(CHUNK_SIZE, remaining))
        if not chunk:
            raise TruncatedBackupError("the file shrank while it was being read")
        remaining -= len(chunk)
        yield chunk


def verify_mac(path: Path, layout: ContainerLayout, key: MessageBackupKey) -> None:
    """HMAC-SHA256 over IV || ciphertext, compared in constant time; raise on mismatch."""
    mac_start = layout.payload_end - MAC_SIZE
    mac = hmac.new(key.hmac_key, digestmod=hashlib.sha256)
    with path.open("rb") as stream:
        for chunk in _chunks(stream, layout.payload_offset, mac_start):
            mac.update(chunk)
        stream.seek(mac_start)
        expected = stream.read(MAC_SIZE)
    if not hmac.compare_digest(mac.digest(), expected):
        raise WrongPassphraseError(
            "the backup does not authenticate: the recovery key or SIGNAL_ACI does not belong "
            "to this backup (or the file is damaged); nothing was decrypted"
        )


def decrypted_plaintext(
    path: Path, layout: ContainerLayout, key: MessageBackupKey, stats: ReadStats | None = None
) -> Iterator[bytes]:
    """Chunks of the gunzipped plaintext; call only after `verify_mac`.

    The inflated size is counted against `decompressed_limit(ciphertext size)`; `stats`
    (when given) gets the running count in `bytes_read`.
    """
    mac_start = layout.payload_end - MAC_SIZE
    limit = decompressed_limit(mac_start - layout.payload_offset)
    inflated = 0
    with path.open("rb") as stream:
        stream.seek(layout.payload_offset)
        iv = stream.read(IV_SIZE)
        decryptor = Cipher(algorithms.AES(key.aes_key), modes.CBC(iv)).decryptor()
        unpadder = padding.PKCS7(BLOCK_SIZE * 8).unpadder()
        inflater = zlib.decompressobj(_GZIP_WBITS)

        def counted(pieces: Iterator[bytes]) -> Iterator[bytes]:
            nonlocal inflated
            for piece in pieces:
                inflated += len(piece)
                if inflated > limit:
                    raise DecompressionLimitError(
                        expansion_message(
                            "the backup's gzip stream",
                            f"inflates past {limit:,} bytes",
                            mac_start - layout.payload_offset,
                        )
                    )
                if stats is not None:
                    stats.bytes_read = inflated
                yield piece

        try:
            for chunk in _chunks(stream, layout.payload_offset + IV_SIZE, mac_start):
                yield from counted(_inflate(inflater, unpadder.update(decryptor.update(chunk))))
            tail = unpadder.update(decryptor.finalize()) + unpadder.finalize()
        except ValueError as error:  # bad PKCS7 padding
            raise CorruptBackupV2Error("the decrypted backup has invalid padding") from error
        yield from counted(_inflate(inflater, tail))
        if not inflater.eof:
            raise TruncatedBackupError("the gzip stream inside the backup ends early")


def _inflate(inflater: zlib._Decompress, data: bytes) -> Iterator[bytes]:
    """Decompress in bounded pieces (a small input can expand enormously)."""
    try:
        while data:
            out = inflater.decompress(data, CHUNK_SIZE * 4)
            if out:
                yield out
            data = inflater.unconsumed_tail
    except zlib.error as error:
        raise CorruptBackupV2Error("the decrypted backup is not a valid gzip stream") from error


def delimited_records(chunks: Iterable[bytes], stats: ReadStats | None = None) -> Iterator[bytes]:
    """Split a byte stream of varint-length-delimited records, holding one record at a time.

    A run of empty records (zero bytes: frames with nothing set, which readers skip) is
    yielded once and the rest counted into `stats.records` at C speed, so a stream of
    zeros costs no Python work per byte.
    """
    buffer = bytearray()
    position = 0
    iterator = iter(chunks)
    exhausted = False

    def fill(needed: int) -> bool:
        nonlocal buffer, position, exhausted
        while len(buffer) - position < needed and not exhausted:
            chunk = next(iterator, None)
            if chunk is None:
                exhausted = True
                break
            if position:
                del buffer[:position]
                position = 0
            buffer += chunk
        return len(buffer) - position >= needed

    while True:
        length = shift = 0
        while True:
            if not fill(1):
                if shift == 0:
                    return
                raise TruncatedBackupError("the backup stream ends inside a length prefix")
            byte = buffer[position]
            position += 1
            length |= (byte & 0x7F) << shift
            if byte < 0x80:
                break
            shift += 7
            if shift > 63:
                raise CorruptBackupV2Error("a record length prefix is longer than 10 bytes")
        if length > MAX_RECORD_SIZE:
            raise FrameTooLargeError(
                f"a record claims {length:,} bytes, more than any real frame "
                f"({MAX_RECORD_SIZE:,}); the stream is corrupt"
            )
        if not fill(length):
            raise TruncatedBackupError("the backup stream ends inside a record")
        yield bytes(buffer[position : position + length])
        position += length
        if length == 0:
            while fill(1):
                match = _NOT_ZERO.search(buffer, position)
                end = len(buffer) if match is None else match.start()
                if stats is not None:
                    stats.records += end - position
                position = end
                if match is not None:
                    break


def open_encrypted_records(
    path: Path, key: MessageBackupKey, stats: ReadStats | None = None
) -> Iterator[bytes]:
    """Verify, then stream the varint-delimited records (BackupInfo first) of a `main` file."""
    layout = inspect_container(path)
    verify_mac(path, layout, key)
    return delimited_records(decrypted_plaintext(path, layout, key, stats), stats)


def starts_with_magic(path: Path) -> bool:
    with path.open("rb") as stream:
        return stream.read(len(BACKUP_V2_MAGIC)) == BACKUP_V2_MAGIC


__all__ = [
    "ContainerLayout",
    "decrypted_plaintext",
    "delimited_records",
    "inspect_container",
    "open_encrypted_records",
    "starts_with_magic",
    "verify_mac",
]
