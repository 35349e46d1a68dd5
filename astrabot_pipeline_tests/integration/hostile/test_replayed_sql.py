"""Hostile legacy backups: the SQL they carry, the blobs they name, the bytes they append.

Every backup here is built with the project's own encoder, the way an attacker would
craft one. Each test checks the outcome a user needs: no file outside the output is
read, the work stays bounded, and the result is either correct or a typed BackupError.
"""

from __future__ import annotations

import os
import secrets
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrabot_pipeline import interrupts
from astrabot_pipeline.signal import BackupError, SignalProcessor, read_tables, sqlite_guard
from astrabot_pipeline.signal.errors import ResourceLimitError
from astrabot_pipeline.signal.legacy.crypto import KeyRing
from astrabot_pipeline.signal.legacy.encoder import BackupWriter
from astrabot_pipeline.signal.legacy.events import StatementEvent
from astrabot_pipeline.signal.legacy.inspect import inspect_backup
from astrabot_pipeline.signal.legacy.sqlite_replay import SqliteReplayer, inserted_table

KEYS = KeyRing("13579 24680 13579 24680 13579 24680")
# One header salt for every backup here: KEYS then runs Signal's 250,000-round KDF (about
# 0.3 s) once for the module instead of once per backup; the salt plays no part in what
# a hostile backup's SQL, blobs or appended bytes can do.
SALT = bytes(range(32))
T0 = 1_700_000_000_000
INCOMING, OUTGOING = 10485780, 10485783
LONG_TEXT_TYPE = "text/x-signal-plain"
SCHEMA = (
    "CREATE TABLE recipient (_id INTEGER PRIMARY KEY, type INTEGER DEFAULT 0, e164 TEXT, "
    "aci TEXT, profile_given_name TEXT)",
    "CREATE TABLE thread (_id INTEGER PRIMARY KEY, recipient_id INTEGER)",
    "CREATE TABLE message (_id INTEGER PRIMARY KEY, date_sent INTEGER, date_received INTEGER, "
    "thread_id INTEGER, from_recipient_id INTEGER, to_recipient_id INTEGER, type INTEGER, "
    "body TEXT)",
    "CREATE TABLE attachment (_id INTEGER PRIMARY KEY, message_id INTEGER, content_type TEXT, "
    "data_size INTEGER, file_name TEXT)",
)
ROWS = (
    ("INSERT INTO recipient VALUES (?,?,?,?,?)", (1, 0, "+15550000001", "aci-self", "Me")),
    ("INSERT INTO recipient VALUES (?,?,?,?,?)", (2, 0, "+15550000002", "aci-bob", "Bob")),
    ("INSERT INTO thread VALUES (?,?)", (1, 2)),
    (
        "INSERT INTO message VALUES (?,?,?,?,?,?,?,?)",
        (1, T0, T0 + 5, 1, 2, 1, INCOMING, "short body of a long message"),
    ),
    ("INSERT INTO message VALUES (?,?,?,?,?,?,?,?)", (2, T0 + 9, T0 + 9, 1, 1, 2, OUTGOING, "hi")),
    ("INSERT INTO attachment VALUES (?,?,?,?,?)", (7, 1, LONG_TEXT_TYPE, 40, None)),
)

Crafting = Callable[[BackupWriter], None]


def write_backup(path: Path, craft: Crafting = lambda _: None, *, end: bool = True) -> Path:
    """A small valid Signal backup (DB 230, two people, one thread) with `craft` inserted
    after its rows and before its key-values."""
    with BackupWriter(path, KEYS, salt=SALT) as writer:
        writer.write_database_version(230)
        for sql in SCHEMA:
            writer.write_statement(sql)
        for sql, params in ROWS:
            writer.write_statement(sql, params)
        craft(writer)
        writer.write_key_value("account.aci", "aci-self")
        if end:
            writer.end()
    return path


@pytest.fixture
def planted(tmp_path: Path) -> tuple[Path, bytes]:
    """A file outside every output, holding a token that must never reach an output."""
    token = secrets.token_hex(16).encode()
    marker = tmp_path / "private" / "outside-secret.txt"
    marker.parent.mkdir()
    marker.write_bytes(b"TOKEN " + token + b"\n")
    return marker, token


def files_under(root: Path) -> Iterator[Path]:
    return (path for path in root.rglob("*") if path.is_file())


def assert_token_absent(root: Path, token: bytes) -> None:
    for path in files_under(root):
        assert token not in path.read_bytes(), f"{path.relative_to(root)} holds the token"


def decode(backup: Path, out: Path, **options: object):
    return SignalProcessor(KEYS, **options).decode(backup, out)


# -- 1. the replayer's own tables and the files they name -------------------------------------

SIDE_TABLE_SPELLINGS = (
    "main.astrabot_blob",
    'main."astrabot_blob"',
    '"ASTRABOT_BLOB"',
    "[astrabot_blob]",
    "`Astrabot_Blob`",
    "main . astrabot_blob",
)


@pytest.mark.parametrize("spelling", SIDE_TABLE_SPELLINGS)
def test_rows_smuggled_into_the_blob_table_never_make_a_local_file_a_message(
    tmp_path: Path, planted: tuple[Path, bytes], spelling: str
) -> None:
    marker, token = planted

    def craft(writer: BackupWriter) -> None:
        for path in (str(marker), f"../private/{marker.name}", f"../../{marker.name}"):
            writer.write_statement(
                f"INSERT INTO {spelling} VALUES (?,?,?,?,?,?)",
                ("attachment", 7, None, None, 40, path),
            )

    result = decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    assert_token_absent(tmp_path / "out", token)
    messages = read_tables(result.out_dir)["messages"]
    assert "short body of a long message" in messages["body"].tolist()
    with sqlite3.connect(result.db_path) as db:
        assert db.execute("SELECT count(*) FROM astrabot_blob").fetchone() == (0,)


def test_the_owner_cannot_be_switched_through_the_key_value_table(tmp_path: Path) -> None:
    def craft(writer: BackupWriter) -> None:
        for spelling in ("main.astrabot_key_value", '"astrabot_key_value"'):
            writer.write_statement(
                f"INSERT OR REPLACE INTO {spelling} VALUES (?,?,?)",
                ("account.aci", "aci-bob", "string"),
            )
        writer.write_statement(
            "CREATE TRIGGER t AFTER INSERT ON astrabot_key_value BEGIN "
            "UPDATE astrabot_key_value SET value = 'aci-bob'; END"
        )

    result = decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    recipients = read_tables(result.out_dir)["recipients"].set_index("recipient_id")
    assert recipients["is_self"].to_dict() == {1: True, 2: False}
    assert any("statement" in warning for warning in result.warnings)


def test_a_plain_database_cannot_point_the_decoder_at_local_files(
    tmp_path: Path, planted: tuple[Path, bytes]
) -> None:
    marker, token = planted
    db_path = tmp_path / "input" / "signal.sqlite"
    db_path.parent.mkdir()
    with sqlite3.connect(db_path) as db:
        for sql in SCHEMA:
            db.execute(sql)
        for sql, params in ROWS:
            db.execute(sql, params)
        db.execute(
            "CREATE TABLE astrabot_blob (kind TEXT, row_id INTEGER, attachment_id INTEGER, "
            "name TEXT, length INTEGER, path TEXT)"
        )
        db.execute(
            "INSERT INTO astrabot_blob VALUES ('attachment', 7, NULL, NULL, 40, ?)", (str(marker),)
        )
    result = SignalProcessor().decode(db_path, tmp_path / "out")
    assert_token_absent(tmp_path / "out", token)
    assert read_tables(result.out_dir)["attachments"]["path"].isna().all()
    assert any("not read" in warning for warning in result.warnings)


def test_triggers_and_views_of_the_backup_are_not_kept(tmp_path: Path) -> None:
    def craft(writer: BackupWriter) -> None:
        writer.write_statement(
            "CREATE TRIGGER spy AFTER INSERT ON message BEGIN DELETE FROM recipient; END"
        )
        writer.write_statement("CREATE VIEW everyone AS SELECT * FROM recipient")
        writer.write_statement("CREATE TEMP VIEW t AS SELECT 1")

    result = decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    with sqlite3.connect(result.db_path) as db:
        kinds = {kind for (kind,) in db.execute("SELECT type FROM sqlite_master")}
    assert kinds <= {"table", "index"}
    assert len(read_tables(result.out_dir)["recipients"]) == 2


# -- 2. names with quotes -----------------------------------------------------------------------


def test_table_and_column_names_with_quotes_are_read_safely(tmp_path: Path) -> None:
    def craft(writer: BackupWriter) -> None:
        writer.write_statement('CREATE TABLE "we""ird" ("co""l" TEXT, [b c] INTEGER)')
        writer.write_statement('INSERT INTO "we""ird" VALUES (?, ?)', ("x", 1))
        writer.write_statement('CREATE TABLE "x"") UNION SELECT 1 --" (a)')

    result = decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    with sqlite3.connect(result.db_path) as db:
        assert db.execute('SELECT "co""l" FROM "we""ird"').fetchall() == [("x",)]
    assert len(read_tables(result.out_dir)["messages"]) == 2


# -- 3. unbounded work ----------------------------------------------------------------------------

FILLING_STATEMENTS = (
    # the 3.6 KB file: one statement that never ends and fills the disk
    "CREATE TABLE boom AS WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x+1 FROM c) "
    "SELECT x, randomblob(1000) FROM c",
    "INSERT INTO message SELECT * FROM message",
    "WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c",
    "PRAGMA writable_schema = 1",
    "ATTACH DATABASE '/tmp/elsewhere.sqlite' AS other",
    "INSERT INTO message (_id, body) VALUES (99, zeroblob(2000000000))",
    "INSERT OR ROLLBACK INTO message VALUES (?,?,?,?,?,?,?,?)",
    "COMMIT",
    "DROP TABLE recipient",
)


@pytest.mark.parametrize("statement", FILLING_STATEMENTS)
def test_statements_no_exporter_writes_are_skipped_quickly(tmp_path: Path, statement: str) -> None:
    started = time.monotonic()
    result = decode(
        write_backup(tmp_path / "b.backup", lambda w: w.write_statement(statement)),
        tmp_path / "out",
    )
    assert time.monotonic() - started < 5
    assert result.db_path.stat().st_size < 1 << 20
    assert len(read_tables(result.out_dir)["messages"]) == 2
    assert not (tmp_path / "elsewhere.sqlite").exists()


EXPENSIVE_FUNCTIONS = (
    "randomblob(1000000000)",
    "zeroblob(1000000000)",
    "printf('%.*c', 1000000000, 'x')",
    "replace(hex(zeroblob(1000)), '0', hex(zeroblob(100000)))",
)


@pytest.mark.parametrize("expression", EXPENSIVE_FUNCTIONS)
def test_functions_hidden_in_a_schema_are_refused(tmp_path: Path, expression: str) -> None:
    def craft(writer: BackupWriter) -> None:
        writer.write_statement(f"CREATE TABLE d (a, b DEFAULT ({expression}))")
        writer.write_statement(f"CREATE TABLE g (a, b AS ({expression}))")
        writer.write_statement(f"CREATE INDEX gi ON message ({expression})")
        for index in range(50):
            writer.write_statement("INSERT INTO d (a) VALUES (?)", (index,))
            writer.write_statement("INSERT INTO g (a) VALUES (?)", (index,))

    started = time.monotonic()
    result = decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    assert time.monotonic() - started < 5
    assert result.db_path.stat().st_size < 1 << 20
    assert any("refused" in warning for warning in result.warnings)


def test_a_schema_default_that_fills_the_disk_stops_at_the_size_cap(tmp_path: Path) -> None:
    """Each 30-byte INSERT gets a 400 kB default: 40 MB of input would become 800 GB."""
    blob = "00" * 400_000

    def craft(writer: BackupWriter) -> None:
        writer.write_statement(f"CREATE TABLE fill (a, b DEFAULT (x'{blob}'))")
        for index in range(2_000):
            writer.write_statement("INSERT INTO fill (a) VALUES (?)", (index,))

    started = time.monotonic()
    with pytest.raises(ResourceLimitError, match="grow past"):
        decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    assert time.monotonic() - started < 20
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "b.backup"]


def test_index_work_beyond_the_budget_stops_with_a_typed_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Hundreds of indexes over every row: bounded by the VM-step budget (lowered here so
    the test is quick; the default's headroom is measured by the decode benchmark)."""
    monkeypatch.setattr(sqlite_guard, "STEPS_FLOOR", 1_000_000)
    monkeypatch.setattr(sqlite_guard, "STEPS_PER_INPUT_BYTE", 10)

    def craft(writer: BackupWriter) -> None:
        writer.write_statement("CREATE TABLE wide (a, b, c)")
        for index in range(5_000):
            writer.write_statement("INSERT INTO wide VALUES (?,?,?)", (index, -index, str(index)))
        for index in range(300):
            writer.write_statement(f"CREATE INDEX w{index} ON wide (c, b, a)")

    started = time.monotonic()
    with pytest.raises(ResourceLimitError, match="steps of work"):
        decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    assert time.monotonic() - started < 20
    assert not (tmp_path / "out").exists()


def test_ctrl_c_stops_a_statement_running_inside_sqlite_within_a_second() -> None:
    """SQLite runs a statement in C, where Python's own Ctrl-C handling never gets a say."""
    connection = sqlite3.connect(":memory:")
    endless = (
        "WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x+1 FROM c) SELECT count(*) FROM c"
    )
    budget = sqlite_guard.WorkBudget(limit_steps=10**15)
    budget.install(connection)
    sent: list[float] = []

    def interrupt() -> None:
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)

    timer = threading.Timer(0.3, interrupt)
    with interrupts.signals_as_interrupts(), pytest.raises(KeyboardInterrupt):
        timer.start()
        try:
            connection.execute(endless).fetchone()
        except sqlite3.Error as error:
            budget.check(error)
            raise
    assert time.monotonic() - sent[0] < 1.0


# -- 4. blob names ----------------------------------------------------------------------------------


def test_thousands_of_avatars_with_one_name_cost_linear_time(tmp_path: Path) -> None:
    """Was quadratic: 8,000 avatars with one name ran for more than 400 s."""

    def craft(writer: BackupWriter) -> None:
        for _ in range(8_000):
            writer.write_avatar("2", b"\x89PNG")

    backup = write_backup(tmp_path / "b.backup", craft)
    # CPU time of this process, not wall time: a loaded machine stretches the wall clock
    # (one failure at 20 s wall under a load of 5) but not the work done. Here it takes
    # about 4 s; the quadratic cost it guards against took over 400 s.
    started = time.process_time()
    result = decode(backup, tmp_path / "out")
    assert time.process_time() - started < 20
    assert len(list((result.out_dir / "avatars").iterdir())) == 8_000


def test_an_avatar_name_longer_than_the_file_system_allows_is_shortened(tmp_path: Path) -> None:
    def craft(writer: BackupWriter) -> None:
        writer.write_avatar("é" * 5_000, b"a")
        writer.write_avatar("é" * 5_000, b"b")
        writer.write_avatar("../" * 50 + "etc", b"c")

    result = decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    names = sorted(path.name for path in (result.out_dir / "avatars").iterdir())
    assert len(names) == 3 and all(len(name) <= 80 for name in names)
    assert all("/" not in name for name in names)


@pytest.mark.parametrize("row_id", [2**63, 2**64 - 1])
def test_attachment_and_sticker_row_ids_past_int64_are_read_as_java_longs(
    tmp_path: Path, row_id: int
) -> None:
    def craft(writer: BackupWriter) -> None:
        writer.write_attachment(row_id, b"data", attachment_id=row_id)
        writer.write_sticker(row_id, b"sticker")

    result = decode(write_backup(tmp_path / "b.backup", craft), tmp_path / "out")
    assert result.blobs_extracted == 2


# -- 9. bytes after the End frame ---------------------------------------------------------------------


def test_bytes_after_the_end_frame_are_reported_as_trailing_data(tmp_path: Path) -> None:
    backup = write_backup(tmp_path / "b.backup")
    with backup.open("ab") as handle:
        handle.write(os.urandom(1234))
    result = decode(backup, tmp_path / "out")
    assert result.trailing_bytes == 1234 and result.bytes_not_decoded == 0
    assert any("1234 bytes after the End frame" in warning for warning in result.warnings)
    inspection = inspect_backup(backup, KEYS)
    assert any("after the End frame" in warning for warning in inspection.warnings)


# -- random statement shapes ---------------------------------------------------------------------------

NAMES = st.sampled_from(
    [
        "message",
        "recipient",
        "t",
        "astrabot_blob",
        "main.astrabot_key_value",
        '"astrabot_preference"',
        "sqlite_master",
        "temp.x",
        '"we""ird"',
    ]
)
CLAUSES = st.sampled_from(
    [
        "CREATE TABLE {n} (a, b)",
        "CREATE TABLE {n} AS SELECT * FROM recipient",
        "CREATE TABLE IF NOT EXISTS {n} (a DEFAULT (randomblob(100000000)))",
        "CREATE INDEX i_{i} ON {n} (a)",
        "CREATE UNIQUE INDEX u_{i} ON {n} (a) WHERE a > 0",
        "CREATE VIRTUAL TABLE {n} USING fts5(a)",
        "CREATE VIRTUAL TABLE {n} USING fts5(a, content={n2})",
        "CREATE VIRTUAL TABLE {n} USING rtree(a, b, c)",
        "CREATE TRIGGER tr_{i} AFTER INSERT ON {n} BEGIN DELETE FROM {n2}; END",
        "CREATE VIEW v_{i} AS SELECT * FROM {n}",
        "INSERT INTO {n} VALUES (?, ?)",
        "INSERT OR REPLACE INTO {n} (a) VALUES (?)",
        "INSERT INTO {n} SELECT * FROM {n2}",
        "INSERT INTO {n} VALUES ((SELECT count(*) FROM {n2}), ?)",
        "UPDATE {n} SET a = ?",
        "DELETE FROM {n}",
        "DROP TABLE {n}",
        "ALTER TABLE {n} RENAME TO {n2}",
        "PRAGMA {n}",
        "ATTACH '{n}' AS x",
        "WITH RECURSIVE c(x) AS (VALUES(1) UNION ALL SELECT x+1 FROM c) SELECT * FROM c",
        "SELECT load_extension('x')",
        "BEGIN",
        "ROLLBACK",
        "SAVEPOINT astrabot_batch",
        "RELEASE astrabot_batch",
    ]
)
PARAMS = st.lists(
    st.one_of(
        st.none(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=8), st.binary(max_size=8)
    ),
    max_size=3,
)


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    statements=st.lists(
        st.tuples(CLAUSES, NAMES, NAMES, st.integers(0, 3), PARAMS), min_size=1, max_size=8
    )
)
def test_random_statement_shapes_end_in_output_or_a_backup_error(
    tmp_path_factory: pytest.TempPathFactory, statements: list
) -> None:
    root = tmp_path_factory.mktemp("shapes")
    marker = root / "outside.txt"
    marker.write_text("TOKEN-outside")
    before = sorted(root.iterdir())

    def craft(writer: BackupWriter) -> None:
        for clause, name, other, index, params in statements:
            sql = clause.format(n=name, n2=other, i=index)
            writer.write_statement(sql, params)
            writer.write_statement(
                "INSERT INTO attachment VALUES (?,?,?,?,?)", (8, 1, LONG_TEXT_TYPE, 4, None)
            )

    backup = write_backup(root / "b.backup", craft)
    started = time.monotonic()
    try:
        result = decode(backup, root / "out")
    except BackupError:
        assert not (root / "out").exists()
    else:
        assert_token_absent(result.out_dir, b"TOKEN-outside")
        with sqlite3.connect(result.db_path) as db:
            assert db.execute("SELECT count(*) FROM astrabot_blob").fetchone() == (0,)
            key_values = dict(db.execute("SELECT key, value FROM astrabot_key_value"))
        assert key_values == {"account.aci": "aci-self"}
    assert time.monotonic() - started < 10
    assert sorted(p for p in root.iterdir() if p.name != "out") == sorted(
        [*before, root / "b.backup"]
    )


def test_inserted_table_reads_every_identifier_spelling() -> None:
    assert inserted_table('INSERT INTO "a""b" VALUES (?)') == 'a"b'
    assert inserted_table("INSERT INTO main.[x y] (c) VALUES (?, ?)") == "x y"
    assert inserted_table("INSERT INTO t VALUES (1)") is None  # literals: not an exporter shape


def test_the_replayer_refuses_side_table_writes_even_for_a_valid_shape(tmp_path: Path) -> None:
    with SqliteReplayer(tmp_path / "r.sqlite") as replayer:
        replayer.handle(StatementEvent("CREATE TABLE t (a)", ()))
        replayer.handle(StatementEvent('INSERT INTO "main"."astrabot_blob" VALUES (?)', (1,)))
    with sqlite3.connect(tmp_path / "r.sqlite") as db:
        assert db.execute("SELECT count(*) FROM astrabot_blob").fetchone() == (0,)
