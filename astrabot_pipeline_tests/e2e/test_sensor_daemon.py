"""A new backup starts a run without a click: the daemon's own sensor evaluation
(`execute_sensor_iteration`, what `dagster-daemon` runs every few seconds) against a live
instance with the local profile (dagster.yaml), the code loaded from workspace.yaml in a
code server process as the daemon loads it.

The local profile queues runs (one at a time), and no run-queue daemon runs here: a
requested run stays QUEUED, so the test sees the request without training anything.
"""

from __future__ import annotations

import itertools
import logging
import shutil
import time
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.scheduler.instigation import TickStatus
from dagster._core.test_utils import create_test_daemon_workspace_context, freeze_time
from dagster._core.workspace.load_target import WorkspaceFileTarget
from dagster._daemon.sensor import execute_sensor_iteration

from astrabot_pipeline.defs.automation import new_backup_sensor
from astrabot_pipeline.signal.discovery import content_sha256
from astrabot_pipeline.synthetic import write_demo_backup
from astrabot_pipeline_tests.conftest import PROJECT_ROOT, backdate

SENSOR = new_backup_sensor.name
JOB = "astrabot_full_pipeline"


@pytest.fixture
def daemon(tmp_path, monkeypatch):
    """(instance, backup folder, one sensor tick): the live instance and code server."""
    home, backups = tmp_path / "dagster_home", tmp_path / "backups"
    home.mkdir()
    backups.mkdir()
    shutil.copy(PROJECT_ROOT / "dagster.yaml", home / "dagster.yaml")
    # The code server the daemon starts inherits this environment.
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("ASTRABOT_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("ASTRABOT_BACKUP_DIR", str(backups))
    monkeypatch.chdir(PROJECT_ROOT)
    logger = logging.getLogger("test_sensor_daemon")
    with (
        dg.DagsterInstance.from_config(str(home)) as instance,
        create_test_daemon_workspace_context(
            WorkspaceFileTarget(paths=[str(PROJECT_ROOT / "workspace.yaml")]), instance
        ) as workspace,
    ):
        entries = workspace.create_request_context().get_code_location_entries().values()
        errors = [entry.load_error for entry in entries if entry.load_error]
        assert not errors, errors

        clock = itertools.count(time.time(), new_backup_sensor.minimum_interval_seconds + 1)

        def tick() -> list:
            # The daemon's clock moves on past the sensor's minimum interval between ticks.
            with freeze_time(next(clock)):
                list(execute_sensor_iteration(workspace, logger, None, None))
            return _ticks(instance)

        yield instance, backups, tick


def _ticks(instance: dg.DagsterInstance) -> list:
    states = [s for s in instance.all_instigator_state() if s.instigator_name == SENSOR]
    assert len(states) == 1, "the sensor is RUNNING by default: the daemon keeps its state"
    state = states[0]
    return instance.get_ticks(state.instigator_origin_id, state.selector_id)  # newest first


def _requested_runs(instance: dg.DagsterInstance) -> list[dg.DagsterRun]:
    return list(instance.get_runs(filters=dg.RunsFilter(job_name=JOB)))


def _copy_in(source: Path, backups: Path, name: str) -> Path:
    target = backups / name
    shutil.copyfile(source, target)
    return target


def test_a_backup_copied_into_the_folder_starts_a_run_once_it_has_settled(daemon, tmp_path):
    instance, backups, tick = daemon
    made = tmp_path / "made"
    first = write_demo_backup(made / "one", n_messages=60, seed=1).path
    second = write_demo_backup(made / "two", n_messages=60, seed=2).path

    newest = tick()[0]
    assert newest.status == TickStatus.SKIPPED
    assert newest.skip_reason == "no backup in the backup folder yet"

    copied = _copy_in(first, backups, "signal-2026-11-20-10-00-00.backup")
    newest = tick()[0]  # just written: it may still be being copied
    assert newest.status == TickStatus.SKIPPED and not _requested_runs(instance)

    backdate(copied, 120)
    newest = tick()[0]
    assert newest.status == TickStatus.SUCCESS, newest.error
    runs = _requested_runs(instance)
    assert len(runs) == 1
    assert runs[0].tags["dagster/run_key"] == content_sha256(copied)
    assert runs[0].status == dg.DagsterRunStatus.QUEUED  # one run at a time: the queue has it

    # The same backup again: nothing new, whatever the minimum interval allows.
    assert tick()[0].status == TickStatus.SKIPPED
    assert len(_requested_runs(instance)) == 1

    backdate(_copy_in(second, backups, "signal-2026-11-21-10-00-00.backup"), 120)
    newest = tick()[0]
    assert newest.status == TickStatus.SUCCESS, newest.error
    assert {run.tags["dagster/run_key"] for run in _requested_runs(instance)} == {
        content_sha256(first),
        content_sha256(second),
    }
