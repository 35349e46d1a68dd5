"""The `mixed_dataset` asset: splits, JSONL export, dataset card and canaries, as Dagster runs it."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

from astrabot_pipeline.conversations import build_window_profiles, relationship_dynamics
from astrabot_pipeline.data_layout import CANARY_RECORD
from astrabot_pipeline.dataset import read_canaries
from astrabot_pipeline.defs.dataset import DatasetConfig, mixed_dataset
from astrabot_pipeline.defs.privacy import PRIVACY_GATE
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.history_origin import record_history_origin
from astrabot_pipeline_tests.unit.test_dataset_builder import _windows


def record_passed_privacy_gate(instance: dg.DagsterInstance) -> None:
    """An anonymized_windows materialization whose gate passed, as a run records them."""
    instance.report_runless_asset_event(dg.AssetMaterialization(PRIVACY_GATE.asset_key))
    [latest] = instance.fetch_materializations(PRIVACY_GATE.asset_key, limit=1).records
    instance.report_runless_asset_event(
        dg.AssetCheckEvaluation(
            asset_key=PRIVACY_GATE.asset_key,
            check_name=PRIVACY_GATE.name,
            passed=True,
            target_materialization_data=AssetCheckEvaluationTargetMaterializationData(
                storage_id=latest.storage_id, run_id=latest.run_id, timestamp=latest.timestamp
            ),
        )
    )


def run(
    data_dir: Path, instance: dg.DagsterInstance | None = None, **config
) -> tuple[dg.Output, dict[str, dg.AssetCheckResult]]:
    """mixed_dataset on 60 windows; without an `instance`, one whose gate passed."""
    if instance is None:
        instance = dg.DagsterInstance.ephemeral()
        record_passed_privacy_gate(instance)
    windows = _windows(60)
    profiles = build_window_profiles(windows, time_zone="UTC")
    with dg.build_asset_context(instance=instance) as context:
        events = list(
            mixed_dataset(
                context=context,
                config=DatasetConfig(**config),
                paths=AstrabotPathsResource(data_dir=str(data_dir)),
                anonymized_windows=windows,
                relationship_dynamics=relationship_dynamics(windows, profiles, time_zone="UTC"),
                window_profiles=profiles,
            )
        )
    [output] = [e for e in events if isinstance(e, dg.Output)]
    return output, {e.check_name: e for e in events if isinstance(e, dg.AssetCheckResult)}


def test_the_dataset_is_exported_carded_and_checked(tmp_path):
    output, checks = run(tmp_path)
    examples = output.value
    assert set(examples["split"]) == {"train", "validation", "test", "audit"}
    assert checks["no_window_in_both_splits"].passed and checks["every_family_trainable"].passed
    # The audit slice's windows are in no file a stage trains or validates on.
    audit = set(examples.loc[examples["split"] == "audit", "window_id"])
    assert output.metadata["audit_windows"].value == len(audit) > 0
    exported = [
        json.loads(line)["window_id"]
        for path in (tmp_path / "dataset").rglob("*.jsonl")
        for line in path.read_text().splitlines()
    ]
    assert exported and not audit & set(exported)
    test_lines = (tmp_path / "dataset" / "test.jsonl").read_text().splitlines()
    assert len(test_lines) == int((examples["split"] == "test").sum())
    assert {json.loads(line)["kind"] for line in test_lines} == set(examples["kind"])
    card = output.metadata["dataset_card"].value
    assert "| conversational |" in card and "question" not in card
    assert output.metadata["canaries_planted"].value == 0
    assert {"dropped_empty", "dropped_attachment_only", "dropped_duplicates"} <= set(
        output.metadata
    )
    assert not (tmp_path / "canaries" / CANARY_RECORD).exists()


def test_canaries_are_planted_only_when_asked_and_their_record_goes_when_switched_off(tmp_path):
    output, _ = run(tmp_path, plant_canaries=True, canary_count=3)
    record = tmp_path / "canaries" / CANARY_RECORD
    planted = read_canaries(record)
    assert output.metadata["canaries_planted"].value == 3 == len(planted)
    train_text = "".join(
        (tmp_path / "dataset" / kind / "train.jsonl").read_text()
        for kind in ("adaptive", "burst", "conversational")
    )
    assert all(canary.secret in train_text for canary in planted)
    assert planted[0].secret not in (tmp_path / "dataset" / "test.jsonl").read_text()
    run(tmp_path)
    assert not record.exists()


def test_canaries_are_planted_by_default_only_in_the_generated_demo(tmp_path):
    user = tmp_path / "user"
    record_history_origin(user, generated_demo=False)
    output, _ = run(user)
    assert output.metadata["canaries_planted"].value == 0
    demo = tmp_path / "demo"
    record_history_origin(demo, generated_demo=True)
    output, _ = run(demo, canary_count=3)
    assert output.metadata["canaries_planted"].value == 3
    assert len(read_canaries(demo / "canaries" / CANARY_RECORD)) == 3
    output, _ = run(demo, plant_canaries=False)
    assert output.metadata["canaries_planted"].value == 0
