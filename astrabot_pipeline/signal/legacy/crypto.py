"""All cryptography and passphrase handling of the legacy Signal backup format.

Keys: 250,000 rounds of SHA-512 over the 30-digit passphrase (salt only in round 1),
then HKDF-SHA256("Backup Export") split into an AES-256 key and an HMAC-SHA256 key.
Every frame and blob is one "unit": AES-256-CTR with IV = u32be(counter) || iv[4:16]
and a fresh HMAC-SHA256 truncated to 10 bytes (docs/backup-formats.md §2, §3).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import struct
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from astrabot_pipeline.signal.errors import PassphraseFormatError

PASSPHRASE_DIGITS = 30
DIGEST_ROUNDS = 250_000
HKDF_INFO = b"Backup Export"
MAC_SIZE = 10
IV_SIZE = 16
COUNTER_MODULUS = 2**32
FRAME_KEYSTREAM = 1024  # keystream made per frame up front; longer frames use a CTR context
KEYSTREAM_BATCH = 64  # units whose frame keystream one AES-ECB call makes ahead
_BLOCK = 16
_FRAME_BLOCKS = FRAME_KEYSTREAM // _BLOCK

_RECOVERY_KEY = re.compile(r"[0-9A-Za-z=#]{64}")
_SEPARATORS = re.compile(r"[\s\-]")
_U32 = struct.Struct(">I")

PASSPHRASE_HINT = (
    "check SIGNAL_BACKUP_PASSPHRASE: it must be the 30-digit passphrase Signal showed when "
    "backups were turned on (spaces are fine)"
)


def normalize_passphrase(passphrase: str) -> bytes:
    """Return the 30 ASCII digits of a passphrase, ignoring spaces and other separators."""
    if _RECOVERY_KEY.fullmatch(_SEPARATORS.sub("", passphrase)):
        raise PassphraseFormatError(
            "the passphrase looks like a 64-character backup-v2 recovery key, but legacy .backup "
            "files use a 30-digit passphrase; check SIGNAL_BACKUP_PASSPHRASE, or decode the "
            "folder-based backup with the backup-v2 reader"
        )
    digits = "".join(ch for ch in passphrase if "0" <= ch <= "9")
    if len(digits) != PASSPHRASE_DIGITS:
        raise PassphraseFormatError(
            f"the passphrase has {len(digits)} digits, expected {PASSPHRASE_DIGITS}; "
            f"{PASSPHRASE_HINT}"
        )
    return digits.encode("ascii")


def derive_passphrase_key(passphrase: bytes, salt: bytes | None) -> bytes:
    """The legacy backup key, from the 30 passphrase digits and the header salt: Signal's
    iterated SHA-512, H = SHA512(salt||P||P), then SHA512(H||P); first 32 bytes."""
    digest = hashlib.sha512((salt or b"") + passphrase + passphrase).digest()
    sha512 = hashlib.sha512
    for _ in range(DIGEST_ROUNDS - 1):
        digest = sha512(digest + passphrase).digest()
    return digest[:32]


@dataclass(frozen=True)
class BackupKeys:
    """The AES-256 cipher key and HMAC-SHA256 MAC key of one backup (kept out of repr)."""

    cipher_key: bytes = field(repr=False)
    mac_key: bytes = field(repr=False)


def split_backup_key(backup_key: bytes) -> BackupKeys:
    """HKDF-SHA256 (zero salt, info "Backup Export", 64 bytes) -> cipher key || MAC key."""
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=None, info=HKDF_INFO).derive(backup_key)
    return BackupKeys(cipher_key=okm[:32], mac_key=okm[32:])


def derive_keys(passphrase_digits: bytes, salt: bytes | None) -> BackupKeys:
    """Derive both keys from the normalized passphrase and the header salt."""
    return split_backup_key(derive_passphrase_key(passphrase_digits, salt))


class KeyRing:
    """A normalized passphrase that derives (and caches) keys per header salt."""

    def __init__(self, passphrase: str) -> None:
        self._digits = normalize_passphrase(passphrase)
        self._cache: dict[bytes, BackupKeys] = {}

    def __repr__(self) -> str:
        return "KeyRing(<passphrase hidden>)"

    def keys_for(self, salt: bytes | None) -> BackupKeys:
        """Return the keys for `salt`, running the ~0.3 s KDF only once per salt."""
        salt = salt or b""
        if salt not in self._cache:
            self._cache[salt] = derive_keys(self._digits, salt)
        return self._cache[salt]


def as_key_ring(passphrase: str | KeyRing) -> KeyRing:
    return passphrase if isinstance(passphrase, KeyRing) else KeyRing(passphrase)


class CryptoUnit:
    """AES-256-CTR stream plus fresh HMAC for one frame or blob."""

    __slots__ = ("iv", "_ctr", "_mac")

    def __init__(self, iv: bytes, ctr: CipherContext, mac: hmac.HMAC) -> None:
        self.iv = iv
        self._ctr = ctr
        self._mac = mac

    def apply(self, data: bytes) -> bytes:
        """Encrypt or decrypt (CTR is symmetric) the next `len(data)` bytes of the stream."""
        return self._ctr.update(data)

    def mac_update(self, data: bytes) -> None:
        self._mac.update(data)

    def mac(self) -> bytes:
        """The truncated 10-byte HMAC-SHA256 of everything fed so far."""
        return self._mac.digest()[:MAC_SIZE]

    def mac_matches(self, expected: bytes) -> bool:
        return hmac.compare_digest(self.mac(), expected)


def xor_bytes(data: bytes, keystream: bytes, offset: int = 0) -> bytes:
    """`data` XOR the `len(data)` bytes of `keystream` from `offset` (CTR en/decryption)."""
    size = len(data)
    mask = int.from_bytes(keystream[offset : offset + size], "big")
    return (int.from_bytes(data, "big") ^ mask).to_bytes(size, "big")


class FrameCipher:
    """Hands out one CryptoUnit per frame/blob, advancing the 32-bit IV counter.

    Ordinary frames use the cheaper `next_frame`/`frame_mac` pair: the first
    FRAME_KEYSTREAM bytes of the unit's CTR keystream come from one reused AES-ECB
    context over the unit's counter blocks (IV, IV+1, ... with the full 128-bit
    big-endian increment), made for KEYSTREAM_BATCH units at a time, and the HMAC starts
    from precomputed inner/outer SHA-256 states (RFC 2104), so no cipher or HMAC object
    is built per frame. A batch is indexed by counter value, so blobs (which take a
    counter value of their own, `next_unit`) never invalidate it.
    """

    def __init__(self, keys: BackupKeys, iv: bytes) -> None:
        if len(iv) != IV_SIZE:
            raise ValueError(f"the backup IV must be {IV_SIZE} bytes")
        self._algorithm = algorithms.AES(keys.cipher_key)
        self._mac_template = hmac.new(keys.mac_key, digestmod=hashlib.sha256)
        self._iv_tail = iv[4:]
        self.counter = _U32.unpack(iv[:4])[0]
        self._ecb = Cipher(self._algorithm, modes.ECB()).encryptor()
        tail = int.from_bytes(self._iv_tail, "big")
        # Counter blocks of unit c: ((c << 96) + tail + j) for j < _FRAME_BLOCKS, as one
        # big integer; only valid while tail + j never carries into the top 32 bits.
        # The batch of units c .. c+KEYSTREAM_BATCH-1 is the same big integer with the unit
        # number added to the top 32 bits of every block: base + c * step, only valid while
        # tail + j never carries into the top 32 bits and c + KEYSTREAM_BATCH does not wrap.
        self._blocks_base: int | None = None
        self._blocks_step = 0
        if tail + _FRAME_BLOCKS <= 1 << 96:
            self._blocks_base = int.from_bytes(
                b"".join(
                    ((unit << 96) + tail + j).to_bytes(_BLOCK, "big")
                    for unit in range(KEYSTREAM_BATCH)
                    for j in range(_FRAME_BLOCKS)
                ),
                "big",
            )
            step_block = (1 << 96).to_bytes(_BLOCK, "big")
            self._blocks_step = int.from_bytes(
                step_block * (KEYSTREAM_BATCH * _FRAME_BLOCKS), "big"
            )
        self._batch = b""
        self._batch_first = 0  # the counter value of the batch's first unit
        key = keys.mac_key.ljust(hashlib.sha256().block_size, b"\0")
        self._mac_inner = hashlib.sha256(bytes(byte ^ 0x36 for byte in key))
        self._mac_outer = hashlib.sha256(bytes(byte ^ 0x5C for byte in key))

    def __repr__(self) -> str:
        return f"FrameCipher(counter={self.counter})"

    def next_unit(self) -> CryptoUnit:
        """Start the next unit: IV = u32be(counter) || iv[4:16]; counter += 1 (wrapping)."""
        iv = _U32.pack(self.counter) + self._iv_tail
        self.counter = (self.counter + 1) % COUNTER_MODULUS
        ctr = Cipher(self._algorithm, modes.CTR(iv)).encryptor()
        return CryptoUnit(iv, ctr, self._mac_template.copy())

    def next_frame(self) -> tuple[bytes, bytes]:
        """Start the next unit; return its IV and the first FRAME_KEYSTREAM keystream bytes."""
        counter = self.counter
        self.counter = (counter + 1) % COUNTER_MODULUS
        iv = _U32.pack(counter) + self._iv_tail
        start = (counter - self._batch_first) * FRAME_KEYSTREAM
        if 0 <= start < len(self._batch):
            return iv, self._batch[start : start + FRAME_KEYSTREAM]
        if self._blocks_base is None or counter + KEYSTREAM_BATCH > COUNTER_MODULUS:
            return iv, self.keystream(iv, FRAME_KEYSTREAM)
        blocks = self._blocks_base + counter * self._blocks_step
        self._batch = self._ecb.update(blocks.to_bytes(FRAME_KEYSTREAM * KEYSTREAM_BATCH, "big"))
        self._batch_first = counter
        return iv, self._batch[:FRAME_KEYSTREAM]

    def keystream(self, iv: bytes, size: int) -> bytes:
        """The first `size` keystream bytes of the unit that starts at `iv`."""
        return Cipher(self._algorithm, modes.CTR(iv)).encryptor().update(bytes(size))

    def frame_mac(self, data: bytes, prefix: bytes = b"") -> bytes:
        """Truncated HMAC-SHA256 of `prefix || data` (a fresh MAC, as for every unit)."""
        inner = self._mac_inner.copy()
        if prefix:
            inner.update(prefix)
        inner.update(data)
        outer = self._mac_outer.copy()
        outer.update(inner.digest())
        return outer.digest()[:MAC_SIZE]
