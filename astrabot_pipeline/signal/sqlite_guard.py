"""Guards for SQLite connections that run or read SQL from an untrusted backup.

A `.backup` file carries SQL statements that we replay, and a plain-SQLite input is a
whole database someone else wrote. Both are hostile until proven otherwise, so every
such connection gets, enforced by SQLite itself rather than by string checks:

- an authorizer (`SqlAuthorizer`) that, while the backup's own SQL runs, allows only what
  Signal's exporter produces (CREATE TABLE / INDEX, FTS5 virtual tables, INSERT) on any
  table except our `astrabot_*` side tables, denies every pragma, ATTACH, recursive or
  plain SELECT, and every SQL function outside a short list of cheap scalar ones;
- hard limits (`apply_limits`): no attached databases, no triggers, bounded SQL, value
  and expression sizes;
- a work budget (`WorkBudget`), counted by a progress handler in SQLite virtual-machine
  steps and proportional to the input's size, which also lets Ctrl-C and SIGTERM stop a
  statement that runs in C (see `astrabot_pipeline.interrupts`);
- a size cap on the database file (`cap_database_size`), also proportional to the input.

Limits and how they were chosen: docs/hostile-input.md.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from astrabot_pipeline import interrupts
from astrabot_pipeline.signal.errors import ResourceLimitError, UnsupportedBackupError
from astrabot_pipeline.signal.tables import SIDE_TABLE_PREFIX

SCHEMA_TABLES = ("sqlite_master", "sqlite_schema", "sqlite_temp_master")

# Cheap, deterministic scalar functions a schema's DEFAULT, CHECK, index or generated-column
# expression may reasonably use. Everything else (randomblob, zeroblob, printf/format with a
# width, replace, json, load_extension, fts3_tokenizer, ...) is denied: none is needed to
# restore a Signal database, and several can allocate gigabytes from a few bytes of SQL.
ALLOWED_FUNCTIONS = frozenset(
    {
        "abs",
        "coalesce",
        "date",
        "datetime",
        "ifnull",
        "instr",
        "julianday",
        "length",
        "like",
        "likely",
        "lower",
        "ltrim",
        "max",
        "min",
        "nullif",
        "round",
        "rtrim",
        "strftime",
        "substr",
        "substring",
        "time",
        "trim",
        "typeof",
        "unixepoch",
        "unlikely",
        "upper",
    }
)
# What a generated column of a database we only read may call (Signal Desktop derives
# some of its columns from the JSON it stores): the list above plus JSON extraction.
READ_FUNCTIONS = ALLOWED_FUNCTIONS | {
    "iif",
    "json",
    "json_array_length",
    "json_extract",
    "json_type",
    "json_valid",
}
_FUNCTION_OPCODES = frozenset({"Function", "PureFunc", "AggStep", "AggFinal", "AggValue"})


def functions_called(connection: Any, sql: str) -> set[str]:
    """The SQL functions SQLite would run for `sql`, from its own compiled program
    (EXPLAIN): this sees the expressions the authorizer never does (column defaults,
    generated columns). Run it where the authorizer trusts the caller."""
    return {
        str(row[5]).split("(", 1)[0].lower()
        for row in connection.execute(f"EXPLAIN {sql}")
        if row[1] in _FUNCTION_OPCODES and row[5] is not None
    }


# Virtual-table modules a Signal database uses (its message search index).
ALLOWED_VIRTUAL_TABLE_MODULES = frozenset({"fts5"})

READ_ONLY_PRAGMAS = frozenset({"data_version"})
# Actions that only name a table (arg1) and are fine on any table that is not ours.
_TABLE_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}
_ALWAYS_DENIED = {sqlite3.SQLITE_ATTACH, sqlite3.SQLITE_DETACH}


def is_reserved(name: str | None) -> bool:
    """Whether `name` is one of our own side tables (any spelling or case)."""
    return name is not None and name.lower().startswith(SIDE_TABLE_PREFIX)


class SqlAuthorizer:
    """SQLite authorizer with two modes: `trusted` (our own statements) and untrusted.

    Untrusted is the default: switch to trusted only around statements this code wrote,
    with `with authorizer.trusted():`. Functions are checked in both modes: the expressions
    a statement evaluates may come from the backup's schema (defaults, generated columns).
    """

    def __init__(self, *, read_only: bool = False) -> None:
        self.read_only = read_only
        self._trusted = False
        self._module_setup = False

    def trusted(self) -> _TrustedBlock:
        return _TrustedBlock(self)

    @contextmanager
    def virtual_table_setup(self) -> Iterator[None]:
        """Around an allowed CREATE VIRTUAL TABLE: the FTS5 module's own set-up SELECTs its
        configuration, so plain SELECT is allowed (still no recursion, only listed functions)."""
        self._module_setup = True
        try:
            yield
        finally:
            self._module_setup = False

    def __call__(
        self,
        action: int,
        arg1: str | None,
        arg2: str | None,
        database: str | None,
        _trigger: str | None,
    ) -> int:
        if action in _ALWAYS_DENIED:
            allowed = False
        elif action == sqlite3.SQLITE_FUNCTION:
            # Even our own statements: the functions that run may come from the schema.
            allowed = (arg2 or "").lower() in ALLOWED_FUNCTIONS
        else:
            allowed = self._trusted or self._untrusted_allows(action, arg1, arg2, database)
        return sqlite3.SQLITE_OK if allowed else sqlite3.SQLITE_DENY

    def _untrusted_allows(
        self, action: int, arg1: str | None, arg2: str | None, database: str | None
    ) -> bool:
        if database not in (None, "main"):
            return False  # temp schema, attached databases
        if self.read_only:
            # Reading: our own SELECTs; what stays untrusted are the expressions the
            # database's schema embeds (generated columns), hence the function list.
            return action in (sqlite3.SQLITE_READ, sqlite3.SQLITE_SELECT)
        if action == sqlite3.SQLITE_READ:  # CREATE INDEX and FTS5 read the backup's tables
            return not is_reserved(arg1)
        if action == sqlite3.SQLITE_SELECT:
            return self._module_setup
        if action in _TABLE_WRITES:
            # Writes to the schema table are SQLite's own bookkeeping of an allowed CREATE;
            # direct writes to it are refused by SQLite itself.
            return arg1 in SCHEMA_TABLES or not is_reserved(arg1)
        if action == sqlite3.SQLITE_CREATE_TABLE:
            return not is_reserved(arg1)
        if action == sqlite3.SQLITE_CREATE_INDEX:
            return not is_reserved(arg1) and not is_reserved(arg2)
        if action == sqlite3.SQLITE_REINDEX:  # part of CREATE INDEX
            return not is_reserved(arg1)
        if action == sqlite3.SQLITE_PRAGMA:
            # FTS5 reads this counter while it builds its tables; no other pragma is needed.
            return (arg1 or "").lower() in READ_ONLY_PRAGMAS and arg2 is None
        if action == sqlite3.SQLITE_CREATE_VTABLE:
            return not is_reserved(arg1) and (arg2 or "").lower() in ALLOWED_VIRTUAL_TABLE_MODULES
        # Other pragmas, SELECT, RECURSIVE, TRANSACTION, SAVEPOINT, ALTER, DROP, views, triggers,
        # temp objects, ANALYZE: none is part of restoring a Signal database.
        return False


class _TrustedBlock:
    def __init__(self, authorizer: SqlAuthorizer) -> None:
        self._authorizer = authorizer
        self._previous = False

    def __enter__(self) -> None:
        self._previous = self._authorizer._trusted
        self._authorizer._trusted = True

    def __exit__(self, *_: object) -> None:
        self._authorizer._trusted = self._previous


# SQLite's own limits, lowered to what a Signal database needs (its widest table has
# about 100 columns, its longest CREATE statement a few kB, values up to a long message).
LIMITS = {
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_TRIGGER_DEPTH: 1,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 1 << 20,
    sqlite3.SQLITE_LIMIT_LENGTH: 128 << 20,  # above the reader's 110 MiB frame cap
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 200,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 4,
    sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER: 2_000,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 16,
    sqlite3.SQLITE_LIMIT_WORKER_THREADS: 0,
}


def apply_limits(connection: sqlite3.Connection) -> None:
    for category, value in LIMITS.items():
        connection.setlimit(category, value)


# Work budget, in SQLite virtual-machine steps (counted every PROGRESS_EVERY_STEPS).
# Measured (docs/hostile-input.md): replaying and normalizing the generated demo backups
# (2k-100k messages) and a 100k-message backup with three extra indexes and an FTS5 search
# index takes 0.2-0.5 steps per input byte. The budget allows 100x that, plus a floor of
# about a second of SQLite work for small files with large schemas. Work SQLite does in C
# outside the VM (sorting for an index, FTS5 tokenizing) is bounded by the size cap below.
STEPS_PER_INPUT_BYTE = 50
STEPS_FLOOR = 200_000_000
# SQLite counts steps per statement, so a statement shorter than this is never counted:
# at most this many uncounted steps per frame of the backup, linear in its size. It is
# also ~0.1 ms of work, so Ctrl-C is seen well within a second.
PROGRESS_EVERY_STEPS = 10_000


@dataclass
class WorkBudget:
    """Counts SQLite VM steps through a progress handler; stops a statement over budget
    or when Ctrl-C/SIGTERM arrived. Call `check(error)` on any sqlite3.Error."""

    limit_steps: int
    what: str = "the backup"
    steps: int = 0
    exceeded: bool = False

    @classmethod
    def for_input(cls, input_bytes: int, what: str = "the backup") -> WorkBudget:
        return cls(STEPS_FLOOR + STEPS_PER_INPUT_BYTE * max(input_bytes, 0), what)

    def install(self, connection: sqlite3.Connection) -> None:
        connection.set_progress_handler(self._tick, PROGRESS_EVERY_STEPS)

    def _tick(self) -> int:
        self.steps += PROGRESS_EVERY_STEPS
        if interrupts.pending():
            return 1
        if self.steps > self.limit_steps:
            self.exceeded = True
            return 1
        return 0

    def check(self, error: Exception) -> None:
        """Turn a statement the handler aborted into the interruption or limit it stands for.

        Returns normally when `error` is an ordinary SQLite error.
        """
        # By name: sqlcipher3 raises its own OperationalError class.
        if not (type(error).__name__ == "OperationalError" and str(error) == "interrupted"):
            return
        interrupts.raise_if_pending()
        if self.exceeded:
            raise ResourceLimitError(
                f"{self.what} asks SQLite for more than {self.limit_steps:,} steps of work, "
                "far beyond what restoring a real Signal database takes; it is corrupt or "
                "crafted to hang the decoder - decoding stopped"
            ) from None
        # The sqlite3 module swallows an exception raised inside the progress handler and
        # reports "interrupted": only an asynchronous KeyboardInterrupt can get there.
        raise KeyboardInterrupt


# Database size cap: a restored database holds the backup's rows plus their indexes and
# search index. Measured: 0.5x the backup's bytes for the demo backups, 2.4x for a
# message-heavy backup with three extra indexes and an FTS5 index; the cap allows 8x.
DB_BYTES_PER_INPUT_BYTE = 8
DB_BYTES_FLOOR = 64 << 20


def cap_database_size(connection: sqlite3.Connection, input_bytes: int) -> int:
    """Set `max_page_count` so the database cannot outgrow the input; return the cap in bytes."""
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    cap = DB_BYTES_FLOOR + DB_BYTES_PER_INPUT_BYTE * max(input_bytes, 0)
    pages = math.ceil(cap / page_size)
    connection.execute(f"PRAGMA max_page_count = {int(pages)}")
    return pages * page_size


def quote_identifier(name: str) -> str:
    """`name` as an SQL identifier whatever it contains: double quotes, inner ones doubled."""
    return '"' + name.replace('"', '""') + '"'


class ReadGuard:
    """The authorizer, limits and budget of a connection that reads an untrusted database.

    Works for `sqlite3` and DB-API twins such as `sqlcipher3` (pass its `Error` class).
    """

    def __init__(
        self,
        connection: Any,
        database_bytes: int,
        what: str = "the database",
        *,
        database_error: type[Exception] = sqlite3.Error,
    ) -> None:
        self.authorizer = SqlAuthorizer(read_only=True)
        self.database_error = database_error
        self.skipped_columns: list[str] = []
        connection.set_authorizer(self.authorizer)
        if hasattr(connection, "setlimit"):
            apply_limits(connection)
        self.budget = WorkBudget.for_input(database_bytes, what)
        self.budget.install(connection)

    def readable_columns(self, connection: Any, table: str) -> list[str]:
        """The columns of `table` that are safe to SELECT, in table order.

        SQLite runs a generated column's expression whenever the column is read, and never
        asks the authorizer about the functions it calls: so a table's generated columns
        are readable only when SQLite's compiled program for reading them calls nothing
        outside `READ_FUNCTIONS`. The others are left out and listed in `skipped_columns`.
        """
        quoted = quote_identifier(table)
        with self.reading(f"the columns of table {table}", trusted=True):
            info = connection.execute(f"PRAGMA table_xinfo({quoted})").fetchall()
            columns = [(row[1], row[6]) for row in info if isinstance(row[1], str)]
            generated = [name for name, hidden in columns if hidden in (2, 3)]
            called = (
                functions_called(
                    connection,
                    f"SELECT {', '.join(map(quote_identifier, generated))} FROM {quoted}",
                )
                if generated
                else set()
            )
        if not called <= READ_FUNCTIONS:
            self.skipped_columns.extend(f"{table}.{name}" for name in generated)
            return [name for name, hidden in columns if hidden not in (2, 3)]
        return [name for name, hidden in columns if hidden != 1]  # 1: hidden (virtual tables)

    @contextmanager
    def reading(self, what: str, *, trusted: bool = False) -> Iterator[None]:
        """Turn a failed read of `what` into a typed error (never SQLite's raw traceback);
        `trusted` for our own pragmas."""
        try:
            if trusted:
                with self.authorizer.trusted():
                    yield
            else:
                yield
        except self.database_error as error:
            self.budget.check(error)
            reason = getattr(error, "sqlite_errorname", None) or str(error)[:80]
            raise UnsupportedBackupError(
                f"{what} could not be read ({reason}); the file is damaged or not a Signal database"
            ) from None


__all__ = [
    "ALLOWED_FUNCTIONS",
    "ReadGuard",
    "SqlAuthorizer",
    "WorkBudget",
    "READ_FUNCTIONS",
    "apply_limits",
    "functions_called",
    "cap_database_size",
    "is_reserved",
    "quote_identifier",
]
