"""`make dev` (astrabot_pipeline.devserver) stops on Ctrl-C even when started the way a
script or CI starts a background job: with SIGINT ignored. Run as `dagster dev` directly,
such a job sat through `kill -INT` for minutes (checked by hand: no process of the group
had exited 40 s later)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from astrabot_pipeline.ui_check import answers, free_port, group_alive

ROOT = Path(__file__).resolve().parents[2]
STARTUP_SECONDS = 120
STOP_SECONDS = 20


def _up(port: int) -> bool:
    return answers(f"http://127.0.0.1:{port}")


def _as_a_background_job() -> None:
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a shell without job control does


def test_ctrl_c_stops_every_process_of_dagster_dev(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster.yaml", home / "dagster.yaml")
    port = free_port()
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ASTRABOT_DATA_DIR": str(tmp_path / "data"),
        "ASTRABOT_BACKUP_DIR": str(tmp_path / "no-backups-yet"),  # the sensor only skips
    }
    (tmp_path / "no-backups-yet").mkdir()
    dev = subprocess.Popen(
        [sys.executable, "-m", "astrabot_pipeline.devserver", "-p", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_as_a_background_job,
    )
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _up(port):
            assert dev.poll() is None, "dagster dev exited during start-up"
            assert time.monotonic() < deadline, "dagster dev did not come up"
            time.sleep(0.5)
        os.killpg(dev.pid, signal.SIGINT)
        stopped = time.monotonic() + STOP_SECONDS
        while time.monotonic() < stopped:
            dev.poll()  # reap it: an exited but unreaped process still counts in its group
            if not group_alive(dev.pid):
                break
            time.sleep(0.2)
        assert not group_alive(dev.pid), f"processes left {STOP_SECONDS} s after Ctrl-C"
    finally:
        if group_alive(dev.pid):
            os.killpg(dev.pid, signal.SIGKILL)
        dev.wait(timeout=10)
