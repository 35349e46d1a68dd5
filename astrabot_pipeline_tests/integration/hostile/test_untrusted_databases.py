"""Databases someone else wrote (a "decrypted" Signal database, a Signal Desktop database):
the expressions their schema embeds run only under the read-only guard."""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from astrabot_pipeline.signal import SignalProcessor, read_tables
from astrabot_pipeline.signal.desktop.reader import normalize_desktop_db
from astrabot_pipeline_tests.integration.hostile.test_replayed_sql import ROWS, SCHEMA
from astrabot_pipeline_tests.integration.test_plain_inputs import build_desktop_db

HUGE = "printf('%.*c', 1000000000, 'x')"  # one gigabyte per row, computed when read


def plain_database(path: Path, *, generated_body: str) -> Path:
    """The small test database with `message.body` a generated column (added last, so
    building the file computes nothing)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as db:
        for sql in SCHEMA:
            db.execute(sql.replace(", body TEXT", ""))
        for sql, params in ROWS:
            if sql.startswith("INSERT INTO message "):
                sql, params = "INSERT INTO message VALUES (?,?,?,?,?,?,?)", params[:7]
            db.execute(sql, params)
        db.execute(f"ALTER TABLE message ADD COLUMN body AS ({generated_body})")
    return path


def test_a_generated_column_that_computes_gigabytes_is_never_read(tmp_path: Path) -> None:
    db = plain_database(tmp_path / "in" / "signal.sqlite", generated_body=HUGE)
    started = time.monotonic()
    result = SignalProcessor().decode(db, tmp_path / "out")
    assert time.monotonic() - started < 5
    assert any("generated column" in warning for warning in result.warnings)
    assert read_tables(result.out_dir)["messages"]["body"].isna().all()


def test_a_plain_database_with_cheap_generated_columns_still_decodes(tmp_path: Path) -> None:
    db = plain_database(tmp_path / "in" / "signal.sqlite", generated_body="upper('ok')")
    result = SignalProcessor().decode(db, tmp_path / "out")
    assert result.row_counts["messages"] == 2


def test_a_desktop_database_with_a_hostile_generated_column_decodes_without_it(
    tmp_path: Path,
) -> None:
    (tmp_path / "sql").mkdir()
    path = build_desktop_db(tmp_path / "sql" / "db.sqlite", sqlite3.connect, None)
    with sqlite3.connect(path) as db:
        db.execute(f"ALTER TABLE messages ADD COLUMN padding AS ({HUGE})")
    started = time.monotonic()
    result = normalize_desktop_db(tmp_path, tmp_path / "work", key_hex=None)
    assert time.monotonic() - started < 5
    assert any("generated column" in warning for warning in result.warnings)
    assert len(result.tables["messages"]) > 0


def test_a_desktop_generated_column_made_of_json_is_still_read(tmp_path: Path) -> None:
    """Signal Desktop derives columns from its JSON: those stay readable."""
    (tmp_path / "sql").mkdir()
    path = build_desktop_db(tmp_path / "sql" / "db.sqlite", sqlite3.connect, None)
    with sqlite3.connect(path) as db:
        db.execute("ALTER TABLE messages ADD COLUMN story AS (json_extract(json, '$.isStory'))")
    result = normalize_desktop_db(tmp_path, tmp_path / "work", key_hex=None)
    assert not any("generated column" in warning for warning in result.warnings)
