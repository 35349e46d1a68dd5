"""Which kind of Signal history a path holds, decided from its content, not trusted names.

Supported: a legacy Android `.backup` file; a backup-v2 encrypted `main` file or its
`signal-backup-*` snapshot folder; the plaintext export (ZIP or `main.jsonl`); a Signal
Desktop database (SQLCipher `db.sqlite` or its data folder); an already-decrypted
Android database; and a signalbackup-tools `--exportcsv` folder.
"""

from __future__ import annotations

import errno
import fcntl
import os
import sqlite3
import stat
import struct
import zipfile
from enum import StrEnum
from pathlib import Path
from typing import BinaryIO

from astrabot_pipeline.signal.errors import CorruptInputError, UnsupportedBackupError

SQLITE_MAGIC = b"SQLite format 3\x00"
BACKUP_V2_MAGIC = b"SBACKUP\x01"
ZIP_MAGIC = b"PK\x03\x04"
MAX_LEGACY_HEADER = 10_240  # signalbackup-tools' sanity bound on the plaintext header frame
_HEADER_FIELD_TAG = 0x0A  # BackupFrame field 1 (header), length-delimited
_CSV_MESSAGE_FILES = ("message.csv", "sms.csv", "mms.csv")


class InputKind(StrEnum):
    LEGACY_BACKUP = "legacy-backup"
    BACKUP_V2 = "backup-v2"
    BACKUP_V2_EXPORT = "backup-v2-export"
    DESKTOP = "desktop"
    PLAIN_SQLITE = "plain-sqlite"
    CSV_EXPORT = "csv-export"


SUPPORTED = (
    "a Signal Android .backup file, a backup-v2 folder (signal-backup-*) or its `main` file, "
    "the plaintext export (.zip or main.jsonl), a Signal Desktop db.sqlite or data folder, "
    "a decrypted Signal SQLite database, or a signalbackup-tools --exportcsv folder"
)


def file_type(mode: int) -> str:
    """What a non-regular entry is, in words (for messages)."""
    for test, name in (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISLNK, "a symbolic link"),
    ):
        if test(mode):
            return name
    return "not a regular file"


def not_a_file(name: str, mode: int) -> UnsupportedBackupError:
    return UnsupportedBackupError(
        f"{name} is {file_type(mode)}, not a file or folder: a backup is read only from a "
        "regular file or a backup folder; use the backup itself"
    )


def open_regular(path: str | os.PathLike[str], buffering: int = -1) -> BinaryIO:
    """Open `path` for reading only if it is a regular file, checked on the open file itself.

    Opening a named pipe with a plain `open` waits forever for a writer; the non-blocking
    open returns at once, and `fstat` on the descriptor cannot be fooled by a rename
    between a check and the open. UnsupportedBackupError for anything but a regular file.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise not_a_file(Path(path).name, mode)
        fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) & ~os.O_NONBLOCK)
        return os.fdopen(fd, "rb", buffering=buffering)
    except BaseException:
        os.close(fd)
        raise


def _head(path: Path, size: int = 64) -> bytes:
    with open_regular(path) as handle:
        return handle.read(size)


def _is_legacy_backup(head: bytes) -> bool:
    if len(head) < 6:
        return False
    (length,) = struct.unpack(">I", head[:4])
    return 2 <= length <= MAX_LEGACY_HEADER and head[4] == _HEADER_FIELD_TAG


def _sqlite_tables(path: Path) -> set[str]:
    uri = f"file:{path.as_posix()}?mode=ro"
    try:
        connection = sqlite3.connect(uri, uri=True)
        try:
            return {row[0] for row in connection.execute("SELECT name FROM sqlite_master")}
        finally:
            connection.close()
    except sqlite3.DatabaseError as error:  # "file is not a database", "malformed", ...
        raise CorruptInputError(
            f"{path.name} starts like an SQLite database but cannot be read as one (it is "
            "damaged or not a database); copy it again from its source"
        ) from error


def _zip_names(path: Path) -> list[str]:
    try:
        with zipfile.ZipFile(path) as archive:
            return archive.namelist()
    except (zipfile.BadZipFile, EOFError, ValueError) as error:
        raise CorruptInputError(
            f"{path.name} is a ZIP archive whose central directory is damaged; re-create or "
            "re-download the export"
        ) from error


def _detect_file(path: Path) -> InputKind | None:
    head = _head(path)
    if (
        head.startswith(BACKUP_V2_MAGIC)
        or path.name == "main"
        or path.name.endswith(".binproto.encrypted")
    ):
        return InputKind.BACKUP_V2
    if path.suffix == ".jsonl":
        return InputKind.BACKUP_V2_EXPORT
    if zipfile.is_zipfile(path):
        names = _zip_names(path)
        return InputKind.BACKUP_V2_EXPORT if any(n.endswith("main.jsonl") for n in names) else None
    if head.startswith(ZIP_MAGIC):
        raise CorruptInputError(
            f"{path.name} starts like a ZIP archive but has no end-of-archive record: it is cut "
            "short or damaged; re-create or re-download the export"
        )
    if head.startswith(SQLITE_MAGIC):
        tables = _sqlite_tables(path)
        if "conversations" in tables and "messages" in tables:
            return InputKind.DESKTOP
        if "recipient" in tables or "recipient_preferences" in tables:
            return InputKind.PLAIN_SQLITE
        return None
    if path.name == "db.sqlite":
        return InputKind.DESKTOP  # SQLCipher: encrypted from the first byte
    if _is_legacy_backup(head) or path.suffix == ".backup":
        return InputKind.LEGACY_BACKUP
    return None


def _member(path: Path) -> bool:
    """A regular file in an input folder, not a symbolic link: a link in a folder someone
    sent (`main` -> a file of yours) makes the folder no input of any kind."""
    try:
        return stat.S_ISREG(path.lstat().st_mode)
    except OSError:
        return False


def _detect_folder(path: Path) -> InputKind | None:
    if _member(path / "main"):
        return InputKind.BACKUP_V2
    if _member(path / "main.jsonl"):
        return InputKind.BACKUP_V2_EXPORT
    if _member(path / "sql" / "db.sqlite") or _member(path / "db.sqlite"):
        return InputKind.DESKTOP
    if any(_member(path / name) for name in _CSV_MESSAGE_FILES):
        return InputKind.CSV_EXPORT
    return None


def detect_input(path: str | Path) -> InputKind:
    """The kind of history at `path`; UnsupportedBackupError (saying what is) otherwise."""
    path = Path(path)
    try:
        mode = path.stat().st_mode  # a symlink's target: the caller named the link
    except FileNotFoundError:
        raise FileNotFoundError(errno.ENOENT, "no such file or folder", str(path)) from None
    if stat.S_ISDIR(mode):
        kind = _detect_folder(path)
    elif stat.S_ISREG(mode):
        kind = _detect_file(path)
    else:
        raise not_a_file(path.name, mode)
    if kind is None:
        raise UnsupportedBackupError(f"{path.name} is not a supported input; expected {SUPPORTED}")
    return kind


# What detect_input can raise on an unreadable or unsupported path.
DETECTION_ERRORS = (UnsupportedBackupError, OSError, sqlite3.DatabaseError, zipfile.BadZipFile)


def is_supported_input(path: Path) -> bool:
    """True when `path` is an input this project decodes (sidecar and hidden files are not).

    Stricter than `detect_input`, which lets a damaged file named `.backup` or `.jsonl`
    through so the decoder can say what is wrong with it: here the content must look like
    its kind (a legacy header frame, a JSON object), since whatever is found in the watched
    folder is hashed and decoded without anyone asking.
    """
    if path.name.startswith(".") or path.name.endswith(".canaries.json"):
        return False
    try:
        kind = detect_input(path)
        if path.is_dir():
            return True
        head = _head(path)
    except DETECTION_ERRORS:
        return False
    if kind is InputKind.LEGACY_BACKUP:
        return _is_legacy_backup(head)
    if kind is InputKind.BACKUP_V2_EXPORT and path.suffix == ".jsonl":
        return head.removeprefix(b"\xef\xbb\xbf").lstrip().startswith(b"{")
    return True
