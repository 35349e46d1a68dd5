"""Backup-v2 specific failures, all subclasses of the decoder's one hierarchy (signal/errors.py)."""

from __future__ import annotations

from astrabot_pipeline.signal.errors import (
    BackupError,
    PassphraseFormatError,
    UnsupportedBackupError,
)


class MissingRecoveryKeyError(PassphraseFormatError):
    """An encrypted backup-v2 file was given without the 64-character recovery key."""


class MissingAciError(BackupError):
    """The account's ACI is needed to derive the backup-v2 keys but was not given."""


class ForwardSecrecyTokenRequiredError(UnsupportedBackupError):
    """A remote backup (`SBACKUP\\x01` prefix) needs the forward-secrecy token from Signal's SVR-B."""


class CorruptBackupV2Error(BackupError):
    """The backup authenticated but its padding, gzip stream or protobuf frames are broken."""
