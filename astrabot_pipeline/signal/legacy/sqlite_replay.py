"""Replay backup frame events into a SQLite file, in one transaction.

The backup's SQL is untrusted. Only the statement shapes Signal's exporter writes run
(`CREATE TABLE`, `CREATE [UNIQUE] INDEX`, `CREATE VIRTUAL TABLE … USING fts5`, and
`INSERT INTO t [(columns)] VALUES (?, …)`); anything else, triggers and views included,
is skipped and counted. What does run is held by `sqlite_guard`: an authorizer that keeps
it off our `astrabot_*` side tables and away from pragmas, ATTACH, SELECT and all but a
few cheap functions, SQLite limits, a work budget and a database-size cap proportional
to the input. INSERTs are batched with executemany; non-UNIQUE indexes are built after
the data in one pass (they cannot make an INSERT fail, so the rows kept are the same).
Key-values, preferences and where each blob went are stored in the side tables, and
`PRAGMA user_version` is set from the DatabaseVersion frame.
"""

from __future__ import annotations

import contextlib
import json
import re
import sqlite3
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from astrabot_pipeline.signal.errors import (
    OutputWriteError,
    ResourceLimitError,
    UnsupportedBackupError,
)
from astrabot_pipeline.signal.legacy.events import (
    BlobEvent,
    DatabaseVersionEvent,
    FrameEvent,
    KeyValueEvent,
    PreferenceEvent,
    SqlValue,
    StatementEvent,
)
from astrabot_pipeline.signal.output_dir import file_size_limited, free_bytes, translate_os_error
from astrabot_pipeline.signal.sqlite_guard import (
    ALLOWED_FUNCTIONS,
    ALLOWED_VIRTUAL_TABLE_MODULES,
    SqlAuthorizer,
    WorkBudget,
    apply_limits,
    cap_database_size,
    functions_called,
    is_reserved,
    quote_identifier,
)
from astrabot_pipeline.signal.tables import (
    BLOB_TABLE,
    KEY_VALUE_TABLE,
    PREFERENCE_TABLE,
    SIDE_TABLES,
)

DEFAULT_BATCH_SIZE = 2_000

# -- the statement shapes Signal's exporter writes ---------------------------------------
# An identifier, bare or quoted in any of SQLite's three ways, optionally schema-qualified
# (the authorizer, not this pattern, decides which schema and table may be written).
_IDENTIFIER = r"""(?:"(?:[^"]|"")+"|`(?:[^`]|``)+`|\[[^\]]+\]|[A-Za-z_][A-Za-z0-9_$]*)"""
_TABLE = rf"(?:{_IDENTIFIER}\s*\.\s*)?({_IDENTIFIER})"
_IF_NOT_EXISTS = r"(?:IF\s+NOT\s+EXISTS\s+)?"
_CREATE_TABLE = re.compile(rf"\s*CREATE\s+TABLE\s+{_IF_NOT_EXISTS}{_TABLE}\s*\(", re.IGNORECASE)
_CREATE_VIRTUAL = re.compile(
    rf"\s*CREATE\s+VIRTUAL\s+TABLE\s+{_IF_NOT_EXISTS}{_TABLE}\s+USING\s+(\w+)\s*\(",
    re.IGNORECASE,
)
_CREATE_INDEX = re.compile(
    rf"\s*CREATE\s+(UNIQUE\s+)?INDEX\s+{_IF_NOT_EXISTS}{_TABLE}\s+ON\s+{_TABLE}\s*\(",
    re.IGNORECASE,
)
_CREATE_TRIGGER_OR_VIEW = re.compile(
    r"\s*CREATE\s+(?:TEMP(?:ORARY)?\s+)?(?:TRIGGER|VIEW)\b", re.IGNORECASE
)
# INSERT with only positional placeholders: no SELECT, no expressions, no OR ROLLBACK.
_INSERT = re.compile(
    rf"\s*INSERT\s+(?:OR\s+(?:REPLACE|IGNORE|ABORT|FAIL)\s+)?INTO\s+{_TABLE}\s*"
    r"(?:\(\s*[^()]*\)\s*)?VALUES\s*\(\s*\?(?:\s*,\s*\?)*\s*\)\s*;?\s*\Z",
    re.IGNORECASE,
)
# A conflict clause that would roll back the whole restore transaction.
_ROLLBACK_CONFLICT = re.compile(r"\bON\s+CONFLICT\s+ROLLBACK\b", re.IGNORECASE)
_FTS_SHADOW = re.compile(r".+_(data|idx|content|docsize|config)$", re.IGNORECASE)
_EXTERNAL_CONTENT_FTS = re.compile(r"USING\s+fts5\s*\(.*\bcontent\s*=", re.IGNORECASE | re.DOTALL)
_SQLITE_FULL, _SQLITE_IOERR = 13, 10
DISK_FULL_MARGIN = 64 << 20  # less free space than this, and SQLITE_FULL means the disk


def unquote_identifier(token: str) -> str:
    """The name an identifier token stands for (`"a""b"` -> `a"b`, `[x]` -> `x`)."""
    if token[:1] == '"' and token[-1:] == '"':
        return token[1:-1].replace('""', '"')
    if token[:1] == "`" and token[-1:] == "`":
        return token[1:-1].replace("``", "`")
    if token[:1] == "[" and token[-1:] == "]":
        return token[1:-1]
    return token


def inserted_table(sql: str) -> str | None:
    """The table an exporter-shaped INSERT writes to, or None for any other statement."""
    match = _INSERT.match(sql)
    return unquote_identifier(match.group(1)) if match else None


@cache
def fts5_available() -> bool:
    """Whether this Python's SQLite can create FTS5 virtual tables."""
    try:
        sqlite3.connect(":memory:").execute("CREATE VIRTUAL TABLE probe USING fts5(body)")
    except sqlite3.Error:
        return False
    return True


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
    statements_refused: int = 0
    key_values: int = 0
    preferences: int = 0
    blobs: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Plan:
    """How to run one distinct SQL text: `kind` is insert, create, index or skip."""

    kind: str
    name: str = ""
    is_virtual: bool = False
    reason: str = ""
    is_table: bool = False


def _plan(sql: str) -> _Plan:
    """Classify one statement of the backup by its shape (see the module docstring)."""
    if "\x00" in sql:
        return _Plan("skip", reason="statements with a NUL character")
    if match := _INSERT.match(sql):
        name = unquote_identifier(match.group(1))
        if is_reserved(name):
            return _Plan("skip", name, reason="rows of reserved astrabot_* tables")
        return _Plan("insert", name)
    if _CREATE_TRIGGER_OR_VIEW.match(sql):
        return _Plan("skip", reason="triggers and views (never kept: no backup SQL runs later)")
    if _ROLLBACK_CONFLICT.search(sql):
        return _Plan("skip", reason="tables with ON CONFLICT ROLLBACK")
    if match := _CREATE_INDEX.match(sql):
        name, table = unquote_identifier(match.group(2)), unquote_identifier(match.group(3))
        if is_reserved(name) or is_reserved(table):
            return _Plan("skip", name, reason="indexes on reserved astrabot_* tables")
        return _Plan("create" if match.group(1) else "index", name)
    if match := _CREATE_VIRTUAL.match(sql):
        name, module = unquote_identifier(match.group(1)), match.group(2).lower()
        if module not in ALLOWED_VIRTUAL_TABLE_MODULES:
            return _Plan("skip", name, reason="virtual tables other than FTS5")
        return _Plan("create", name, is_virtual=True)
    if match := _CREATE_TABLE.match(sql):
        name = unquote_identifier(match.group(1))
        if name.lower().startswith("sqlite_"):
            return _Plan("skip", name, reason="")
        if is_reserved(name):
            return _Plan("skip", name, reason="reserved astrabot_* tables")
        return _Plan("create", name, is_table=True)
    return _Plan("skip", reason="statements other than Signal's CREATE/INSERT shapes")


class SqliteReplayer:
    """Apply frame events to a new SQLite database; use as a context manager.

    `input_bytes` (the backup's size) scales the work budget and the database-size cap.
    """

    def __init__(
        self,
        db_path: str | Path,
        *,
        blob_root: str | Path | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        input_bytes: int = 0,
    ) -> None:
        self.db_path = Path(db_path)
        if self.db_path.exists():
            raise FileExistsError(f"{self.db_path} already exists; replay needs a new file")
        self.blob_root = Path(blob_root) if blob_root is not None else None
        self.batch_size = batch_size
        self.stats = ReplayStats()
        self.blob_paths: dict[str, dict[int, str]] = {}
        """Where this replay's own reader wrote each blob: kind -> row id -> relative path."""
        self._conn = sqlite3.connect(self.db_path, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=MEMORY")
        self._conn.execute("PRAGMA synchronous=OFF")
        self.max_bytes = cap_database_size(self._conn, input_bytes)
        apply_limits(self._conn)
        self._authorizer = SqlAuthorizer()
        self._conn.set_authorizer(self._authorizer)
        self._budget = WorkBudget.for_input(input_bytes)
        self._budget.install(self._conn)
        with self._ours():
            self._conn.execute("BEGIN")
            for ddl in SIDE_TABLES:
                self._conn.execute(ddl)
        self._plans: dict[str, _Plan] = {}
        self._skipped_tables: set[str] = set()
        self._virtual_tables: set[str] = set()
        self._search_indexes: list[str] = []
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

    @contextlib.contextmanager
    def _ours(self) -> Iterator[None]:
        """Run statements this module wrote (trusted), turning aborts into typed errors."""
        with self._authorizer.trusted(), self._checked():
            yield

    @contextlib.contextmanager
    def _checked(self) -> Iterator[None]:
        """Let only ordinary SQLite errors through; interruptions, the work budget, a full
        database or disk, and a lost transaction become what they stand for."""
        try:
            yield
        except sqlite3.Error as error:
            self._raise_if_fatal(error)
            raise

    def _raise_if_fatal(self, error: sqlite3.Error) -> None:
        self._budget.check(error)
        primary = (getattr(error, "sqlite_errorcode", None) or 0) & 0xFF
        if primary in (_SQLITE_FULL, _SQLITE_IOERR):
            # SQLite rolls the transaction back on SQLITE_FULL, so the file's size no longer
            # tells which limit was hit: the disk's free space and the process's file-size
            # limit do.
            free = free_bytes(self.db_path.parent)
            if (
                primary == _SQLITE_FULL
                and not file_size_limited()
                and (free is None or free > DISK_FULL_MARGIN)
            ):
                raise ResourceLimitError(
                    f"the restored database would grow past {self.max_bytes:,} bytes, far "
                    "more than this backup's rows can fill; it is corrupt or crafted to fill "
                    "the disk - decoding stopped"
                ) from None
            typed = translate_os_error(error, output=self.db_path.parent)
            raise typed or OutputWriteError(
                f"writing the decoded database failed ({error.sqlite_errorname})"
            ) from None
        if not self._conn.in_transaction:
            raise UnsupportedBackupError(
                "a statement of the backup ended the restore transaction; the backup is "
                "corrupt or crafted - decoding stopped"
            ) from None

    # -- events -----------------------------------------------------------------------

    def handle(self, event: FrameEvent) -> None:
        """Apply one event (statements may be buffered until the next flush)."""
        if type(event) is StatementEvent:
            self._statement(event)
            return
        self._flush()
        if isinstance(event, DatabaseVersionEvent):
            with self._ours():
                self._conn.execute(f"PRAGMA user_version = {int(event.version)}")
            self.stats.database_version = event.version
        elif isinstance(event, KeyValueEvent):
            self._store_key_value(event)
        elif isinstance(event, PreferenceEvent):
            self._store_preference(event)
        elif isinstance(event, BlobEvent):
            self._store_blob(event)

    def finish(self) -> ReplayStats:
        """Flush pending rows, build deferred indexes and search indexes, commit and close."""
        self._flush()
        for sql, plan, params in self._indexes:
            self._create(sql, plan, params)
        self._rebuild_search_indexes()
        with self._ours():
            self._conn.execute("COMMIT")
        self._conn.close()
        self._summarize()
        return self.stats

    def abort(self) -> None:
        """Roll back and close; the caller removes the file."""
        with contextlib.suppress(sqlite3.Error), self._authorizer.trusted():
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
        plan = self._plans.get(sql) or self._plans.setdefault(sql, _plan(sql))
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
        elif plan.kind == "insert":
            self._skip(f"rows of skipped table {plan.name}")
        else:
            self._skip(plan.reason)

    def _create(self, sql: str, plan: _Plan, params: tuple[SqlValue, ...]) -> None:
        if self._is_fts_shadow(plan.name):
            self._skipped_tables.add(plan.name)
            self._skip("FTS shadow tables (SQLite creates them itself)")
            return
        if plan.is_virtual and not fts5_available():
            self._skipped_tables.add(plan.name)
            self._skip("FTS5 tables (this SQLite lacks FTS5)")
            return
        setup = self._authorizer.virtual_table_setup if plan.is_virtual else contextlib.nullcontext
        try:
            with self._checked(), setup():
                self._conn.execute(sql, params)
        except sqlite3.Error as error:
            if not self._exists(plan.name):
                self._skipped_tables.add(plan.name)
            self._record_refusal(error)
            self.stats.warnings.append(f"could not create {plan.name}: {_reason(error)}")
            return
        if plan.is_table and not self._defaults_are_safe(plan.name):
            with self._ours():
                self._conn.execute(f"DROP TABLE {quote_identifier(plan.name)}")
            self._skipped_tables.add(plan.name)
            self.stats.statements_refused += 1
            self._skip("tables whose column defaults call functions")
            return
        if plan.is_virtual:
            self._virtual_tables.add(plan.name)
            if _EXTERNAL_CONTENT_FTS.search(sql):
                self._search_indexes.append(plan.name)

    def _defaults_are_safe(self, table: str) -> bool:
        """SQLite's authorizer never sees a column's DEFAULT expression (it runs on each
        INSERT), so the functions an INSERT of all defaults would call are read from its
        compiled program and checked against the same short list."""
        try:
            with self._ours():
                called = functions_called(
                    self._conn, f"INSERT INTO {quote_identifier(table)} DEFAULT VALUES"
                )
        except sqlite3.Error:
            return False  # a table no INSERT compiles for holds no rows worth keeping
        return called <= ALLOWED_FUNCTIONS

    def _record_refusal(self, error: sqlite3.Error) -> None:
        if getattr(error, "sqlite_errorcode", None) == sqlite3.SQLITE_AUTH:
            self.stats.statements_refused += 1

    def _exists(self, name: str) -> bool:
        query = "SELECT 1 FROM sqlite_master WHERE name = ? COLLATE NOCASE"
        with self._ours():
            return self._conn.execute(query, (name,)).fetchone() is not None

    def _is_fts_shadow(self, name: str) -> bool:
        match = _FTS_SHADOW.match(name)
        return match is not None and name[: -len(match.group(1)) - 1] in self._virtual_tables

    def _skip(self, reason: str) -> None:
        self.stats.statements_skipped += 1
        if reason:
            self._skip_counts[reason] += 1

    def _flush(self) -> None:
        if not self._pending_rows:
            return
        sql, rows, table = self._pending_sql, self._pending_rows, self._pending_table
        assert sql is not None  # rows are pending only under the statement that made them
        self._pending_sql, self._pending_rows = None, []
        if len(rows) == 1:
            self._insert_one(sql, rows[0], table)
            return
        with self._ours():
            self._conn.execute("SAVEPOINT astrabot_batch")
        try:
            with self._checked():
                self._conn.executemany(sql, rows)
        except sqlite3.Error:
            with self._ours():
                self._conn.execute("ROLLBACK TO astrabot_batch")
                self._conn.execute("RELEASE astrabot_batch")
            for row in rows:
                self._insert_one(sql, row, table)
            return
        with self._ours():
            self._conn.execute("RELEASE astrabot_batch")
        self.stats.rows_inserted += len(rows)

    def _insert_one(self, sql: str, row: tuple[SqlValue, ...], table: str) -> None:
        try:
            with self._checked():
                self._conn.execute(sql, row)
        except sqlite3.Error as error:
            self._record_refusal(error)
            count, first = self._failures.get(table, (0, _reason(error)))
            self._failures[table] = (count + 1, first)
            self.stats.rows_failed += 1
            return
        self.stats.rows_inserted += 1

    def _rebuild_search_indexes(self) -> None:
        """External-content FTS5 indexes are not in the backup: rebuild them from the rows."""
        for name in self._search_indexes:
            quoted = quote_identifier(name)
            try:
                with self._ours():
                    self._conn.execute(f"INSERT INTO {quoted}({quoted}) VALUES ('rebuild')")
            except sqlite3.Error as error:
                self.stats.warnings.append(
                    f"could not rebuild search index {name}: {_reason(error)}"
                )

    # -- side tables ------------------------------------------------------------------

    def _store_key_value(self, event: KeyValueEvent) -> None:
        value = int(event.value) if isinstance(event.value, bool) else event.value
        with self._ours():
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
        with self._ours():
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
            if event.row_id is not None:
                self.blob_paths.setdefault(event.kind, {})[event.row_id] = path
        with self._ours():
            self._conn.execute(
                f"INSERT INTO {BLOB_TABLE} VALUES (?, ?, ?, ?, ?, ?)",
                (event.kind, event.row_id, event.attachment_id, event.name, event.length, path),
            )
        self.stats.blobs += 1

    def _summarize(self) -> None:
        for reason, count in sorted(self._skip_counts.items()):
            self.stats.warnings.append(f"skipped {count} statement(s): {reason}")
        if self.stats.statements_refused:
            self.stats.warnings.append(
                f"refused {self.stats.statements_refused} statement(s) that tried what a "
                "Signal backup never does (our side tables, pragmas, functions, ...)"
            )
        for table, (count, first) in sorted(self._failures.items()):
            self.stats.warnings.append(f"{count} row(s) of {table} not inserted ({first})")


def _reason(error: sqlite3.Error) -> str:
    """SQLite's own message, cut short: it names tables or columns, never row values."""
    return str(error)[:120]


def replay_into_sqlite(
    events: Iterable[FrameEvent],
    db_path: str | Path,
    *,
    blob_root: str | Path | None = None,
    input_bytes: int = 0,
) -> ReplayStats:
    """Replay `events` into a new SQLite file at `db_path`, committing once at the end."""
    with SqliteReplayer(db_path, blob_root=blob_root, input_bytes=input_bytes) as replayer:
        for event in events:
            replayer.handle(event)
    return replayer.stats
