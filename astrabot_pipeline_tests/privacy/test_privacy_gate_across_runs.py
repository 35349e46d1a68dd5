"""The privacy gate holds across runs: Dagster's `blocking=True` only skips what is
downstream within the run that evaluated the check, so `mixed_dataset` itself refuses to
build training data on an `anonymized_windows` whose gate failed or never ran (a later run
selecting only the dataset, or a click in the UI)."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from astrabot_pipeline.defs.privacy import (
    PRIVACY_GATE,
    anonymized_windows,
    require_passed_privacy_gate,
)
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.defs.resources.io_manager import AstrabotIOManager
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.privacy.canaries import canaries_path_for
from astrabot_pipeline.privacy.validator import PrivacyGateError
from astrabot_pipeline.storage import write_parquet
from astrabot_pipeline.synthetic import write_demo_backup
from astrabot_pipeline_tests.integration.test_mixed_dataset_asset import run as run_mixed_dataset

from .conftest import recipients_frame
from .test_scope import _messages, _names, _threads

# Not a name, number or e-mail: nothing replaces it, so the gate catches it when planted.
CANARY = "zebra quartz umbrella"


def _prepare(data_dir: Path) -> Path:
    """The upstream assets as files where the IO manager reads them; the backup folder."""
    assets = data_dir / "assets"
    messages = _messages().assign(tweet_text=None)
    messages.loc[0, "body"] = f"remember {CANARY} ok"
    write_parquet(assets / "nitter_enriched_windows.parquet", messages)
    decoded = {"recipients": recipients_frame(), "recipient_names": _names(), "threads": _threads()}
    for name, frame in decoded.items():
        write_parquet(assets / "decoded_backup" / f"{name}.parquet", frame)
    return write_demo_backup(data_dir / "backups", n_messages=50, seed=1).path


def _plant(backup: Path, canaries: list[str]) -> None:
    canaries_path_for(backup).write_text(json.dumps({"phrase": canaries}), encoding="utf-8")


def _materialize_anonymized(data_dir: Path, instance: dg.DagsterInstance) -> bool:
    result = dg.materialize(
        [
            dg.AssetSpec("nitter_enriched_windows"),
            dg.AssetSpec("decoded_backup"),
            anonymized_windows,
        ],
        selection=[anonymized_windows],
        raise_on_error=False,  # a failed blocking check fails the run
        instance=instance,
        resources={
            "paths": AstrabotPathsResource(data_dir=str(data_dir)),
            "signal": SignalBackupResource(backup_dir=str(data_dir / "backups")),
            "io_manager": AstrabotIOManager(base_dir=str(data_dir)),
        },
    )
    evaluations = result.get_asset_check_evaluations()
    [gate] = [e for e in evaluations if e.asset_check_key == PRIVACY_GATE]
    return gate.passed


def test_the_dataset_is_refused_after_a_failed_gate_and_built_once_it_passes(tmp_path):
    data_dir = tmp_path / "data"
    backup = _prepare(data_dir)
    with dg.instance_for_test() as instance:
        with pytest.raises(PrivacyGateError, match="no materialization"):
            require_passed_privacy_gate(instance)

        _plant(backup, [CANARY])
        assert not _materialize_anonymized(data_dir, instance)  # the canary survived
        with pytest.raises(PrivacyGateError, match="failed its privacy gate"):
            require_passed_privacy_gate(instance)
        # The asset itself refuses before writing anything (a separate run, as from the UI).
        with pytest.raises(dg.Failure, match="failed its privacy gate"):
            run_mixed_dataset(tmp_path / "out", instance=instance)
        assert not (tmp_path / "out" / "dataset").exists()

        _plant(backup, [])  # nothing planted any more: the same text now passes
        assert _materialize_anonymized(data_dir, instance)
        require_passed_privacy_gate(instance)
        output, _ = run_mixed_dataset(tmp_path / "out", instance=instance)
        assert len(output.value) > 0

        # A newer materialization without a check result of its own is not vouched for.
        instance.report_runless_asset_event(dg.AssetMaterialization(PRIVACY_GATE.asset_key))
        with pytest.raises(PrivacyGateError, match="no privacy gate result"):
            require_passed_privacy_gate(instance)
