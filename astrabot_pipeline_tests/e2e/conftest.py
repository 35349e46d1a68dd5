"""The e2e layer's pipeline runs as `make run` does them (`run_pipeline.py` running
`dagster asset materialize`): one full materialization shared by most e2e tests, and one
that the privacy gate stops (test_run_output.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from astrabot_pipeline.privacy.canaries import canaries_path_for
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup
from astrabot_pipeline.synthetic.corpus import generate_corpus
from astrabot_pipeline.training import STAGE_NAMES
from astrabot_pipeline_tests.conftest import PROJECT_ROOT

# 15 threads, about 670 training examples and 40 test examples: enough for every stage and
# check to have data, and for the canaries the demo plants.
E2E_MESSAGES = 1_500
# The backup of the run the privacy gate stops: it never trains, so a small one will do.
GATE_FAILURE_BACKUP = {"n_messages": 400, "seed": 3}
# A sitecustomize that records and refuses every non-loopback connection (test_egress.py).
EGRESS_GUARD_DIR = Path(__file__).resolve().parent / "egress_guard"
EGRESS_LOG = "egress.log"  # what it recorded, in the full run's folder
# Small but real: every stage trains and is evaluated; kept short for a 2-core CI machine
# (this run is most of the e2e layer's time). 20 steps of 128 tokens lower each stage's
# validation loss by 0.12 to 0.44 (three runs measured), as the tests require; 40 test
# examples, 16 of them ranked, give every section of the report its numbers.
E2E_RUN_CONFIG = {
    "ops": {
        name: {"config": {"max_steps": 20, "batch_size": 8, "max_length": 128}}
        for name in STAGE_NAMES
    }
    | {"eval_report": {"config": {"max_examples": 40, "ranking_examples": 16}}}
}


# The summary's line for each check that did not pass ("  FAILED name: …", "  warning …").
FAILED_CHECK = re.compile(r"^  (?:FAILED|warning) (\S+?):?(?:\s|$)", re.MULTILINE)
VOICE_REFUSAL = "verdict: privacy passed, but it does not write like you yet"


def only_the_voice_check_failed(output: str) -> bool:
    """Whether a run that exited non-zero did so only because `writes_like_owner` failed:
    the tiny model is random, so whether its replies rank measurably worse than the base's
    varies with each run's fresh pseudonym key; every other check must still pass."""
    failed = set(re.findall(r"^  FAILED (\S+?):?(?:\s|$)", output, re.MULTILINE))
    return failed == {"eval_report:writes_like_owner"} and VOICE_REFUSAL in output


@dataclass
class StartedRun:
    """A `run_pipeline` process (what `make run` runs) on its own demo backup, instance and
    data folder; its output goes to files beside them."""

    data_dir: Path
    dagster_home: Path
    backup: Path
    process: subprocess.Popen
    output: Path
    errors: Path

    def finish(self, timeout: float = 1500) -> subprocess.CompletedProcess:
        """Wait for the run to end and return its exit status and output."""
        try:
            self.process.wait(timeout=timeout)
        finally:
            self.stop()
        return subprocess.CompletedProcess(
            self.process.args,
            self.process.returncode,
            self.output.read_text(),
            self.errors.read_text(),
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def start_pipeline_run(
    root: Path,
    *,
    n_messages: int,
    seed: int,
    canaries: list[str] | None = None,
    config: dict | None = None,
    env: dict[str, str] | None = None,
) -> StartedRun:
    """Write a demo backup under `root` (with `canaries` in place of the planted ones) and
    start materializing everything below it, as `make run` does."""
    data_dir, dagster_home = root / "data", root / "dagster_home"
    # Prepared as `make run` prepares it (test_private_files.py checks every file).
    make_home = ["make", "-s", "dagster-home", f"DAGSTER_HOME={dagster_home}"]
    subprocess.run(make_home, cwd=PROJECT_ROOT, check=True, timeout=60)
    demo = write_demo_backup(data_dir / "backups", n_messages=n_messages, seed=seed)
    if canaries is not None:
        canaries_path_for(demo.path).write_text(json.dumps({"phrase": canaries}), encoding="utf-8")
    command = [sys.executable, "-m", "astrabot_pipeline.run_pipeline"]
    if config is not None:
        command += ["--config-json", json.dumps(config)]
    environment = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "ASTRABOT_DATA_DIR": str(data_dir),
        "ASTRABOT_BACKUP_DIR": str(data_dir / "backups"),
        "SIGNAL_BACKUP_PASSPHRASE": DEMO_PASSPHRASE,
        # CI's profile, whatever the caller's environment says: a real model would not
        # fit the test budget.
        "ASTRABOT_MODEL_PROFILE": "tiny",
        **(env or {}),
    }
    output, errors = root / "run.out", root / "run.err"
    with output.open("w") as out, errors.open("w") as err:
        process = subprocess.Popen(
            command, env=environment, cwd=PROJECT_ROOT, stdout=out, stderr=err, text=True
        )
    return StartedRun(data_dir, dagster_home, demo.path, process, output, errors)


def _start_full_run(root: Path) -> StartedRun:
    egress_log = root / EGRESS_LOG
    python_path = [str(EGRESS_GUARD_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    return start_pipeline_run(
        root,
        n_messages=E2E_MESSAGES,
        seed=7,
        config=E2E_RUN_CONFIG,
        env={"PYTHONPATH": os.pathsep.join(python_path), "ASTRABOT_EGRESS_LOG": str(egress_log)},
    )


def word_every_window_has(n_messages: int, seed: int) -> str:
    """The demo corpus's most frequent plain word: anonymization keeps it, so planted as a
    canary it survives and the privacy gate must fail."""
    corpus = generate_corpus(n_messages=n_messages, seed=seed)
    words = Counter(
        word
        for message in corpus.chat_messages
        for word in re.findall(r"\b[a-z]{5,}\b", message.body or "")
    )
    return words.most_common(1)[0][0]


def _start_gate_failure_run(root: Path) -> StartedRun:
    canary = word_every_window_has(**GATE_FAILURE_BACKUP)
    return start_pipeline_run(root, **GATE_FAILURE_BACKUP, canaries=[canary])


# The e2e layer's pipeline runs, by the fixture that gives each.
RUN_STARTERS = {"pipeline_run": _start_full_run, "gate_failure_run": _start_gate_failure_run}


@pytest.fixture(scope="session")
def started_runs(request, tmp_path_factory) -> Iterator[dict[str, StartedRun]]:
    """The pipeline runs the selected tests use, all started at once: each spends most of
    its time on one core (imports, decoding, anonymization), so on a 2-core machine the
    second one runs in the time the first leaves idle."""
    wanted = {
        name
        for item in request.session.items
        for name in getattr(item, "fixturenames", ())
        if name in RUN_STARTERS
    }
    runs = {name: RUN_STARTERS[name](tmp_path_factory.mktemp(name)) for name in sorted(wanted)}
    yield runs
    for run in runs.values():
        run.stop()


@dataclass
class PipelineRun:
    data_dir: Path
    dagster_home: Path
    backup: Path
    completed: subprocess.CompletedProcess
    egress_log: Path

    def asset_json(self, name: str) -> dict:
        return json.loads((self.data_dir / "assets" / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def pipeline_run(started_runs) -> PipelineRun:
    """One full materialization of the graph under the egress guard (test_egress.py)."""
    started = started_runs["pipeline_run"]
    completed = started.finish()
    egress_log = started.output.parent / EGRESS_LOG
    run = PipelineRun(started.data_dir, started.dagster_home, started.backup, completed, egress_log)
    if completed.returncode != 0 and not only_the_voice_check_failed(completed.stdout):
        pytest.fail(
            f"materialization failed:\n{completed.stdout[-6000:]}{completed.stderr[-3000:]}"
        )
    return run


@pytest.fixture(scope="session")
def gate_failure_run(started_runs) -> subprocess.CompletedProcess:
    """A run on a small demo backup whose planted canary is its most common word, so the
    privacy gate fails (test_run_output.py)."""
    return started_runs["gate_failure_run"].finish()
