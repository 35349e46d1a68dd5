"""SIGTERM and Ctrl-C stop `astrabot decode` at once with no traceback and no partial output;
SIGKILL leaves a temporary folder that the next decode recognises by its marker and removes."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from astrabot_pipeline.interrupts import EXIT_INTERRUPTED, EXIT_TERMINATED
from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.signal.output_dir import MARKER_FILE
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup

ASTRABOT = str(Path(sys.executable).parent / "astrabot")


@pytest.fixture(scope="module")
def big(tmp_path_factory):
    """Big enough that frame reading lasts well over the moment the signal is sent."""
    return write_demo_backup(tmp_path_factory.mktemp("big"), n_messages=12_000, seed=9)


def start_decode(backup: Path, out: Path) -> subprocess.Popen:
    env = {**os.environ, "SIGNAL_BACKUP_PASSPHRASE": DEMO_PASSPHRASE}
    return subprocess.Popen(
        [ASTRABOT, "decode", str(backup), "--out", str(out)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_reading_frames(process: subprocess.Popen, parent: Path) -> Path:
    """The temporary output exists and holds the database being replayed: mid-decode."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        temps = [t for t in parent.glob(".*.tmp") if (t / "signal.sqlite").exists()]
        if temps:
            time.sleep(0.05)
            assert process.poll() is None, "the decode ended before it could be interrupted"
            return temps[0]
        assert process.poll() is None, process.communicate()
        time.sleep(0.005)
    raise AssertionError("the decode never started writing")


@pytest.mark.parametrize(
    ("signum", "status", "cause"),
    [(signal.SIGTERM, EXIT_TERMINATED, "SIGTERM"), (signal.SIGINT, EXIT_INTERRUPTED, "Ctrl-C")],
)
def test_a_signal_mid_decode_exits_at_once_without_traceback_or_leftovers(
    big, tmp_path, signum, status, cause
):
    parent = tmp_path / "parent"
    process = start_decode(big.path, parent / "nested" / "out")
    temp = wait_until_reading_frames(process, parent / "nested")
    sent = time.monotonic()
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=30)
    took = time.monotonic() - sent
    assert process.returncode == status, stderr
    assert took < 1.0, f"took {took:.2f} s to stop"
    assert "Traceback" not in stderr
    assert stderr.strip() == f"astrabot decode: interrupted ({cause})"
    assert not temp.exists()
    assert not parent.exists()  # the folders the decode created went too
    assert "decoded" not in stdout


def test_the_temp_a_killed_decode_leaves_is_removed_by_the_next_decode(big, tmp_path):
    process = start_decode(big.path, tmp_path / "out")
    temp = wait_until_reading_frames(process, tmp_path)
    process.kill()
    process.communicate(timeout=30)
    assert (temp / MARKER_FILE).is_file()  # SIGKILL: nothing could clean up
    small = write_demo_backup(tmp_path / "small", n_messages=50, seed=1)
    SignalProcessor(DEMO_PASSPHRASE).decode(small.path, tmp_path / "out")
    assert not temp.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "small"]
