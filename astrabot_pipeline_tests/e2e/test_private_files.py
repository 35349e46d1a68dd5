"""What the materialization wrote is private: 0700 folders and 0600 files, in the data
directory (see test_full_pipeline.py) and in Dagster's own storage, whose event logs
describe the chats (counts, hashes)."""

from __future__ import annotations

import stat


def _modes(root, skip=()):
    for path in [root, *root.rglob("*")]:
        if path.name not in skip and not path.is_symlink():
            yield path, stat.S_IMODE(path.stat().st_mode)


def test_data_folders_are_0700_and_data_files_0600(pipeline_run):
    wrong = [
        f"{path.relative_to(pipeline_run.data_dir)} {oct(mode)}"
        for path, mode in _modes(pipeline_run.data_dir)
        if mode != (0o700 if path.is_dir() else 0o600)
    ]
    assert wrong == []


def test_dagster_storage_written_by_the_run_is_private(pipeline_run):
    # dagster.yaml is the test's own copy of the repository file, not written by the run.
    loose = [
        f"{path.relative_to(pipeline_run.dagster_home)} {oct(mode)}"
        for path, mode in _modes(pipeline_run.dagster_home, skip=("dagster.yaml",))
        if mode & 0o077
    ]
    assert loose == []
