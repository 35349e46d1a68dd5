"""Read a Signal Desktop `db.sqlite` (SQLCipher 4, raw 32-byte key) into the contract tables.

The Desktop schema (`conversations`, `messages` with most data in a `json` column,
`items`) is rewritten into an Android-shaped SQLite database in `work_dir` and read by
the same `normalize_database` as a `.backup`, so quotes, edits, self identification and
the chat filter behave alike for every input; the rewrite is `to_android.py`.

The key is only ever put into the `PRAGMA key` statement; no message carries it.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any, ClassVar

from astrabot_pipeline import settings, storage
from astrabot_pipeline.signal.android_db.database_tables import normalize_database
from astrabot_pipeline.signal.desktop.to_android import convert_to_android
from astrabot_pipeline.signal.errors import (
    PassphraseFormatError,
    UnsupportedBackupError,
    WrongPassphraseError,
)
from astrabot_pipeline.signal.input_reader import (
    DecodedInput,
    DecodeRequest,
    decoded_from_normalized,
)
from astrabot_pipeline.signal.inputs import SQLITE_MAGIC, InputKind
from astrabot_pipeline.signal.sqlite_guard import ReadGuard
from astrabot_pipeline.signal.tables import NormalizedBackup

KEY_ENV_VAR = settings.DESKTOP_KEY_ENV
HEX_KEY = re.compile(r"[0-9a-fA-F]{64}")
COPY_FILE = "desktop.sqlite"
CONVERTED_FILE = "desktop-as-android.sqlite"


class DesktopReader:
    """Signal Desktop's `db.sqlite` (SQLCipher, opened with its key) or data folder."""

    kind: ClassVar[InputKind] = InputKind.DESKTOP

    def decode(self, path: Path, work_dir: Path, request: DecodeRequest) -> DecodedInput:
        normalized = normalize_desktop_db(path, work_dir, key_hex=request.secrets.desktop_key)
        return decoded_from_normalized(normalized, path, work_dir)


def looks_like_desktop_db(path: str | Path) -> bool:
    """True for a Desktop data folder (with `sql/db.sqlite`), an encrypted `db.sqlite`, or
    a plain SQLite file with Desktop's `conversations` and `messages` tables."""
    path = Path(path)
    if path.is_dir():
        return (path / "sql" / "db.sqlite").is_file()
    if not path.is_file():
        return False
    with path.open("rb") as handle:
        if handle.read(len(SQLITE_MAGIC)) != SQLITE_MAGIC:
            return path.name == "db.sqlite"  # encrypted: only the name can tell
    try:
        connection = sqlite3.connect(f"file:{path.resolve().as_posix()}?mode=ro", uri=True)
        try:
            rows = connection.execute("SELECT name FROM sqlite_master WHERE type='table'")
            tables = {str(name).lower() for (name,) in rows}
        finally:
            connection.close()
    except sqlite3.DatabaseError:
        return False
    return {"conversations", "messages"} <= tables


def normalize_desktop_db(
    db_path: str | Path, work_dir: str | Path, *, key_hex: str | None
) -> NormalizedBackup:
    """Decrypt (when `key_hex` is given) and normalize a Signal Desktop database.

    `db_path` is `sql/db.sqlite` or the Desktop data folder holding it. The file (and its
    `-wal`) is copied into `work_dir` first; the user's copy is never opened for writing.
    Raises PassphraseFormatError for a malformed key, WrongPassphraseError when the key
    does not open the database, UnsupportedBackupError when it is not a Desktop database.
    """
    db_path, work_dir = Path(db_path), Path(work_dir)
    if db_path.is_dir():
        db_path = db_path / "sql" / "db.sqlite"
    if not db_path.is_file():
        raise UnsupportedBackupError(
            f"{db_path} is not a file; give Signal Desktop's sql/db.sqlite or its data folder"
        )
    storage.private_dir(work_dir)  # the copies hold message text
    copy = _copy_with_wal(db_path, work_dir / COPY_FILE)
    warnings: list[str] = []
    connection, database_error = _open(copy, key_hex, warnings)
    try:
        guard = ReadGuard(
            connection,
            copy.stat().st_size,
            "the Desktop database",
            database_error=database_error,
        )
        converted = convert_to_android(connection, guard, work_dir / CONVERTED_FILE)
    finally:
        connection.close()
    normalized = normalize_database(converted.path)
    normalized.warnings[:0] = warnings + converted.warnings
    return normalized


# -- opening ----------------------------------------------------------------------------


def _copy_with_wal(source: Path, target: Path) -> Path:
    for suffix in ("", "-wal"):
        stale = target.with_name(target.name + suffix)
        stale.unlink(missing_ok=True)
        original = source.with_name(source.name + suffix)
        if original.is_file():
            shutil.copyfile(original, stale)
    return target


def _clean_key(key_hex: str) -> str:
    key = key_hex.strip()
    key = key[2:] if key.lower().startswith("0x") else key
    if not HEX_KEY.fullmatch(key):
        raise PassphraseFormatError(
            f"{KEY_ENV_VAR} must be the 64 hexadecimal characters of the `key` in Signal "
            "Desktop's config.json (or the decrypted `encryptedKey`)"
        )
    return key.lower()


def _open(path: Path, key_hex: str | None, warnings: list[str]) -> tuple[Any, type[Exception]]:
    """A DB-API connection to the copy (plain sqlite3, or sqlcipher3 keyed with the raw
    key) and that module's base error class."""
    with path.open("rb") as handle:
        is_plain = handle.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC
    if is_plain:
        if key_hex is not None:
            warnings.append(f"the Desktop database is not encrypted; {KEY_ENV_VAR} was not used")
        return sqlite3.connect(path), sqlite3.Error
    if key_hex is None:
        raise WrongPassphraseError(
            f"this Signal Desktop database is encrypted: set {KEY_ENV_VAR} to the 64-hex-digit "
            "key from Signal Desktop's config.json"
        )
    key = _clean_key(key_hex)
    try:
        import sqlcipher3  # the wheel bundles SQLCipher 4
    except ImportError as error:
        raise UnsupportedBackupError(
            "reading an encrypted Signal Desktop database needs the `sqlcipher3` package "
            "(pip install sqlcipher3)"
        ) from error
    connection = sqlcipher3.connect(str(path))
    connection.execute(f"PRAGMA key = \"x'{key}'\"")
    _probe(connection, sqlcipher3.DatabaseError)
    return connection, sqlcipher3.Error


def _probe(connection: Any, database_error: type[Exception]) -> None:
    try:
        connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except database_error:
        connection.close()
        raise WrongPassphraseError(
            f"the Signal Desktop database did not open with this key: check {KEY_ENV_VAR} "
            "(64 hex digits, the `key` of config.json; newer Desktop versions keep only an "
            "`encryptedKey` that must be decrypted first)"
        ) from None


__all__ = ["KEY_ENV_VAR", "DesktopReader", "looks_like_desktop_db", "normalize_desktop_db"]
