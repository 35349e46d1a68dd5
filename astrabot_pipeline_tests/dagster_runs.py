"""A Dagster run whose process is killed mid-step, as a session end, the OOM killer or a
power cut leaves one: STARTED in the run storage, its `gpu` pool slot still claimed."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# A run with one step in the `gpu` pool that logs its progress a while after it started,
# says it holds the slot and then waits.
PROGRESS_AFTER = 0.5
HOLDING_RUN = textwrap.dedent(
    f"""
    import pathlib, sys, time
    import dagster as dg

    PROGRESS_AFTER = {PROGRESS_AFTER}

    @dg.asset(pool="gpu")
    def holds_the_slot(context: dg.AssetExecutionContext) -> None:
        time.sleep(PROGRESS_AFTER)
        context.log.info("a while later: its progress")
        pathlib.Path(sys.argv[1]).write_text("holding")
        time.sleep(120)

    with dg.DagsterInstance.get() as instance:
        dg.materialize([holds_the_slot], instance=instance)
    """
)
STEP = "holds_the_slot"


def start_holding_run(folder: Path) -> subprocess.Popen[bytes]:
    """HOLDING_RUN in the instance of $DAGSTER_HOME, started and holding the slot."""
    holding = folder / "holding"
    child = subprocess.Popen([sys.executable, "-c", HOLDING_RUN, str(holding)])
    deadline = time.monotonic() + 90
    while not holding.exists():
        if child.poll() is not None or time.monotonic() > deadline:
            child.kill()
            pytest.fail("the holding run's step never started")
        time.sleep(0.1)
    return child


def kill(child: subprocess.Popen[bytes]) -> None:
    child.send_signal(signal.SIGKILL)
    child.wait()
