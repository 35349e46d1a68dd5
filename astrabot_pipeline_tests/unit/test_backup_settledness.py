"""When a backup in the folder counts as fully copied (the sensor waits until it does)."""

from __future__ import annotations

import subprocess
import sys

from astrabot_pipeline.signal.discovery import settledness
from astrabot_pipeline_tests.conftest import backdate


def test_a_folder_is_settled_only_when_its_newest_file_is_quiet(tmp_path):
    folder = tmp_path / "signal-backup-2026-01-01"
    (folder / "files").mkdir(parents=True)
    (folder / "main").write_bytes(b"m")
    (folder / "files" / "a").write_bytes(b"a")
    backdate(folder / "main", 600)
    assert not settledness(folder, quiet_seconds=30).settled  # "files/a" was just written
    backdate(folder / "files" / "a", 31)
    assert settledness(folder, quiet_seconds=30).settled
    assert not settledness(tmp_path / "empty-missing-folder").settled


def test_a_record_lock_held_by_another_process_means_still_writing(tmp_path):
    backup = tmp_path / "signal.backup"
    backup.write_bytes(b"x" * 10)
    backdate(backup, 600)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, sys, time\n"
            f"f = open({str(backup)!r}, 'rb+'); fcntl.lockf(f, fcntl.LOCK_EX)\n"
            "print('locked', flush=True); time.sleep(30)",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        state = settledness(backup, quiet_seconds=30)
        assert not state.settled and "locked" in state.reason
    finally:
        holder.kill()
        holder.wait()
    assert settledness(backup, quiet_seconds=30).settled
