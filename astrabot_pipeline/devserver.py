"""`make dev`: `dagster dev` on the project's workspace, stoppable by Ctrl-C wherever it runs.

A shell without job control (a script, `make dev &`, many IDE and CI runners) starts a
background job with SIGINT ignored, and a process keeps an ignored signal ignored across
exec: Python then installs no KeyboardInterrupt handler, so `dagster dev` and everything
it starts (web server, daemon, code server, runs) would sit through Ctrl-C or `kill -INT`
until killed. This entry point restores the default dispositions of SIGINT and SIGTERM
and execs `dagster dev`, which then shuts its processes down in a few seconds.

It also sets the private umask first (`settings.harden_process`): the web server and the
daemon create the run, event-log and schedule databases and the compute logs under
DAGSTER_HOME before any of our code is imported, and those describe the chats.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from astrabot_pipeline.settings import harden_process

WORKSPACE = "workspace.yaml"


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    harden_process()  # the umask and environment are kept across exec
    for stop in (signal.SIGINT, signal.SIGTERM):
        signal.signal(stop, signal.SIG_DFL)
    dagster = Path(sys.executable).parent / "dagster"
    os.execv(dagster, [str(dagster), "dev", "-w", WORKSPACE, *args])


if __name__ == "__main__":
    main()
