"""One full materialization of the graph as `make run` does it (`run_pipeline.py` running
`dagster asset materialize`), shared by e2e tests."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup
from astrabot_pipeline.training import STAGE_NAMES
from astrabot_pipeline_tests.conftest import PROJECT_ROOT

# 15 threads, about 670 training examples and 40 test examples: enough for every stage and
# check to have data, and for the canaries the demo plants.
E2E_MESSAGES = 1_500
# A sitecustomize that records and refuses every non-loopback connection (test_egress.py).
EGRESS_GUARD_DIR = Path(__file__).resolve().parent / "egress_guard"
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
class PipelineRun:
    data_dir: Path
    dagster_home: Path
    backup: Path
    completed: subprocess.CompletedProcess
    egress_log: Path

    def asset_json(self, name: str) -> dict:
        return json.loads((self.data_dir / "assets" / f"{name}.json").read_text())


@pytest.fixture(scope="session")
def pipeline_run(tmp_path_factory) -> PipelineRun:
    root = tmp_path_factory.mktemp("e2e")
    data_dir, dagster_home = root / "data", root / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
    demo = write_demo_backup(data_dir / "backups", n_messages=E2E_MESSAGES, seed=7)
    egress_log = root / "egress.log"
    python_path = [str(EGRESS_GUARD_DIR), *filter(None, [os.environ.get("PYTHONPATH")])]
    env = {
        **os.environ,
        "DAGSTER_HOME": str(dagster_home),
        "ASTRABOT_DATA_DIR": str(data_dir),
        "ASTRABOT_BACKUP_DIR": str(data_dir / "backups"),
        "SIGNAL_BACKUP_PASSPHRASE": DEMO_PASSPHRASE,
        "PYTHONPATH": os.pathsep.join(python_path),
        "ASTRABOT_EGRESS_LOG": str(egress_log),
        # CI's profile, whatever the caller's environment says: a real model would not
        # fit the test budget.
        "ASTRABOT_MODEL_PROFILE": "tiny",
    }
    command = [
        sys.executable,
        "-m",
        "astrabot_pipeline.run_pipeline",
        "--config-json",
        json.dumps(E2E_RUN_CONFIG),
    ]
    completed = subprocess.run(
        command, env=env, cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=1500
    )
    run = PipelineRun(data_dir, dagster_home, demo.path, completed, egress_log)
    if completed.returncode != 0 and not only_the_voice_check_failed(completed.stdout):
        pytest.fail(
            f"materialization failed:\n{completed.stdout[-6000:]}{completed.stderr[-3000:]}"
        )
    return run
