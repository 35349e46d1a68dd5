"""The voice benchmark resumes a run whose process was killed: the dead attempt is failed
(freeing the pool slot) and the steps' times count the interrupted attempt beside the one
that finished, read from the Dagster home's event log."""

from __future__ import annotations

import shutil
import sys

import dagster as dg

from astrabot_pipeline_tests.conftest import PROJECT_ROOT
from astrabot_pipeline_tests.dagster_runs import PROGRESS_AFTER, STEP, kill, start_holding_run

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))

import bench_voice  # noqa: E402


def test_a_killed_attempt_and_its_resume_are_both_in_the_steps_history(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    kill(start_holding_run(tmp_path))

    (killed,) = bench_voice.fail_interrupted_runs(home)

    @dg.asset(name=STEP, pool="gpu")
    def resumed() -> int:
        return 1

    with dg.DagsterInstance.get() as instance:
        assert dg.materialize([resumed], instance=instance).success
    history = bench_voice.read_history(home)

    assert history.succeeded
    first, second = history.attempts[STEP]
    assert (first.finished, second.finished) == (False, True)
    assert first.start <= first.end < second.start <= second.end
    assert first.end - first.start >= PROGRESS_AFTER  # to its last log line, not its start
    assert history.seconds >= (first.end - first.start) + (second.end - second.start)
    (usage,) = bench_voice.step_usage(history.attempts, [])
    assert (usage.earlier_attempts, usage.seconds) == (1, second.end - second.start)
    assert bench_voice.fail_interrupted_runs(home) == []  # the killed one is failed
    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(killed).status == dg.DagsterRunStatus.FAILURE
