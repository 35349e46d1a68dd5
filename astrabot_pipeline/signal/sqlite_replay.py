"""Replay backup frame events into a SQLite file, in one transaction.

Only CREATE and INSERT statements run (anything else is skipped and counted); INSERTs
are batched with executemany; triggers are created after the data so they do not fire
during the restore, and non-UNIQUE indexes after it so they are built in one pass (they
cannot make an INSERT fail, so the rows kept are the same). Key-values, preferences and where each blob went are stored in
`astrabot_*` side tables, and `PRAGMA user_version` is set from the DatabaseVersion frame.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from astrabot_pipeline.signal.reader import (
    BlobEvent,
    DatabaseVersionEvent,
    FrameEvent,
    KeyValueEvent,
    PreferenceEvent,
    SqlValue,
    StatementEvent,
)

SIDE_TABLE_PREFIX = "astrabot_"
KEY_VALUE_TABLE = "astrabot_key_value"
PREFERENCE_TABLE = "astrabot_preference"
BLOB_TABLE = "astrabot_blob"
DEFAULT_BATCH_SIZE = 2_000

_SIDE_TABLES = (
    f"CREATE TABLE {KEY_VALUE_TABLE} (key TEXT PRIMARY KEY, value, value_type TEXT NOT NULL)",
    f"CREATE TABLE {PREFERENCE_TABLE} (file TEXT NOT NULL, key TEXT NOT NULL, value, "
    "value_type TEXT NOT NULL, PRIMARY KEY (file, key))",
    f"CREATE TABLE {BLOB_TABLE} (kind TEXT NOT NULL, row_id INTEGER, attachment_id INTEGER, "
    "name TEXT, length INTEGER NOT NULL, path TEXT)",
)
_NAME = r"""["`\[]?([^\s"`\]\(]+)["`\]]?"""
_CREATE = re.compile(
    r"\s*CREATE\s+(?:UNIQUE\s+)?(?:TEMP(?:ORARY)?\s+)?(VIRTUAL\s+TABLE|TABLE|INDEX|TRIGGER|VIEW)\s+"
    rf"(?:IF\s+NOT\s+EXISTS\s+)?{_NAME}",
    re.IGNORECASE,
)
_UNIQUE_INDEX = re.compile(r"\s*CREATE\s+UNIQUE\s", re.IGNORECASE)
_INSERT = re.compile(rf"\s*INSERT\s+(?:OR\s+\w+\s+)?INTO\s+{_NAME}", re.IGNORECASE)
_FTS_SHADOW = re.compile(r".+_(data|idx|content|docsize|config)$", re.IGNORECASE)
_EXTERNAL_CONTENT_FTS = re.compile(r"USING\s+fts5\s*\(.*\bcontent\s*=", re.IGNORECASE | re.DOTALL)
_SQLITE_ATTACH = 24
_SQLITE_DETACH = 25


@cache
def fts5_available() -> bool:
    """Whether this Python's SQLite can create FTS5 virtual tables."""
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE probe USING fts5(body)")
    except sqlite3.Error:
        return False
    return True


def _authorize(action: int, *_: object) -> int:
    """Refuse ATTACH/DETACH: a backup must never make SQLite touch other files."""
    return sqlite3.SQLITE_DENY if action in (_SQLITE_ATTACH, _SQLITE_DETACH) else sqlite3.SQLITE_OK


def _value_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return {int: "integer", float: "float", str: "string", bytes: "blob"}.get(type(value), "string")


@dataclass
class ReplayStats:
    """What a replay did: counts only, never values."""

    database_version: int | None = None
    statements: int = 0
    rows_inserted: int = 0
    rows_failed: int = 0
    statements_skipped: int = 0
    key_values: int = 0
    preferences: int = 0
    blobs: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Plan:
    """How to run one distinct SQL text: `kind` is insert, create, index, trigger or skip."""

    kind: str
    name: str = ""
    is_virtual: bool = False
    reason: str = ""


class SqliteReplayer:
    """Apply frame events to a new SQLite database; use as a context manager."""

    def __init__(
        self,
        db_path: str | Path,
        *,
        blob_root: str | Path | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
    ) -> None:
        self.db_path = Path(db_path)
        if self.db_path.exists():
            raise FileExistsError(f"{self.db_path} already exists; replay needs a new file")
        self.blob_root = Path(blob_root) if blob_root is not None else None
        self.batch_size = batch_size
        self.stats = ReplayStats()
        self._conn = sqlite3.connect(self.db_path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=MEMORY")
        self._conn.execute("PRAGMA synchronous=OFF")
        self._conn.set_authorizer(_authorize)
        self._conn.execute("BEGIN")
        for ddl in _SIDE_TABLES:
            self._conn.execute(ddl)
        self._plans: dict[str, _Plan] = {}
        self._skipped_tables: set[str] = set()
        self._virtual_tables: set[str] = set()
        self._search_indexes: list[str] = []
        self._triggers: list[tuple[str, str]] = []
        self._indexes: list[tuple[str, _Plan, tuple[SqlValue, ...]]] = []
        self._skip_counts: Counter[str] = Counter()
        self._failures: dict[str, tuple[int, str]] = {}
        self._pending_sql: str | None = None
        self._pending_table = ""
        self._pending_rows: list[tuple[SqlValue, ...]] = []

    def __enter__(self) -> SqliteReplayer:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.finish()
        else:
            self.abort()

    # -- events -----------------------------------------------------------------------

    def handle(self, event: FrameEvent) -> None:
        """Apply one event (statements may be buffered until the next flush)."""
        if type(event) is StatementEvent:
            self._statement(event)
            return
        self._flush()
        if isinstance(event, DatabaseVersionEvent):
            self._conn.execute(f"PRAGMA user_version = {int(event.version)}")
            self.stats.database_version = event.version
        elif isinstance(event, KeyValueEvent):
            self._store_key_value(event)
        elif isinstance(event, PreferenceEvent):
            self._store_preference(event)
        elif isinstance(event, BlobEvent):
            self._store_blob(event)

    def finish(self) -> ReplayStats:
        """Flush pending rows, create deferred triggers, commit and close."""
        self._flush()
        for sql, plan, params in self._indexes:
            self._create(sql, plan, params)
        self._create_triggers()
        self._rebuild_search_indexes()
        self._conn.execute("COMMIT")
        self._conn.close()
        self._summarize()
        return self.stats

    def abort(self) -> None:
        """Roll back and close; the caller removes the file."""
        with contextlib.suppress(sqlite3.Error):
            self._conn.execute("ROLLBACK")
        self._conn.close()

    # -- statements -------------------------------------------------------------------

    def _statement(self, event: StatementEvent) -> None:
        self.stats.statements += 1
        sql = event.sql
        if sql == self._pending_sql:
            self._pending_rows.append(event.params)
            if len(self._pending_rows) >= self.batch_size:
                self._flush()
            return
        plan = self._plans.get(sql) or self._plans.setdefault(sql, self._plan(sql))
        if plan.kind == "insert" and plan.name not in self._skipped_tables:
            self._flush()
            self._pending_sql, self._pending_table = sql, plan.name
            self._pending_rows = [event.params]
            return
        self._flush()
        if plan.kind == "create":
            self._create(sql, plan, event.params)
        elif plan.kind == "index":
            self._indexes.append((sql, plan, event.params))
        elif plan.kind == "trigger":
            self._triggers.append((plan.name, sql))
        elif plan.kind == "insert":
            self._skip(f"rows of skipped table {plan.name}")
        else:
            self._skip(plan.reason)

    def _plan(self, sql: str) -> _Plan:
        if match := _INSERT.match(sql):
            name = match.group(1)
            if name.lower().startswith(SIDE_TABLE_PREFIX):
                return _Plan("skip", name, reason="rows of reserved astrabot_* tables")
            return _Plan("insert", name)
        if not (match := _CREATE.match(sql)):
            return _Plan("skip", reason="statements other than CREATE/INSERT")
        kind, name = match.group(1).upper(), match.group(2)
        if kind == "TABLE" and name.lower().startswith("sqlite_"):
            return _Plan("skip", name, reason="")
        if name.lower().startswith(SIDE_TABLE_PREFIX):
            return _Plan("skip", name, reason="reserved astrabot_* tables")
        if kind == "TRIGGER":
            return _Plan("trigger", name)
        if kind == "INDEX" and not _UNIQUE_INDEX.match(sql):
            return _Plan("index", name)
        return _Plan("create", name, is_virtual=kind.startswith("VIRTUAL"))

    def _create(self, sql: str, plan: _Plan, params: tuple[SqlValue, ...]) -> None:
        if self._is_fts_shadow(plan.name):
            self._skipped_tables.add(plan.name)
            self._skip("FTS shadow tables (SQLite creates them itself)")
            return
        if plan.is_virtual and "fts5" in sql.lower() and not fts5_available():
            self._skipped_tables.add(plan.name)
            self._skip("FTS5 tables (this SQLite lacks FTS5)")
            return
        try:
            self._conn.execute(sql, params)
        except sqlite3.Error as error:
            if not self._exists(plan.name):
                self._skipped_tables.add(plan.name)
            self.stats.warnings.append(f"could not create {plan.name}: {error}")
            return
        if plan.is_virtual:
            self._virtual_tables.add(plan.name)
            if _EXTERNAL_CONTENT_FTS.search(sql):
                self._search_indexes.append(plan.name)

    def _exists(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE name = ? COLLATE NOCASE"
        return self._conn.execute(query, (name,)).fetchone() is not None

    def _is_fts_shadow(self, name: str) -> bool:
        match = _FTS_SHADOW.match(name)
        return bool(match) and name[: -len(match.group(1)) - 1] in self._virtual_tables

    def _skip(self, reason: str) -> None:
        self.stats.statements_skipped += 1
        if reason:
            self._skip_counts[reason] += 1

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        sql, rows, table = self._pending_sql, self._pending_rows, self._pending_table
        self._pending_sql, self._pending_rows = None, []
        if len(rows) == 1:
            self._insert_one(sql, rows[0], table)
            return
        self._conn.execute("SAVEPOINT astrabot_batch")
        try:
            self._conn.executemany(sql, rows)
        except sqlite3.Error:
            self._conn.execute("ROLLBACK TO astrabot_batch")
            self._conn.execute("RELEASE astrabot_batch")
            for row in rows:
                self._insert_one(sql, row, table)
            return
        self._conn.execute("RELEASE astrabot_batch")
        self.stats.rows_inserted += len(rows)

    def _insert_one(self, sql: str | None, row: tuple[SqlValue, ...], table: str) -> None:
        try:
            self._conn.execute(sql, row)
        except sqlite3.Error as error:
            count, first = self._failures.get(table, (0, str(error)[:120]))
            self._failures[table] = (count + 1, first)
            self.stats.rows_failed += 1
            return
        self.stats.rows_inserted += 1

    def _create_triggers(self) -> None:
        for name, sql in self._triggers:
            mentioned = [t for t in self._skipped_tables if re.search(rf"\b{re.escape(t)}\b", sql)]
            if mentioned:
                self._skip("triggers on skipped tables")
                continue
            try:
                self._conn.execute(sql)
            except sqlite3.Error as error:
                self.stats.warnings.append(f"could not create trigger {name}: {error}")

    def _rebuild_search_indexes(self) -> None:
        """External-content FTS5 indexes are not in the backup: rebuild them from the rows."""
        for name in self._search_indexes:
            quoted = '"' + name.replace('"', '""') + '"'
            try:
                self._conn.execute(f"INSERT INTO {quoted}({quoted}) VALUES ('rebuild')")
            except sqlite3.Error as error:
                self.stats.warnings.append(f"could not rebuild search index {name}: {error}")

    # -- side tables ------------------------------------------------------------------

    def _store_key_value(self, event: KeyValueEvent) -> None:
        value = int(event.value) if isinstance(event.value, bool) else event.value
        self._conn.execute(
            f"INSERT OR REPLACE INTO {KEY_VALUE_TABLE} VALUES (?, ?, ?)",
            (event.key, value, _value_type(event.value)),
        )
        self.stats.key_values += 1

    def _store_preference(self, event: PreferenceEvent) -> None:
        value: SqlValue
        if isinstance(event.value, tuple):
            value, value_type = json.dumps(list(event.value)), "string_set"
        else:
            value_type = _value_type(event.value)
            value = int(event.value) if isinstance(event.value, bool) else event.value
        self._conn.execute(
            f"INSERT OR REPLACE INTO {PREFERENCE_TABLE} VALUES (?, ?, ?, ?)",
            (event.file, event.key, value, value_type),
        )
        self.stats.preferences += 1

    def _store_blob(self, event: BlobEvent) -> None:
        path = None
        if event.path is not None:
            path = event.path.as_posix()
            if self.blob_root is not None and event.path.is_relative_to(self.blob_root):
                path = event.path.relative_to(self.blob_root).as_posix()
        self._conn.execute(
            f"INSERT INTO {BLOB_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
            (event.kind, event.row_id, event.attachment_id, event.name, event.length, path),
        )
        self.stats.blobs += 1

    def _summarize(self) -> None:
        for reason, count in sorted(self._skip_counts.items()):
            self.stats.warnings.append(f"skipped {count} statement(s): {reason}")
        for table, (count, first) in sorted(self._failures.items()):
            self.stats.warnings.append(f"{count} row(s) of {table} not inserted ({first})")


def replay_into_sqlite(
    events: Iterable[FrameEvent], db_path: str | Path, *, blob_root: str | Path | None = None
) -> ReplayStats:
    """Replay `events` into a new SQLite file at `db_path`, committing once at the end."""
    with SqliteReplayer(db_path, blob_root=blob_root) as replayer:
        for event in events:
            replayer.handle(event)
    return replayer.stats
