"""The one exception hierarchy of the Signal backup decoder.

Messages say what went wrong and what to do next; they never contain the passphrase,
key material or message content (only counts, frame indexes and byte offsets).
"""

from __future__ import annotations

from astrabot_pipeline.errors import AstrabotError


class BackupError(AstrabotError):
    """Base class of every error the Signal backup decoder raises on purpose."""


class PassphraseFormatError(BackupError):
    """The passphrase is not 30 digits (or is a backup-v2 recovery key)."""


class WrongPassphraseError(BackupError):
    """The first encrypted frame does not authenticate: almost always a wrong passphrase."""


class TruncatedBackupError(BackupError):
    """The file ends inside a frame or blob, or before the End frame."""


class UnsupportedBackupError(BackupError):
    """The input is not a legacy Signal Android .backup this decoder can read."""


class CorruptFrameError(BackupError):
    """A frame or blob after the first fails its MAC check or does not parse."""

    def __init__(self, message: str, *, frame_index: int, offset: int) -> None:
        super().__init__(f"{message} (frame {frame_index}, byte offset {offset})")
        self.frame_index = frame_index
        self.offset = offset


class PassphraseMissingError(BackupError):
    """The input needs a secret (passphrase, recovery key) and none was given."""


class ResourceLimitError(BackupError):
    """The input asks for more work, disk or memory than any real backup can need."""


class OutputFolderError(BackupError):
    """The output folder cannot be used safely: it is a file, a symlink, the current folder,
    or a non-empty folder that is not an earlier output of `astrabot decode`. Raised before
    any decoding work; nothing is written or deleted."""


class UnreadableInputError(BackupError, OSError):
    """The input cannot be read: a symbolic link loop, an I/O error (see the subclass for
    a permission problem). `errno` is set; the message names the file, never its content."""


class InputPermissionError(UnreadableInputError, PermissionError):
    """The input (or a file inside an input folder) is not readable by this user."""


class OutputWriteError(BackupError, OSError):
    """Writing the decoded output failed (a disk error, or permissions of the folder)."""


class OutOfSpaceError(OutputWriteError):
    """The disk holding the output is full, or a file reached the file-size limit
    (`ulimit -f`). The partial output was removed."""


class CorruptInputError(UnsupportedBackupError):
    """The input starts like a known kind (ZIP, SQLite) but its structure is broken."""
