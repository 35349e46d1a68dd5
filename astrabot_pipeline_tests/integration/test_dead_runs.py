"""A run whose process was killed leaves its pool slot claimed; `fail_dead_runs` (called
by `make run` before it starts a run) fails it and frees the slot, so the next run's
training step is not blocked forever. Runs whose process lives are left alone."""

from __future__ import annotations

import io
import os
import shutil
import time

import dagster as dg
import psutil  # type: ignore[import-untyped]  # no stubs installed
import pytest

from astrabot_pipeline import run_pipeline
from astrabot_pipeline.dead_runs import fail_dead_runs, process_lives, recorded_pid
from astrabot_pipeline_tests.conftest import PROJECT_ROOT
from astrabot_pipeline_tests.dagster_runs import kill, start_holding_run


@pytest.fixture
def dagster_home(tmp_path, monkeypatch):
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")  # pool limit 1
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    return home


def test_a_killed_runs_slot_is_freed_and_the_run_failed_a_live_one_left_alone(
    dagster_home, tmp_path
):
    child = start_holding_run(tmp_path)
    try:
        with dg.DagsterInstance.get() as instance:
            (record,) = instance.get_run_records()
            run_id = record.dagster_run.run_id
            assert recorded_pid(instance, run_id) == child.pid
            held = instance.event_log_storage.get_concurrency_info("gpu").claimed_slots
            assert [slot.run_id for slot in held] == [run_id]

            assert fail_dead_runs(instance) == []  # its process lives: left alone
            assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED
    finally:
        kill(child)

    with dg.DagsterInstance.get() as instance:
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED

        assert fail_dead_runs(instance) == [run_id]

        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("gpu").claimed_slots == []
        assert fail_dead_runs(instance) == []  # nothing left to fail

        @dg.asset(pool="gpu")
        def next_stage() -> int:
            return 1

        # With the slot freed the next run's step in the pool runs (it would wait forever).
        assert dg.materialize([next_stage], instance=instance).success


def test_a_pid_the_system_gave_to_a_later_process_is_not_the_runs():
    this_process_started = psutil.Process().create_time()

    assert process_lives(os.getpid(), since=None)
    assert process_lives(os.getpid(), since=time.time())
    assert not process_lives(os.getpid(), since=this_process_started - 60)


def test_make_run_fails_a_dead_run_before_it_starts_its_own(dagster_home, tmp_path, monkeypatch):
    kill(start_holding_run(tmp_path))

    class EndedAtOnce:  # Dagster itself is not under test here: only what runs before it
        pid, stdout, returncode = -1, None, 3

        def poll(self) -> int:
            return self.returncode

    monkeypatch.setattr(run_pipeline.subprocess, "Popen", lambda *args, **kw: EndedAtOnce())
    out = io.StringIO()

    assert run_pipeline.run("decoded_backup*", None, verbose=True, out=out) == 3

    assert "was interrupted (its process is gone): marked failed" in out.getvalue()
    with dg.DagsterInstance.get() as instance:
        (run,) = instance.get_runs()
        assert run.status == dg.DagsterRunStatus.FAILURE
        assert instance.event_log_storage.get_concurrency_info("gpu").claimed_slots == []
