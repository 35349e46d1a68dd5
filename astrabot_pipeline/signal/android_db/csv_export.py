"""Read a `signalbackup-tools --exportcsv` export: one CSV per Signal Android table.

signalbackup-tools (`signalbackup/exportcsv.cc`) writes `SELECT * FROM <table>` as a
header row of column names and every value as text: NULL and '' both become an empty
field, BLOBs become base64, and a field is quoted (with `"` doubled) when it holds `,`,
`"` or a newline or is all whitespace. The files are loaded back into a SQLite database in
`work_dir`, typed column by column, and read by the same `normalize_database` as a
`.backup`, so the schema-era logic lives in one place (docs/backup-formats.md §6.3).
"""

from __future__ import annotations

import base64
import binascii
import csv
import re
import sqlite3
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import ClassVar

from astrabot_pipeline import storage
from astrabot_pipeline.signal.android_db.database_tables import normalize_database
from astrabot_pipeline.signal.android_db.schema import BASE_TYPE_MASK, OUTGOING_BASES
from astrabot_pipeline.signal.errors import UnsupportedBackupError
from astrabot_pipeline.signal.input_reader import (
    DecodedInput,
    DecodeRequest,
    decoded_from_normalized,
)
from astrabot_pipeline.signal.inputs import InputKind
from astrabot_pipeline.signal.sqlite_guard import quote_identifier
from astrabot_pipeline.signal.tables import NormalizedBackup

DB_FILE = "csv-export.sqlite"
MESSAGE_TABLES = ("message", "mms", "sms")
KNOWN_TABLES = (
    *MESSAGE_TABLES,
    "recipient",
    "thread",
    "groups",
    "reaction",
    "mention",
    "attachment",
    "part",
)
# Free-text or identifier columns that must stay text even when every value is digits
# (a body "42", a username "1234"); every column ending in `_name` is text too.
TEXT_COLUMNS = frozenset(
    {
        "body",
        "quote_body",
        "snippet",
        "title",
        "emoji",
        "e164",
        "phone",
        "aci",
        "uuid",
        "pni",
        "username",
        "email",
        "group_id",
        "content_type",
        "ct",
        "file_name",
        "caption",
        "note",
    }
)
# BLOB columns the normalizer decodes: DB 37-120 keep reactions as a protobuf ReactionList.
BASE64_COLUMNS = frozenset({"reactions"})
INTEGER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)")
INT64_MAX = 2**63 - 1
FIELD_SIZE_LIMIT = 256 * 1024 * 1024  # base64 BLOBs and long bodies exceed csv's 128 KiB
SIGNAL_BACKUP_DECODE_HEADER = ["address", "body", "date_sent", "date_received"]
EXPORT_HINT = (
    "export the tables with `signalbackup-tools BACKUP PASSPHRASE --exportcsv "
    "message=message.csv,recipient=recipient.csv,thread=thread.csv,groups=groups.csv,"
    "reaction=reaction.csv,mention=mention.csv,attachment=attachment.csv` "
    "(databases older than 2023 have `sms` and `mms` instead of `message`, and `part` "
    "instead of `attachment`)"
)


class CsvExportReader:
    """A signalbackup-tools `--exportcsv` folder, loaded into an Android-schema database."""

    kind: ClassVar[InputKind] = InputKind.CSV_EXPORT

    def decode(self, path: Path, work_dir: Path, request: DecodeRequest) -> DecodedInput:
        return decoded_from_normalized(normalize_csv_export(path, work_dir), path, work_dir)


def csv_tables(path: str | Path) -> dict[str, Path]:
    """Table name -> CSV file for every known Signal table among the CSVs at `path`."""
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    files = sorted(folder.glob("*.csv")) + sorted(folder.glob("*.CSV"))
    found: dict[str, Path] = {}
    for file in files:
        name = file.stem.lower()
        if name in KNOWN_TABLES and name not in found:
            found[name] = file
    return found


def looks_like_csv_export(path: str | Path) -> bool:
    """True for a folder (or one of its CSV files) holding `message.csv` or `sms`/`mms.csv`."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() != ".csv":
        return False
    if not path.exists():
        return False
    return any(table in csv_tables(path) for table in MESSAGE_TABLES)


def normalize_csv_export(folder: str | Path, work_dir: str | Path) -> NormalizedBackup:
    """Load the CSVs of `folder` (or of the folder of a given CSV file) and normalize them.

    The files are named after their tables (`message.csv`, `recipient.csv`, ...); other
    CSV files are ignored. Raises UnsupportedBackupError when no message table is there.
    """
    folder = Path(folder)
    if not folder.exists():
        raise UnsupportedBackupError(f"{folder} does not exist; {EXPORT_HINT}")
    tables = csv_tables(folder)
    if not any(table in tables for table in MESSAGE_TABLES):
        raise UnsupportedBackupError(_missing_messages_message(folder, tables))
    work_dir = Path(work_dir)
    storage.private_dir(work_dir)  # the copies hold message text
    db_path = work_dir / DB_FILE
    db_path.unlink(missing_ok=True)
    warnings: list[str] = []
    connection = sqlite3.connect(db_path)
    try:
        with connection:
            for table, file in tables.items():
                _load_csv(connection, table, file, warnings)
            present = set(tables)
            if "recipient" not in present:
                _synthesize_recipients(connection, present)
                warnings.append(
                    "recipient.csv is missing: recipients carry ids only (no names or numbers)"
                )
            if "thread" not in present:
                _synthesize_threads(connection, present)
                warnings.append("thread.csv is missing: each thread's recipient was inferred")
    finally:
        connection.close()
    normalized = normalize_database(db_path)
    normalized.warnings[:0] = warnings
    return normalized


def _missing_messages_message(folder: Path, tables: dict[str, Path]) -> str:
    directory = folder if folder.is_dir() else folder.parent
    for file in sorted(directory.glob("*.csv")):
        if _header(file) == SIGNAL_BACKUP_DECODE_HEADER:
            return (
                f"{file.name} is a signal-backup-decode CSV, which has no direction, thread "
                f"or MMS messages and cannot be used; {EXPORT_HINT}"
            )
    seen = ", ".join(f"{name}.csv" for name in tables) or "no Signal table CSVs"
    return f"{directory} has no message.csv (nor sms.csv/mms.csv), only {seen}; {EXPORT_HINT}"


def _header(file: Path) -> list[str]:
    with file.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        return [name.strip().lower() for name in next(csv.reader(handle), [])]


# -- loading -----------------------------------------------------------------------------


def _read_rows(file: Path, warnings: list[str]) -> tuple[list[str], list[list[str]]]:
    csv.field_size_limit(max(csv.field_size_limit(), FIELD_SIZE_LIMIT))
    with file.open(encoding="utf-8-sig", errors="replace", newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader, None)
        if not header:
            return [], []
        width = len(header)
        rows, ragged = [], 0
        for row in reader:
            if not row:
                continue
            if len(row) != width:
                ragged += 1
                row = (row + [""] * width)[:width]
            rows.append(row)
    if ragged:
        warnings.append(f"{file.name}: {ragged} row(s) with a wrong field count were padded or cut")
    return [name.strip() for name in header], rows


def _column_kind(name: str, values: Iterable[str]) -> str:
    lowered = name.lower()
    if lowered in BASE64_COLUMNS:
        return "BLOB"
    if lowered in TEXT_COLUMNS or lowered.endswith("_name"):
        return "TEXT"
    kind = "INTEGER"
    for value in values:
        if value == "":
            continue
        if kind == "INTEGER" and INTEGER_TEXT.fullmatch(value) and abs(int(value)) <= INT64_MAX:
            continue
        try:
            float(value)
        except ValueError:
            return "TEXT"
        kind = "REAL"
    return kind


def _converter(kind: str, warnings: list[str], label: str) -> Callable[[str], object]:
    def convert(value: str) -> object:
        if value == "":
            return None  # the export writes NULL and '' alike
        if kind == "INTEGER":
            return int(value)
        if kind == "REAL":
            return float(value)
        if kind == "BLOB":
            try:
                return base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                warnings.append(f"{label}: a value that is not base64 was dropped")
                return None
        return value

    return convert


def _load_csv(connection: sqlite3.Connection, table: str, file: Path, warnings: list[str]) -> None:
    header, rows = _read_rows(file, warnings)
    if not header:
        warnings.append(f"{file.name} is empty and was skipped")
        return
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in header]
    kinds = [_column_kind(name, values) for name, values in zip(header, columns, strict=True)]
    converters = [
        _converter(kind, warnings, f"{file.name}:{name}")
        for name, kind in zip(header, kinds, strict=True)
    ]
    definition = ", ".join(
        f"{quote_identifier(name)} {kind}" for name, kind in zip(header, kinds, strict=True)
    )
    connection.execute(f"CREATE TABLE {quote_identifier(table)} ({definition})")
    placeholders = ", ".join("?" * len(header))
    connection.executemany(
        f"INSERT INTO {quote_identifier(table)} VALUES ({placeholders})",
        ([convert(value) for convert, value in zip(converters, row, strict=True)] for row in rows),
    )


# -- stand-ins for tables the user did not export -------------------------------------------


def _columns(connection: sqlite3.Connection, table: str) -> set[str]:
    return {
        row[1].lower()
        for row in connection.execute(f"PRAGMA table_info({quote_identifier(table)})")
    }


def _message_rows(
    connection: sqlite3.Connection, present: Iterable[str], wanted: Sequence[str]
) -> list[dict[str, object]]:
    """Rows of every message table with the `wanted` columns (None where absent)."""
    rows: list[dict[str, object]] = []
    for table in (t for t in MESSAGE_TABLES if t in present):
        available = _columns(connection, table)
        parts = [
            quote_identifier(column)
            if column in available
            else f"NULL AS {quote_identifier(column)}"
            for column in wanted
        ]
        query = f"SELECT {', '.join(parts)} FROM {quote_identifier(table)}"
        rows.extend(dict(zip(wanted, row, strict=True)) for row in connection.execute(query))
    return rows


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) else None


def _synthesize_recipients(connection: sqlite3.Connection, present: set[str]) -> None:
    """A `recipient` table of bare ids: every id the messages, reactions, mentions use."""
    ids: set[int] = set()
    for row in _message_rows(
        connection, present, ["from_recipient_id", "to_recipient_id", "recipient_id", "address"]
    ):
        ids.update(i for i in map(_as_int, row.values()) if i is not None)
    for table, column in (
        ("reaction", "author_id"),
        ("mention", "recipient_id"),
        ("groups", "recipient_id"),
    ):
        if table in present and column in _columns(connection, table):
            query = f"SELECT DISTINCT {quote_identifier(column)} FROM {quote_identifier(table)}"
            ids.update(i for (value,) in connection.execute(query) if (i := _as_int(value)))
    connection.execute("CREATE TABLE recipient (_id INTEGER PRIMARY KEY, type INTEGER)")
    connection.executemany("INSERT INTO recipient VALUES (?, 0)", [(i,) for i in sorted(ids)])
    if "groups" in present and "recipient_id" in _columns(connection, "groups"):
        connection.execute(
            "UPDATE recipient SET type = 3 WHERE _id IN (SELECT recipient_id FROM groups)"
        )


def _synthesize_threads(connection: sqlite3.Connection, present: set[str]) -> None:
    """A `thread` table: each thread's recipient guessed from its messages.

    Outgoing rows name the thread's recipient (`to_recipient_id`, or the pre-185 other
    party). A thread with only incoming rows is a group when they were sent to someone
    other than the owner (the usual sender of outgoing rows), else the 1:1 sender.
    """
    rows = _message_rows(
        connection,
        present,
        ["thread_id", "type", "msg_box", "from_recipient_id", "to_recipient_id", "recipient_id",
         "address"],
    )  # fmt: skip
    owner_votes: Counter[int] = Counter()
    outgoing: dict[int, Counter[int]] = {}
    incoming_targets: dict[int, Counter[int]] = {}
    incoming_authors: dict[int, Counter[int]] = {}
    for row in rows:
        thread = _as_int(row["thread_id"])
        kind = _as_int(row["type"]) if row["type"] is not None else _as_int(row["msg_box"])
        if thread is None or kind is None:
            continue
        other = _as_int(row["recipient_id"]) or _as_int(row["address"])
        sender = _as_int(row["from_recipient_id"])
        if (kind & BASE_TYPE_MASK) in OUTGOING_BASES:
            if sender is not None:
                owner_votes[sender] += 1
            if (target := _as_int(row["to_recipient_id"]) or other) is not None:
                outgoing.setdefault(thread, Counter())[target] += 1
            continue
        if (target := _as_int(row["to_recipient_id"])) is not None:
            incoming_targets.setdefault(thread, Counter())[target] += 1
        if (author := sender or other) is not None:
            incoming_authors.setdefault(thread, Counter())[author] += 1
    owner = owner_votes.most_common(1)[0][0] if owner_votes else None
    threads: dict[int, int] = {}
    for thread in sorted({*outgoing, *incoming_targets, *incoming_authors}):
        if thread in outgoing:
            threads[thread] = outgoing[thread].most_common(1)[0][0]
            continue
        targets = Counter(incoming_targets.get(thread, {}))
        if owner is not None:
            targets.pop(owner, None)
        if owner is not None and targets:
            threads[thread] = targets.most_common(1)[0][0]
        elif thread in incoming_authors:
            threads[thread] = incoming_authors[thread].most_common(1)[0][0]
    connection.execute("CREATE TABLE thread (_id INTEGER PRIMARY KEY, recipient_id INTEGER)")
    connection.executemany("INSERT INTO thread VALUES (?, ?)", sorted(threads.items()))


__all__ = ["csv_tables", "looks_like_csv_export", "normalize_csv_export"]
