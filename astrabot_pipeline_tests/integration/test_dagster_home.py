"""Dagster's own storage under DAGSTER_HOME is private (0700 folders, 0600 files) whoever
creates it: the Makefile's preparation, and `dagster dev` as `make dev` starts it. The
e2e test_private_files.py checks every file a full run leaves there."""

from __future__ import annotations

import os
import stat
import subprocess

import pytest

from astrabot_pipeline import devserver
from astrabot_pipeline_tests.conftest import PROJECT_ROOT


def _modes(root):
    return {
        path.relative_to(root).as_posix(): stat.S_IMODE(path.lstat().st_mode)
        for path in root.rglob("*")
        if not path.is_symlink()
    }


def test_make_dagster_home_makes_every_file_private_even_ones_written_before(tmp_path):
    home = tmp_path / "dagster_home"
    (home / "history" / "runs").mkdir(parents=True, mode=0o755)
    (home / "history" / "runs.db").write_bytes(b"")
    (home / "history" / "runs.db").chmod(0o644)  # what a Dagster started at umask 022 left
    outside = tmp_path / "outside"
    outside.write_bytes(b"")
    outside.chmod(0o644)
    (home / "link").symlink_to(outside)
    subprocess.run(
        ["bash", "-c", f"umask 022 && make -s dagster-home DAGSTER_HOME={home}"],
        cwd=PROJECT_ROOT,
        check=True,
        timeout=60,
    )
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert _modes(home) == {
        "dagster.yaml": 0o600,
        "history": 0o700,
        "history/runs": 0o700,
        "history/runs.db": 0o600,
    }
    assert (home / "dagster.yaml").read_bytes() == (PROJECT_ROOT / "dagster.yaml").read_bytes()
    assert stat.S_IMODE(outside.stat().st_mode) == 0o644  # a link is not followed


def test_make_dev_starts_dagster_under_the_private_umask(monkeypatch):
    started = []

    def exec_dagster(path, argv):
        started.append((os.umask(0o077), argv[1:3]))
        raise SystemExit(0)

    monkeypatch.setattr(devserver.os, "execv", exec_dagster)
    previous = os.umask(0o022)  # a user's shell
    try:
        with pytest.raises(SystemExit):
            devserver.main([])
    finally:
        os.umask(previous)
    assert started == [(0o077, ["dev", "-w"])]
