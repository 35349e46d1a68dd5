"""Runs whose process died, failed so that a new run can go on.

A run whose process is killed (SIGKILL, out of memory, the machine switched off) stays
STARTED in Dagster's run storage, and the `gpu` pool slot its training or evaluation step
had claimed stays claimed. The next run's step in that pool then waits for the slot
forever ("Step blocked by limit for pool gpu"), so resuming a long run after such an
interruption never trains. The daemon's run monitoring fails such runs (`make dev`, the
compose deployment run it); `make run` and the benchmarks start no daemon, so they call
`fail_dead_runs` before they start a run.

A run counts as dead only where that is certain: the instance is the local one (SQLite
storage under DAGSTER_HOME, which only this machine's processes write), the run's
in-process executor recorded its pid, and no process with that pid has existed since the
run started (a pid the system gave to a later process does not count as the run's).
"""

from __future__ import annotations

import dagster as dg
import psutil  # type: ignore[import-untyped]  # no stubs installed

# The statuses of a run that has not ended; a dead process leaves its run in one of them.
UNFINISHED = (
    dg.DagsterRunStatus.STARTING,
    dg.DagsterRunStatus.STARTED,
    dg.DagsterRunStatus.CANCELING,
)
ENGINE_EVENTS_READ = 20  # the in-process executor's pid event is among a run's first
# The run storage of a local instance (dagster.yaml's `storage: sqlite`, and the default).
# Dagster exports no public name for it, nor a public way to ask whether runs are local,
# so the class is recognised by its name: no private module is imported.
LOCAL_RUN_STORAGE = "SqliteRunStorage"


def is_local_instance(instance: dg.DagsterInstance) -> bool:
    """Whether the instance keeps its runs in SQLite under DAGSTER_HOME, which only this
    machine's processes write."""
    return any(kind.__name__ == LOCAL_RUN_STORAGE for kind in type(instance.run_storage).__mro__)


def recorded_pid(instance: dg.DagsterInstance, run_id: str) -> int | None:
    """The pid the run's in-process executor recorded ("Executing steps in process"), or
    None before it has recorded one."""
    records = instance.get_records_for_run(
        run_id, of_type=dg.DagsterEventType.ENGINE_EVENT, limit=ENGINE_EVENTS_READ
    ).records
    for record in records:
        event = record.event_log_entry.dagster_event
        metadata = getattr(event.event_specific_data, "metadata", None) if event else None
        pid_entry = metadata.get("pid") if metadata else None
        value = getattr(pid_entry, "value", None)
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            return int(value)
    return None


def process_lives(pid: int, since: float | None) -> bool:
    """Whether process `pid` exists and was created no later than `since` (a timestamp;
    None: any process with that pid counts)."""
    try:
        created = psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return False
    except psutil.AccessDenied:
        return True  # it exists; whose it is cannot be told, so it is not failed
    return since is None or created <= since


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Fail every unfinished run of the local instance whose process is gone and free the
    pool slots it held; the ids of the runs failed (none on a shared, non-SQLite instance,
    whose runs may live on other machines)."""
    if not is_local_instance(instance):
        return []
    failed = []
    for record in instance.get_run_records(filters=dg.RunsFilter(statuses=list(UNFINISHED))):
        run = record.dagster_run
        pid = recorded_pid(instance, run.run_id)
        if pid is None or process_lives(pid, record.start_time):
            continue
        instance.report_run_failed(
            run,
            f"its process (pid {pid}) is gone: it was killed, ran out of memory or the "
            "machine stopped; a new run resumes training from the last checkpoint",
        )
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        failed.append(run.run_id)
    return failed
