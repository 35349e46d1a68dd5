"""What the materialization wrote is private: 0700 folders and 0600 files, in the data
directory (see test_full_pipeline.py) and in Dagster's own storage, whose event logs
describe the chats (counts, hashes)."""

from __future__ import annotations

import stat


def _modes(root):
    for path in [root, *root.rglob("*")]:
        if not path.is_symlink():
            yield path, stat.S_IMODE(path.stat().st_mode)


def test_data_folders_are_0700_and_data_files_0600(pipeline_run):
    wrong = [
        f"{path.relative_to(pipeline_run.data_dir)} {oct(mode)}"
        for path, mode in _modes(pipeline_run.data_dir)
        if mode != (0o700 if path.is_dir() else 0o600)
    ]
    assert wrong == []


def test_every_file_in_dagster_storage_is_0600_and_every_folder_0700(pipeline_run):
    """Run and event-log databases, schedules, compute logs and the instance's dagster.yaml:
    nothing under DAGSTER_HOME is skipped."""
    home = pipeline_run.dagster_home
    wrong = [
        f"{path.relative_to(home)} {oct(mode)}"
        for path, mode in _modes(home)
        if mode != (0o700 if path.is_dir() else 0o600)
    ]
    assert wrong == []
    names = {path.name for path in home.rglob("*")}
    assert {"dagster.yaml", "runs.db", "index.db", "schedules.db"} <= names
    assert any(path.parent.name == "compute_logs" for path in home.rglob("*.out"))
