"""Signal "backup v2" (libsignal MessageBackup) decoding: encrypted `main`, plaintext export.

Typical use::

    backup = decode_backup_v2(Path("SignalBackups"), Path("data/decoded"),
                              recovery_key=os.environ["SIGNAL_BACKUP_PASSPHRASE"],
                              aci=os.environ["SIGNAL_ACI"])
"""

from astrabot_pipeline.signal.backup_v2.errors import (
    CorruptBackupV2Error,
    ForwardSecrecyTokenRequiredError,
    MissingAciError,
    MissingRecoveryKeyError,
)
from astrabot_pipeline.signal.backup_v2.frame_tables import normalize_frames
from astrabot_pipeline.signal.backup_v2.keys import (
    MessageBackupKey,
    derive_account_backup_key,
    derive_backup_id,
    derive_message_backup_key,
    message_backup_key_for,
    normalize_recovery_key,
)
from astrabot_pipeline.signal.backup_v2.reader import decode_backup_v2, read_backup_frames

__all__ = [
    "CorruptBackupV2Error",
    "ForwardSecrecyTokenRequiredError",
    "MessageBackupKey",
    "MissingAciError",
    "MissingRecoveryKeyError",
    "decode_backup_v2",
    "derive_backup_id",
    "derive_account_backup_key",
    "derive_message_backup_key",
    "message_backup_key_for",
    "normalize_frames",
    "normalize_recovery_key",
    "read_backup_frames",
]
