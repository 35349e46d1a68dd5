"""All key handling of backup v2: recovery key (AEP) -> BackupKey -> BackupId -> message keys.

HKDF-SHA256 chain from libsignal `rust/account-keys/src/backup.rs` and
`rust/message-backup/src/key.rs` (docs/backup-formats.md §8.1). Remote backups since 2025
add a 32-byte forward-secrecy token as the HKDF salt of the message-backup key, under a
different info prefix.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from astrabot_pipeline.signal.backup_v2.errors import MissingAciError
from astrabot_pipeline.signal.errors import PassphraseFormatError

RECOVERY_KEY_LENGTH = 64
FORWARD_SECRECY_TOKEN_SIZE = 32
BACKUP_KEY_INFO = b"20240801_SIGNAL_BACKUP_KEY"
BACKUP_ID_INFO = b"20241024_SIGNAL_BACKUP_ID:"
MESSAGE_BACKUP_KEY_INFO = b"20241007_SIGNAL_BACKUP_ENCRYPT_MESSAGE_BACKUP:"
FORWARD_SECRECY_MESSAGE_BACKUP_KEY_INFO = b"20250708_SIGNAL_BACKUP_ENCRYPT_MESSAGE_BACKUP:"

# Signal shows the key upper-case in groups of four, with `=` for 0 and `#` for O so the
# two cannot be confused (Signal-Android AccountEntropyPool.kt; signalbackup-tools).
_DISPLAY_CHARACTERS = str.maketrans({"=": "0", "#": "o"})
_SEPARATORS = re.compile(r"[\s\-]+")
_RECOVERY_KEY = re.compile(r"[0-9a-z]{64}")
_LEGACY_PASSPHRASE = re.compile(r"\d{30}")

RECOVERY_KEY_HINT = (
    "set SIGNAL_BACKUP_PASSPHRASE to the 64-character recovery key (letters and digits, "
    "spaces and upper case are fine) that Signal shows under Settings > Chats > Backups"
)


def normalize_recovery_key(recovery_key: str) -> bytes:
    """The 64 lower-case ASCII characters of an account entropy pool ("recovery key")."""
    compact = _SEPARATORS.sub("", recovery_key)
    if _LEGACY_PASSPHRASE.fullmatch(compact):
        raise PassphraseFormatError(
            "a 30-digit passphrase was given, but this is a backup-v2 file, which is "
            f"encrypted with the 64-character recovery key; {RECOVERY_KEY_HINT}"
        )
    normalized = compact.translate(_DISPLAY_CHARACTERS).lower()
    if not _RECOVERY_KEY.fullmatch(normalized):
        raise PassphraseFormatError(
            f"the recovery key has {len(normalized)} characters or characters outside 0-9 "
            f"and a-z, expected {RECOVERY_KEY_LENGTH}; {RECOVERY_KEY_HINT}"
        )
    return normalized.encode("ascii")


def aci_bytes(aci: str | bytes | None) -> bytes:
    """The 16 raw bytes of an ACI given as a UUID string (or already as 16 bytes)."""
    if aci is None or aci == "":
        raise MissingAciError(
            "this backup-v2 file needs the account's ACI to derive its keys; set SIGNAL_ACI "
            "to your Signal account's ACI (a UUID such as 12345678-1234-1234-1234-123456789abc)"
        )
    if isinstance(aci, bytes):
        if len(aci) != 16:
            raise MissingAciError(f"an ACI is 16 bytes, got {len(aci)}; check SIGNAL_ACI")
        return aci
    try:
        return uuid.UUID(aci.strip()).bytes
    except ValueError as error:
        raise MissingAciError(
            "SIGNAL_ACI is not a UUID; it must look like 12345678-1234-1234-1234-123456789abc"
        ) from error


def _hkdf(ikm: bytes, info: bytes, length: int, salt: bytes | None = None) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt, info=info).derive(ikm)


def derive_account_backup_key(account_entropy_pool: bytes) -> bytes:
    """The account's BackupKey, from its account entropy pool (the recovery key):
    HKDF(ikm = AEP ASCII, no salt, info = 20240801_SIGNAL_BACKUP_KEY), 32 bytes."""
    return _hkdf(account_entropy_pool, BACKUP_KEY_INFO, 32)


def derive_backup_id(backup_key: bytes, aci: bytes) -> bytes:
    """BackupId = HKDF(BackupKey, info = 20241024_SIGNAL_BACKUP_ID: || ACI), 16 bytes."""
    return _hkdf(backup_key, BACKUP_ID_INFO + aci, 16)


@dataclass(frozen=True)
class MessageBackupKey:
    """HMAC-SHA256 and AES-256-CBC keys of one `main` file (kept out of repr)."""

    hmac_key: bytes = field(repr=False)
    aes_key: bytes = field(repr=False)


def derive_message_backup_key(
    backup_key: bytes, backup_id: bytes, forward_secrecy_token: bytes | None = None
) -> MessageBackupKey:
    """64 bytes of HKDF(BackupKey): hmacKey = [0:32], aesKey = [32:64].

    Without a token: no salt, info 20241007_…; with one: salt = token, info 20250708_….
    """
    if forward_secrecy_token is None:
        okm = _hkdf(backup_key, MESSAGE_BACKUP_KEY_INFO + backup_id, 64)
    else:
        if len(forward_secrecy_token) != FORWARD_SECRECY_TOKEN_SIZE:
            raise PassphraseFormatError(
                f"the forward-secrecy token must be {FORWARD_SECRECY_TOKEN_SIZE} bytes, "
                f"got {len(forward_secrecy_token)}"
            )
        okm = _hkdf(
            backup_key,
            FORWARD_SECRECY_MESSAGE_BACKUP_KEY_INFO + backup_id,
            64,
            salt=forward_secrecy_token,
        )
    return MessageBackupKey(hmac_key=okm[:32], aes_key=okm[32:])


def message_backup_key_for(
    recovery_key: str,
    aci: str | bytes | None,
    forward_secrecy_token: bytes | None = None,
) -> MessageBackupKey:
    """The whole chain from the user's inputs: recovery key text and ACI."""
    backup_key = derive_account_backup_key(normalize_recovery_key(recovery_key))
    backup_id = derive_backup_id(backup_key, aci_bytes(aci))
    return derive_message_backup_key(backup_key, backup_id, forward_secrecy_token)
