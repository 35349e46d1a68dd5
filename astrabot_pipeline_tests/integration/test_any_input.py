"""One decoder for every input kind: SignalProcessor.decode, `astrabot decode` and the
backup-folder watcher all detect the kind and give the same contract tables."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.signal.backup_v2 import jsonl
from astrabot_pipeline.signal.discovery import content_sha256, newest_backup
from astrabot_pipeline.signal.inputs import InputKind
from astrabot_pipeline.signal.tables import TABLE_NAMES
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup
from astrabot_pipeline.synthetic.corpus import generate_corpus
from astrabot_pipeline.synthetic.signal_db import write_signal_database
from astrabot_pipeline_tests.conftest import SHARED_DIR
from astrabot_pipeline_tests.integration.test_plain_inputs import NEW_ERA_TABLES, export_csv

N_MESSAGES, SEED = 300, 21
SHARED_V2 = SHARED_DIR / "fixtures" / "backup-v2"


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("any-input")
    demo = write_demo_backup(root / "legacy", n_messages=N_MESSAGES, seed=SEED)
    plain = write_signal_database(
        generate_corpus(n_messages=N_MESSAGES, seed=SEED), root / "plain.sqlite"
    )
    csv_folder = export_csv(plain.path, root / "csv", NEW_ERA_TABLES)
    return {"legacy": demo.path, "plain": plain.path, "csv": csv_folder}


def _decode(path: Path, out: Path):
    return SignalProcessor(DEMO_PASSPHRASE, extract_attachments=False).decode(path, out)


def test_legacy_plain_and_csv_inputs_give_the_same_messages(inputs, tmp_path):
    results = {name: _decode(path, tmp_path / name) for name, path in inputs.items()}
    assert {r.input_kind for r in results.values()} == {
        InputKind.LEGACY_BACKUP.value,
        InputKind.PLAIN_SQLITE.value,
        InputKind.CSV_EXPORT.value,
    }
    tables = {name: result.read_tables() for name, result in results.items()}
    for name in ("plain", "csv"):
        assert set(tables[name]) == set(TABLE_NAMES)
        pd.testing.assert_frame_equal(tables[name]["messages"], tables["legacy"]["messages"])
        pd.testing.assert_frame_equal(tables[name]["recipients"], tables["legacy"]["recipients"])
        assert results[name].row_counts == results["legacy"].row_counts


def test_the_cli_decodes_a_folder_input_without_any_passphrase(inputs, tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "SIGNAL_BACKUP_PASSPHRASE"}
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "astrabot"),
            "decode",
            str(inputs["csv"]),
            "--out",
            str(tmp_path / "o"),
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "o" / "tables" / "messages.parquet").is_file()


@pytest.mark.skipif(not SHARED_V2.is_dir(), reason=f"backup-v2 fixtures absent ({SHARED_V2})")
def test_a_backup_v2_plaintext_export_zip_routes_to_the_v2_reader(tmp_path):
    objects = json.loads(
        jsonl.strip_json_comments(
            (SHARED_V2 / "jsonproto" / "incoming-message-with-edits.jsonproto").read_text()
        )
    )
    archive = tmp_path / "signal-export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("metadata.json", "{}")
        zf.writestr("main.jsonl", "\n".join(json.dumps(o) for o in objects) + "\n")
    result = SignalProcessor().decode(archive, tmp_path / "out")
    assert result.input_kind == InputKind.BACKUP_V2_EXPORT.value
    assert result.row_counts["messages"] == 1


def test_a_legacy_backup_without_passphrase_says_which_variable_to_set(inputs, tmp_path):
    from astrabot_pipeline.signal import BackupError

    with pytest.raises(BackupError, match="SIGNAL_BACKUP_PASSPHRASE"):
        SignalProcessor().decode(inputs["legacy"], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_watcher_takes_the_newest_input_of_any_kind_and_hashes_folders_by_content(
    inputs, tmp_path
):
    watched = tmp_path / "backups"
    watched.mkdir()
    legacy = watched / inputs["legacy"].name
    legacy.write_bytes(inputs["legacy"].read_bytes())
    (watched / (legacy.name + ".canaries.json")).write_text("{}")
    os.utime(legacy, (1, 1))
    folder = watched / "csv"
    folder.mkdir()
    for csv in inputs["csv"].iterdir():
        (folder / csv.name).write_bytes(csv.read_bytes())
    assert newest_backup(watched) == folder
    before = content_sha256(folder)
    (folder / "message.csv").write_bytes((folder / "message.csv").read_bytes() + b"\n")
    assert content_sha256(folder) != before
