"""The Dagster layer: the asset graph's contract and the new-backup sensor."""

from __future__ import annotations

import fcntl
import subprocess
import sys

import dagster as dg

from astrabot_pipeline.definitions import defs as load_definitions
from astrabot_pipeline.defs.automation import new_backup_sensor
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline_tests.conftest import backdate, legacy_backup_stub

defs = load_definitions()

ASSET_GROUPS = {
    "signal_backup": "ingest",
    "decoded_backup": "ingest",
    "conversation_windows": "conversations",
    "nitter_enriched_windows": "enrichment",
    "anonymized_windows": "privacy",
    "mixed_dataset": "dataset",
    "lora_stage_1_conversational": "training",
    "lora_stage_2_adaptive": "training",
    "lora_stage_3_burst": "training",
    "eval_report": "evaluation",
    # Side branch: analytics of the anonymized windows that the dataset reads.
    "window_profiles": "conversations",
    "relationship_dynamics": "conversations",
}
CHAIN = list(ASSET_GROUPS)[1:10]
ANALYTICS_EDGES = {
    "window_profiles": {"anonymized_windows"},
    "relationship_dynamics": {"anonymized_windows", "window_profiles"},
    "mixed_dataset": {"anonymized_windows", "window_profiles", "relationship_dynamics"},
}


def test_the_loader_finds_every_definition_in_the_defs_modules():
    """No list to keep up to date: whatever a module under `defs/` defines is loaded."""
    import importlib
    import pkgutil

    from dagster._core.definitions.unresolved_asset_job_definition import (
        UnresolvedAssetJobDefinition,
    )

    import astrabot_pipeline.defs as defs_package

    found: dict[str, set[str]] = {"job": set(), "schedule": set(), "sensor": set()}
    for module_info in pkgutil.walk_packages(defs_package.__path__, "astrabot_pipeline.defs."):
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if isinstance(value, dg.SensorDefinition):
                found["sensor"].add(value.name)
            elif isinstance(value, dg.ScheduleDefinition):
                found["schedule"].add(value.name)
            elif isinstance(value, UnresolvedAssetJobDefinition):
                found["job"].add(value.name)
    assert found["sensor"] and found["schedule"] and found["job"]
    assert found["sensor"] == {sensor.name for sensor in defs.sensors}
    assert found["schedule"] == {schedule.name for schedule in defs.schedules}
    assert found["job"] <= {job.name for job in defs.resolve_all_job_defs()}


def test_the_twelve_assets_exist_in_their_groups():
    graph = defs.resolve_asset_graph()
    groups = {key.to_user_string(): graph.get(key).group_name for key in graph.get_all_asset_keys()}
    assert groups == ASSET_GROUPS


def test_each_asset_depends_on_the_one_before_it():
    graph = defs.resolve_asset_graph()
    for upstream, downstream in zip(CHAIN, CHAIN[1:], strict=False):
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(downstream)).parent_keys}
        assert upstream in parents, f"{downstream} should depend on {upstream}"
    parents = graph.get(dg.AssetKey("decoded_backup")).parent_keys
    assert dg.AssetKey("signal_backup") in parents
    for downstream, upstreams in ANALYTICS_EDGES.items():
        parents = {k.to_user_string() for k in graph.get(dg.AssetKey(downstream)).parent_keys}
        assert upstreams <= parents, f"{downstream} should depend on {upstreams}"


def test_every_materializable_asset_has_a_check_and_the_privacy_gate_blocks():
    specs = {
        spec.key: spec
        for assets_def in defs.assets
        if isinstance(assets_def, dg.AssetsDefinition)
        for spec in assets_def.check_specs
    }
    assert set(ASSET_GROUPS) - {"signal_backup"} <= {
        key.asset_key.to_user_string() for key in specs
    }
    gate = dg.AssetCheckKey(dg.AssetKey("anonymized_windows"), "no_known_identifiers_survive")
    assert specs[gate].blocking


def test_sensor_requests_one_run_per_new_backup(tmp_path):
    resource = SignalBackupResource(backup_dir=str(tmp_path), passphrase="unused")
    context = dg.build_sensor_context(resources={"signal": resource})
    assert isinstance(new_backup_sensor(context), dg.SkipReason)
    first = tmp_path / "signal-2026-01-01.backup"
    legacy_backup_stub(first, b"first")
    backdate(first, 120.0)
    request = new_backup_sensor(context)
    assert isinstance(request, dg.RunRequest)
    assert isinstance(new_backup_sensor(context), dg.SkipReason)
    second = tmp_path / "signal-2026-02-01.backup"
    legacy_backup_stub(second, b"second")
    backdate(second, 60.0)
    assert new_backup_sensor(context).run_key != request.run_key


def test_the_sensor_is_on_by_default_and_waits_for_a_backup_still_being_copied(tmp_path):
    assert new_backup_sensor.default_status == dg.DefaultSensorStatus.RUNNING
    resource = SignalBackupResource(backup_dir=str(tmp_path), passphrase="unused")
    context = dg.build_sensor_context(resources={"signal": resource})
    copying = tmp_path / "signal-2026-03-01.backup"
    legacy_backup_stub(copying, b"half of it")  # just written: the copy may still be going on
    skip = new_backup_sensor(context)
    assert isinstance(skip, dg.SkipReason) and "still be copying" in skip.skip_message
    assert context.cursor is None  # nothing recorded: it is looked at again next time
    backdate(copying, 120.0)
    with open(copying, "rb+") as writer:  # a writer holding a lock on it
        fcntl.flock(writer, fcntl.LOCK_EX)
        skip = new_backup_sensor(context)
        assert isinstance(skip, dg.SkipReason) and "locked" in skip.skip_message
    assert isinstance(new_backup_sensor(context), dg.RunRequest)


def test_every_asset_body_runs_under_redact_failures():
    """So no library message (which may quote a chat message) reaches the event log."""
    from astrabot_pipeline.defs.errors import REDACTS_FAILURES

    bodies = {}
    for assets_def in defs.assets:
        if isinstance(assets_def, dg.SourceAsset):
            bodies[assets_def.key.to_user_string()] = assets_def.observe_fn
        else:
            for key in assets_def.keys:
                bodies[key.to_user_string()] = assets_def.op.compute_fn.decorated_fn
    assert set(bodies) == set(ASSET_GROUPS)
    assert [
        name for name, body in bodies.items() if not getattr(body, REDACTS_FAILURES, False)
    ] == []


def test_the_nightly_schedule_only_observes_the_backup(tmp_path):
    """It records the backup's content hash as signal_backup's data version and runs
    nothing below it: heavy stages run only when the sensor sees a new backup."""
    from astrabot_pipeline.defs.automation import backup_observation_job, nightly_backup_observation
    from astrabot_pipeline.defs.ingest import signal_backup
    from astrabot_pipeline.signal.discovery import content_sha256

    assert nightly_backup_observation.default_status == dg.DefaultScheduleStatus.RUNNING
    backup = tmp_path / "signal-2026-01-01.backup"
    legacy_backup_stub(backup, b"nightly")
    resource = SignalBackupResource(backup_dir=str(tmp_path), passphrase="unused")
    scoped = dg.Definitions(
        assets=[signal_backup], jobs=[backup_observation_job], resources={"signal": resource}
    )
    with dg.DagsterInstance.ephemeral() as instance:
        result = scoped.resolve_job_def("observe_signal_backup").execute_in_process(
            instance=instance
        )
        assert result.success
        observations = [
            e.asset_observation_data.asset_observation
            for e in result.all_events
            if e.event_type_value == "ASSET_OBSERVATION"
        ]
        assert [o.asset_key.to_user_string() for o in observations] == ["signal_backup"]
        assert observations[0].tags["dagster/data_version"] == content_sha256(backup)
    # In the real graph too, the job selects the backup alone, nothing below it.
    selected = backup_observation_job.selection.resolve(defs.resolve_asset_graph())
    assert selected == {dg.AssetKey("signal_backup")}


def test_the_local_instance_runs_one_model_step_at_a_time_and_retries_only_crashes(
    tmp_path, monkeypatch
):
    """The dagster.yaml that `make run`/`make dev` copy into DAGSTER_HOME, loaded for real."""
    from pathlib import Path

    from astrabot_pipeline.defs.resources.paths import ACCELERATOR_POOL
    from astrabot_pipeline.training import STAGE_NAMES

    root = Path(__file__).resolve().parents[2]
    (tmp_path / "dagster.yaml").write_text((root / "dagster.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    with dg.DagsterInstance.get() as instance:
        config = instance.get_concurrency_config()
        assert config.run_queue_config.max_concurrent_runs == 1
        assert config.pool_config.default_pool_limit == 1
        assert instance.run_monitoring_enabled
        assert instance.run_retries_enabled and instance.run_retries_max_retries == 1
        assert instance.run_retries_retry_on_asset_or_op_failure is False
    graph = defs.resolve_asset_graph()
    in_pool = {
        key.to_user_string()
        for key in graph.get_all_asset_keys()
        if graph.get(key).is_materializable and ACCELERATOR_POOL in (graph.get(key).pools or set())
    }
    assert in_pool == {*STAGE_NAMES, "eval_report"}


# What the assets need only while they run. Every Dagster process (the `dagster` CLI, the
# code server, the webserver's, the daemon's) loads the definitions, and these took ~9 s
# of each start on a 2-core CPU: spaCy's stop words alone import torch through thinc.
LIBRARIES_ASSETS_IMPORT_WHEN_RUN = (
    "torch",
    "transformers",
    "peft",
    "trl",
    "spacy",
    "thinc",
    "presidio_analyzer",
    "presidio_anonymizer",
)


def test_loading_the_definitions_imports_no_model_or_nlp_library():
    code = (
        "import sys\n"
        "from astrabot_pipeline.definitions import defs\n"
        "defs()\n"
        f"print(sorted(set({LIBRARIES_ASSETS_IMPORT_WHEN_RUN!r}) & set(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "[]", result.stdout
