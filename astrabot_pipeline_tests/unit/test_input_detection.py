import sqlite3
import zipfile

import pytest

from astrabot_pipeline.signal.errors import UnsupportedBackupError
from astrabot_pipeline.signal.inputs import InputKind, detect_input, is_supported_input
from astrabot_pipeline.synthetic import write_demo_backup


def _sqlite(path, *tables):
    with sqlite3.connect(path) as db:
        for table in tables:
            db.execute(f"CREATE TABLE {table} (_id INTEGER)")
    return path


def test_a_legacy_backup_is_recognised_by_its_header_frame_whatever_its_name(tmp_path):
    demo = write_demo_backup(tmp_path, n_messages=60)
    renamed = demo.path.rename(tmp_path / "copy.bin")
    assert detect_input(renamed) is InputKind.LEGACY_BACKUP


def test_backup_v2_files_and_snapshot_folders(tmp_path):
    (tmp_path / "x.bin").write_bytes(b"SBACKUP\x01rest")
    snapshot = tmp_path / "signal-backup-2026-01-01-00-00-00"
    snapshot.mkdir()
    (snapshot / "main").write_bytes(b"\x00" * 64)
    assert detect_input(tmp_path / "x.bin") is InputKind.BACKUP_V2
    assert detect_input(snapshot) is InputKind.BACKUP_V2


def test_plaintext_exports_as_zip_jsonl_or_folder(tmp_path):
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("main.jsonl", "{}\n")
    (tmp_path / "main.jsonl").write_text("{}\n")
    assert detect_input(archive) is InputKind.BACKUP_V2_EXPORT
    assert detect_input(tmp_path / "main.jsonl") is InputKind.BACKUP_V2_EXPORT


def test_sqlite_databases_are_told_apart_by_their_tables(tmp_path):
    android = _sqlite(tmp_path / "signal.sqlite", "recipient", "message")
    desktop = _sqlite(tmp_path / "desktop.sqlite", "conversations", "messages")
    other = _sqlite(tmp_path / "other.sqlite", "things")
    assert detect_input(android) is InputKind.PLAIN_SQLITE
    assert detect_input(desktop) is InputKind.DESKTOP
    with pytest.raises(UnsupportedBackupError, match="not a supported input"):
        detect_input(other)


def test_encrypted_desktop_database_and_desktop_folder(tmp_path):
    folder = tmp_path / "Signal"
    (folder / "sql").mkdir(parents=True)
    (folder / "sql" / "db.sqlite").write_bytes(b"\x8f" * 4096)
    assert detect_input(folder / "sql" / "db.sqlite") is InputKind.DESKTOP
    assert detect_input(folder) is InputKind.DESKTOP


def test_csv_export_folder(tmp_path):
    (tmp_path / "message.csv").write_text("_id,body\n1,hi\n")
    assert detect_input(tmp_path) is InputKind.CSV_EXPORT


def test_anything_else_is_refused_with_the_list_of_what_is_supported(tmp_path):
    note = tmp_path / "notes.txt"
    note.write_text("hello")
    with pytest.raises(UnsupportedBackupError, match="plaintext export"):
        detect_input(note)
    assert not is_supported_input(note)
    assert not is_supported_input(tmp_path / "signal.backup.canaries.json")
