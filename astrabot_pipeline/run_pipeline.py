"""`make run`: materialize the graph with `dagster asset materialize`, exactly as before
(same DAGSTER_HOME instance, run storage and run as the UI shows it), and print one line
per step and a closing summary instead of Dagster's few hundred lines of events.

`python -m astrabot_pipeline.run_pipeline [--config-json JSON] [--select SELECTION]
[--verbose]`. Dagster's own output is kept in memory (its last lines are shown if it ends
without a run); every event stays in the run's event log, which the UI shows, and
`--verbose` (`make run VERBOSE=1`) prints Dagster's output as it comes. The lines printed
here are read from that event log while the run goes (`run_progress.py`). The exit status
is 0 only when the run succeeded and no check of ERROR severity failed.
"""

from __future__ import annotations

import argparse
import collections
import datetime
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TextIO

import dagster as dg

from astrabot_pipeline.dead_runs import fail_dead_runs, recorded_pid
from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.interrupts import EXIT_INTERRUPTED
from astrabot_pipeline.run_progress import RunProgress
from astrabot_pipeline.settings import harden_process, model_profile_name

DEFINITIONS_MODULE = "astrabot_pipeline.definitions"
DEFAULT_SELECTION = "decoded_backup*"  # everything below the backup
POLL_SECONDS = 0.5
OUTPUT_TAIL_LINES = 30  # Dagster's last lines, shown when it ends without a finished run


class RunSetupError(AstrabotError, RuntimeError):
    """The run could not be started or followed (no DAGSTER_HOME, Dagster ended early)."""


def materialize_command(selection: str, config_json: str | None) -> list[str]:
    """The `dagster asset materialize` command line `make run` always ran."""
    dagster = Path(sys.executable).parent / "dagster"
    command = [str(dagster), "asset", "materialize", "-m", DEFINITIONS_MODULE]
    command += ["--select", selection]
    return command + (["--config-json", config_json] if config_json else [])


def _started_by(instance: dg.DagsterInstance, pid: int, since: float) -> dg.DagsterRun | None:
    """The run that process `pid` created after `since` (its in-process executor
    records the pid in an engine event), or None while there is none yet."""
    created_after = datetime.datetime.fromtimestamp(since, tz=datetime.UTC)
    for run in instance.get_runs(filters=dg.RunsFilter(created_after=created_after)):
        if recorded_pid(instance, run.run_id) == pid:
            return run
    return None


def _keep_tail(stream: IO[str], tail: collections.deque[str]) -> None:
    for line in stream:
        tail.append(line.rstrip("\n"))


class RunFollower:
    """Reads a run's new event log records each time it is asked."""

    def __init__(self, instance: dg.DagsterInstance, run_id: str) -> None:
        self.instance, self.run_id = instance, run_id
        self._cursor: str | None = None

    def new_entries(self) -> Iterator[dg.EventLogEntry]:
        while True:
            connection = self.instance.get_records_for_run(
                self.run_id, cursor=self._cursor, limit=1000
            )
            self._cursor = connection.cursor
            for record in connection.records:
                yield record.event_log_entry
            if not connection.has_more:
                return


def _relative(path: str) -> str:
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return path


def run(selection: str, config_json: str | None, *, verbose: bool, out: TextIO) -> int:
    """Materialize `selection`, print its progress and summary to `out`; the exit status."""
    if not os.environ.get("DAGSTER_HOME"):
        raise RunSetupError(
            "DAGSTER_HOME is not set: the run would go to a temporary instance the UI never "
            "shows; `make run` sets it to .dagster_home"
        )
    print(
        f"materializing {selection} with the {model_profile_name()!r} model profile "
        "(every event: the run in the Dagster UI, `make dev`, or `make run VERBOSE=1`)",
        file=out,
        flush=True,
    )
    tail: collections.deque[str] = collections.deque(maxlen=OUTPUT_TAIL_LINES)
    progress = RunProgress()
    with dg.DagsterInstance.get() as instance:
        for run_id in fail_dead_runs(instance):
            print(
                f"run {run_id} was interrupted (its process is gone): marked failed and its "
                "pool slot freed; a training stage it left resumes from its last checkpoint",
                file=out,
                flush=True,
            )
        since = time.time()
        child = subprocess.Popen(
            materialize_command(selection, config_json),
            stdout=None if verbose else subprocess.PIPE,
            stderr=None if verbose else subprocess.STDOUT,
            text=True,
            errors="replace",
        )
        reader = None
        if child.stdout is not None:
            reader = threading.Thread(target=_keep_tail, args=(child.stdout, tail), daemon=True)
            reader.start()
        follower: RunFollower | None = None
        interrupted = False
        while True:
            try:
                finished = child.poll() is not None
                if follower is None:
                    started = _started_by(instance, child.pid, since)
                    if started is not None:
                        follower = RunFollower(instance, started.run_id)
                        progress.selection = frozenset(
                            key.to_user_string() for key in started.asset_selection or ()
                        )
                        print(f"run {started.run_id}", file=out, flush=True)
                if follower is not None:
                    for entry in follower.new_entries():
                        for line in progress.handle(entry):
                            if not verbose:
                                print(line, file=out, flush=True)
                if finished:
                    break
                time.sleep(POLL_SECONDS)
            except KeyboardInterrupt:
                # Ctrl-C reached Dagster too: it stops the run and records it; keep reading.
                interrupted = True
        if reader is not None:
            reader.join(timeout=5)
    if verbose:
        # The step lines would be lost among Dagster's; print them all again here.
        for line in progress.lines:
            print(line, file=out)
    if follower is None:
        print(
            f"Dagster ended (exit status {child.returncode}) before it started a run; "
            "its last lines:",
            file=out,
        )
        for line in tail:
            print(f"  {line}", file=out)
        return child.returncode or 1
    chat = _relative(str(Path(sys.executable).parent / "astrabot"))
    for line in progress.summary(chat_command=f"{chat} chat", relative=_relative):
        print(line, file=out)
    if not progress.succeeded and progress.run_failure is None and tail:
        print("Dagster's last lines:", file=out)
        for line in tail:
            print(f"  {line}", file=out)
    if interrupted:
        return EXIT_INTERRUPTED
    if not progress.ok:
        return child.returncode or 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m astrabot_pipeline.run_pipeline", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--select", default=DEFAULT_SELECTION, help="Dagster asset selection")
    parser.add_argument(
        "--config-json", help="run config as JSON, as for `dagster ... --config-json`"
    )
    parser.add_argument(
        "--verbose", action="store_true", help="print Dagster's own output (every event)"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    harden_process()
    args = build_parser().parse_args(argv)
    try:
        return run(args.select, args.config_json, verbose=args.verbose, out=sys.stdout)
    except RunSetupError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
