"""`astrabot purge`: decoded plaintext and raw-text intermediates go; backups and secrets stay."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from astrabot_pipeline import cli
from astrabot_pipeline.privacy import PurgeError
from astrabot_pipeline.privacy.purge import purge_paths

PLAINTEXT = "MESSAGE BODY that must never be printed"
PLAINTEXT_PATHS = [
    "decoded/latest/signal.sqlite",
    "decoded/latest/attachments/1.jpg",
    "assets/decoded_backup/messages.parquet",
    "assets/conversation_windows.parquet",
    "assets/nitter_enriched_windows.parquet",
    "cache/tweets.json",
]
DERIVED_PATHS = [
    "assets/anonymized_windows.parquet",
    "assets/mixed_dataset.parquet",
    "models/lora_stage_1_conversational/adapter.safetensors",
    "reports/report.md",
]
KEPT_PATHS = ["backups/signal-2024.backup", "secrets/pseudonym.key"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for name in [*PLAINTEXT_PATHS, *DERIVED_PATHS, *KEPT_PATHS]:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PLAINTEXT)
    return root


def astrabot(data_dir: Path, *args: str, backup_dir: Path | None = None):
    env = {**os.environ, "ASTRABOT_DATA_DIR": str(data_dir)}
    env.pop("ASTRABOT_BACKUP_DIR", None)
    if backup_dir is not None:
        env["ASTRABOT_BACKUP_DIR"] = str(backup_dir)
    command = [str(Path(sys.executable).parent / "astrabot"), *args]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL
    )


def present(data_dir: Path, names: list[str]) -> list[str]:
    return [name for name in names if (data_dir / name).exists()]


def test_purge_deletes_the_plaintext_and_keeps_what_is_derived(data_dir):
    done = astrabot(data_dir, "purge", "--yes")
    assert done.returncode == 0, done.stderr
    assert present(data_dir, PLAINTEXT_PATHS) == []
    assert not (data_dir / "decoded").exists() and not (data_dir / "cache").exists()
    assert present(data_dir, DERIVED_PATHS + KEPT_PATHS) == DERIVED_PATHS + KEPT_PATHS
    assert str(data_dir / "decoded") in done.stdout and "bytes" in done.stdout
    assert PLAINTEXT not in done.stdout + done.stderr


def test_purge_all_also_deletes_models_reports_and_assets_but_never_backups_or_secrets(data_dir):
    done = astrabot(data_dir, "purge", "--all", "--yes")
    assert done.returncode == 0, done.stderr
    assert present(data_dir, PLAINTEXT_PATHS + DERIVED_PATHS) == []
    assert sorted(p.name for p in data_dir.iterdir()) == ["backups", "secrets"]
    assert present(data_dir, KEPT_PATHS) == KEPT_PATHS


def test_without_a_terminal_purge_asks_for_yes_and_deletes_nothing(data_dir):
    done = astrabot(data_dir, "purge")
    assert done.returncode == 2 and "--yes" in done.stderr
    assert present(data_dir, PLAINTEXT_PATHS) == PLAINTEXT_PATHS


def test_a_backup_folder_inside_a_purged_folder_stops_the_purge(data_dir):
    inputs = data_dir / "cache" / "inputs"
    inputs.mkdir()
    done = astrabot(data_dir, "purge", "--yes", backup_dir=inputs)
    assert done.returncode == 2 and "refusing" in done.stderr
    assert present(data_dir, PLAINTEXT_PATHS) == PLAINTEXT_PATHS


def test_an_empty_data_dir_has_nothing_to_purge(tmp_path):
    done = astrabot(tmp_path, "purge", "--yes")
    assert done.returncode == 0 and "nothing to purge" in done.stdout


@pytest.mark.parametrize(("answer", "deleted"), [("n", False), ("y", True)])
def test_on_a_terminal_purge_lists_sizes_and_asks_first(
    data_dir, monkeypatch, capsys, answer, deleted
):
    monkeypatch.setenv("ASTRABOT_DATA_DIR", str(data_dir))
    monkeypatch.delenv("ASTRABOT_BACKUP_DIR", raising=False)
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda prompt: answer)
    assert cli.main(["purge"]) == (0 if deleted else 1)
    shown = capsys.readouterr().out
    assert "decoded (2 files" in shown and PLAINTEXT not in shown
    assert (present(data_dir, PLAINTEXT_PATHS) == []) is deleted


def test_purge_refuses_targets_outside_the_data_dir_or_holding_the_backups(data_dir, tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    with pytest.raises(PurgeError):
        purge_paths(data_dir, [outside])
    with pytest.raises(PurgeError):
        purge_paths(data_dir, [data_dir / "backups"])
    with pytest.raises(PurgeError):
        purge_paths(data_dir, [data_dir])
    assert outside.exists() and present(data_dir, KEPT_PATHS) == KEPT_PATHS
