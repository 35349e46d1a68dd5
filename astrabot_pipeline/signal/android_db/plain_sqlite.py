"""Read an already-decrypted Signal Android database (no `.backup` around it).

Such files come from `signalbackup-tools --output DIR` (`database.sqlite`) or from an
earlier decode of ours (`signal.sqlite`). The user's file is copied into `work_dir` with
SQLite's backup API (which also folds in a `-wal` file) and only the copy is read, by
the same `normalize_database` the `.backup` decoder uses.

Without account key-values (signalbackup-tools drops them) the owner is found from the
`from_recipient_id` of outgoing messages (DB >= 185); older databases get a placeholder
owner and a warning (see `database_tables.py`).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import ClassVar

from astrabot_pipeline import storage
from astrabot_pipeline.signal.android_db.database_tables import normalize_database
from astrabot_pipeline.signal.errors import UnsupportedBackupError
from astrabot_pipeline.signal.input_reader import (
    DecodedInput,
    DecodeRequest,
    decoded_from_normalized,
)
from astrabot_pipeline.signal.inputs import SQLITE_MAGIC, InputKind
from astrabot_pipeline.signal.tables import BLOB_TABLE, NormalizedBackup

COPY_FILE = "plain-signal.sqlite"
MESSAGE_TABLES = ("message", "mms", "sms")


class PlainSqliteReader:
    """An already-decrypted Signal Android database (`.sqlite`), read from a copy."""

    kind: ClassVar[InputKind] = InputKind.PLAIN_SQLITE

    def decode(self, path: Path, work_dir: Path, request: DecodeRequest) -> DecodedInput:
        return decoded_from_normalized(normalize_plain_android_db(path, work_dir), path, work_dir)


def looks_like_plain_android_db(path: str | Path) -> bool:
    """True for an unencrypted SQLite file holding Signal Android's `recipient` table."""
    path = Path(path)
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            return False
    try:
        tables = _table_names(path)
    except sqlite3.DatabaseError:
        return False
    return "recipient" in tables and any(table in tables for table in MESSAGE_TABLES)


def normalize_plain_android_db(db_path: str | Path, work_dir: str | Path) -> NormalizedBackup:
    """Copy `db_path` into `work_dir` and normalize the copy into the contract tables.

    Raises UnsupportedBackupError when the file is not a Signal Android database.
    Attachment files are never read from a plain database: the paths it records are the
    file's word, not ours (every `attachments.path` is None).
    """
    db_path, work_dir = Path(db_path), Path(work_dir)
    if not db_path.is_file():
        raise UnsupportedBackupError(f"{db_path} is not a file; give the path of the .sqlite file")
    _check_is_signal_db(db_path)
    storage.private_dir(work_dir)  # the copies hold message text
    copy = work_dir / COPY_FILE
    copy.unlink(missing_ok=True)
    source = sqlite3.connect(f"file:{db_path.resolve().as_posix()}?mode=ro", uri=True)
    target = sqlite3.connect(copy)
    try:
        source.backup(target)
    except sqlite3.DatabaseError as error:
        reason = getattr(error, "sqlite_errorname", None) or type(error).__name__
        raise UnsupportedBackupError(
            f"{db_path.name} could not be copied ({reason}): the database is damaged"
        ) from None
    finally:
        target.close()
        source.close()
    normalized = normalize_database(copy)
    if BLOB_TABLE in _table_names(copy):
        # Paths recorded in someone else's database are never followed: they could name any
        # file on this machine. Decode the original backup to get the attachments.
        normalized.warnings.append(
            "attachment files named inside this database were not read; decode the "
            "original backup to extract attachments"
        )
    return normalized


def _table_names(path: Path) -> set[str]:
    connection = sqlite3.connect(f"file:{path.resolve().as_posix()}?mode=ro", uri=True)
    try:
        rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'").fetchall()
    finally:
        connection.close()
    return {str(name).lower() for (name,) in rows}


def _check_is_signal_db(path: Path) -> None:
    with path.open("rb") as handle:
        magic = handle.read(len(SQLITE_MAGIC))
    if magic != SQLITE_MAGIC:
        raise UnsupportedBackupError(
            f"{path.name} is not a plain SQLite database (an encrypted Signal Desktop "
            "db.sqlite needs SIGNAL_DESKTOP_KEY; a Signal Android .backup needs its passphrase)"
        )
    try:
        tables = _table_names(path)
    except sqlite3.DatabaseError as error:
        reason = getattr(error, "sqlite_errorname", None) or type(error).__name__
        raise UnsupportedBackupError(
            f"{path.name} could not be read as SQLite ({reason}): the file is damaged or not a "
            "database"
        ) from None
    if "recipient" not in tables or not any(table in tables for table in MESSAGE_TABLES):
        hint = (
            " (this looks like a Signal Desktop database: use the Desktop input instead)"
            if {"conversations", "messages"} <= tables
            else ""
        )
        raise UnsupportedBackupError(
            f"{path.name} is not a Signal Android database: it lacks the `recipient` table "
            f"or a message table (`message`, or `sms`/`mms`){hint}"
        )


__all__ = ["looks_like_plain_android_db", "normalize_plain_android_db"]
