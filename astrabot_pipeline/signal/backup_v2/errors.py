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


class CorruptExportLineError(CorruptBackupV2Error):
    """A line of `main.jsonl` (or the compressed stream under it) is not a readable frame.

    `line` is the 1-based physical line number (blank lines counted), `offset` the byte
    offset of that line in the decompressed `main.jsonl`.
    """

    def __init__(self, message: str, *, line: int, offset: int) -> None:
        super().__init__(message)
        self.line = line
        self.offset = offset


class FrameTooLargeError(CorruptBackupV2Error):
    """One line or record is larger than any real frame (see backup_v2/limits.py)."""


class DecompressionLimitError(CorruptBackupV2Error):
    """The compressed input expands far beyond what a real backup of its size holds."""
