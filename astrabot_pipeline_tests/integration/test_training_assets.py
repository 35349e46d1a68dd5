"""The stage assets: typed StageResults between stages, a skipped family, the loss-curve plot."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest

from astrabot_pipeline.defs.resources.io_manager import AstrabotIOManager
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.defs.resources.training import TrainingResource
from astrabot_pipeline.defs.training import STAGE_ASSETS
from astrabot_pipeline.storage import write_parquet
from astrabot_pipeline.training import CURRICULUM, STAGE_NAMES, StageResult
from astrabot_pipeline.training.loss_plot import LOSS_CURVE_FILE

pytestmark = pytest.mark.slow

PLACES = ["the lighthouse", "the harbour", "the old mill", "the market"]


def example(kind: str, index: int, split: str) -> dict:
    place = PLACES[index % len(PLACES)]
    return {
        "example_id": f"{kind}-{index}",
        "kind": kind,
        "window_id": f"w{index}",
        "thread_id": 1,
        "window_start": pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=index),
        "split": split,
        "messages": [
            {"role": "system", "content": "reply like the owner"},
            {"role": "user", "content": f"where shall we meet, {index % 7}?"},
            {"role": "assistant", "content": f"meet me by {place} at {index % 9}"},
        ],
    }


def mixed_dataset_without(family: str) -> pd.DataFrame:
    """Every family but `family` (as when mixed_dataset skips one too small to split)."""
    rows = [
        example(stage.family, index, "validation" if index % 5 == 0 else "train")
        for stage in CURRICULUM
        if stage.family != family
        for index in range(30)
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def materialized(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("stages") / "data"
    # The first stage trains the budget (one epoch: 24 examples / 4 = 6 steps); the last
    # stage's own max_steps wins over it.
    run_config = {name: {"config": STAGE_CONFIG} for name in STAGE_NAMES}
    run_config[STAGE_NAMES[-1]] = {"config": {**STAGE_CONFIG, "max_steps": 5}}
    result = materialize_stages(data_dir, TrainingResource(budget="epochs:1"), run_config)
    return data_dir, result


STAGE_CONFIG = {"batch_size": 4, "max_length": 96}


def materialize_stages(data_dir, training: TrainingResource, run_config: dict):
    """The three stages on a dataset without the adaptive family, on the tiny model."""
    write_parquet(data_dir / "assets" / "mixed_dataset.parquet", mixed_dataset_without("adaptive"))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("ASTRABOT_MODEL_PROFILE", "tiny")
        result = dg.materialize(
            [dg.AssetSpec("mixed_dataset"), *STAGE_ASSETS],
            resources={
                "paths": AstrabotPathsResource(data_dir=str(data_dir)),
                "io_manager": AstrabotIOManager(base_dir=str(data_dir)),
                "training": training,
            },
            run_config={"ops": run_config},
        )
    assert result.success
    return result


def stage_result(data_dir, name: str) -> StageResult:
    return StageResult.from_dict(json.loads((data_dir / "assets" / f"{name}.json").read_text()))


def test_stage_results_cross_asset_boundaries_typed(materialized):
    data_dir, result = materialized
    first, skipped, last = (result.output_for_node(name) for name in STAGE_NAMES)
    assert all(isinstance(r, StageResult) for r in (first, skipped, last))
    assert stage_result(data_dir, STAGE_NAMES[0]) == first
    assert first.profile == "tiny" and first.max_length == 96
    # The owner's burst length (every reply here is one line) is stored with the adapter.
    stored = json.loads((Path(last.adapter_dir) / "stage_result.json").read_text())
    assert first.reply_line_cap == last.reply_line_cap == stored["reply_line_cap"] == 1


def test_a_family_with_no_examples_passes_the_previous_adapter_on(materialized):
    _, result = materialized
    first, skipped, last = (result.output_for_node(name) for name in STAGE_NAMES)
    assert skipped.skipped and skipped.stage == STAGE_NAMES[1]
    assert skipped.adapter_dir == first.adapter_dir
    assert not last.skipped and last.adapter_dir != first.adapter_dir
    assert last.base_model == first.base_model


def test_each_trained_stage_carries_its_loss_curve_plot(materialized):
    _, result = materialized
    for name in (STAGE_NAMES[0], STAGE_NAMES[2]):
        [materialization] = result.asset_materializations_for_node(name)
        markdown = materialization.metadata["loss_curve_plot"].value
        prefix = "![loss curve](data:image/png;base64,"
        assert markdown.startswith(prefix)
        png = base64.b64decode(markdown[len(prefix) : -1])
        adapter_dir = result.output_for_node(name).adapter_dir
        assert png == (Path(adapter_dir) / LOSS_CURVE_FILE).read_bytes()
        assert png.startswith(b"\x89PNG\r\n\x1a\n")


def test_the_budget_sets_the_steps_unless_a_stage_sets_max_steps_and_the_plan_is_recorded(
    materialized,
):
    _, result = materialized
    first, last = (result.output_for_node(name) for name in (STAGE_NAMES[0], STAGE_NAMES[2]))
    assert first.steps == 6 and first.plan["budget"] == "epochs:1"
    assert last.steps == 5 and last.plan["budget"] == "steps:5"
    for name, budget, steps in ((STAGE_NAMES[0], "epochs:1", 6), (STAGE_NAMES[2], "max_steps", 5)):
        [materialization] = result.asset_materializations_for_node(name)
        metadata = {key: value.value for key, value in materialization.metadata.items()}
        assert metadata["training_budget"] == budget
        assert metadata["plan_steps"] == metadata["actual_steps"] == steps
        assert metadata["plan_tokens"] > 0 and metadata["actual_tokens"] > 0
        assert metadata["plan_estimated_seconds"] > 0 and metadata["plan_tokens_per_second"] > 0


def test_curriculum_single_trains_one_adapter_on_every_family_with_the_chains_budget(tmp_path):
    result = materialize_stages(
        tmp_path / "data",
        TrainingResource(budget="epochs:1", curriculum="single"),
        {name: {"config": STAGE_CONFIG} for name in STAGE_NAMES},
    )
    first, *later = (result.output_for_node(name) for name in STAGE_NAMES)
    # One epoch of both families' 24 training examples each: 48 / 4 = 12 steps.
    assert first.train_examples == 48 and first.steps == 12 and not first.skipped
    assert all(stage.skipped and stage.adapter_dir == first.adapter_dir for stage in later)
