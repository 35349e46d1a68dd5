"""A stage's plan: made before the first step from the measured speed, kept with the run,
and read back on resume so a time budget continues the step count it chose."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

from astrabot_pipeline.storage import write_json  # noqa: E402
from astrabot_pipeline.training import StageConfig, build_tiny_base_model, train_lora_stage  # noqa: E402
from astrabot_pipeline.training.budget import steps_for_minutes  # noqa: E402
from astrabot_pipeline.training.chat_records import validate_chat_records  # noqa: E402
from astrabot_pipeline.training.checkpoints import RUNS_DIR  # noqa: E402
from astrabot_pipeline.training.run_key import dataset_hash, run_key  # noqa: E402
from astrabot_pipeline.training.run_plan import PLAN_FILE, RunPlan  # noqa: E402
from astrabot_pipeline_tests.integration.test_training_loop import TRAIN, VALIDATION  # noqa: E402

pytestmark = pytest.mark.slow

# A time budget: the steps come from the probe's measured speed, not from max_steps.
MINUTES = StageConfig("conversational", max_steps=500, batch_size=8, max_minutes=0.02)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    texts = [m["content"] for r in TRAIN + VALIDATION for m in r["messages"]]
    return build_tiny_base_model(texts, tmp_path_factory.mktemp("plan") / "tiny_base")


def test_a_time_budget_trains_the_steps_its_plan_measured_and_logs_the_plan_first(base, tmp_path):
    plans: list[RunPlan] = []
    result = train_lora_stage(base, TRAIN, VALIDATION, tmp_path / "stage", MINUTES,
                              on_plan=plans.append)  # fmt: skip
    [plan] = plans
    assert plan.budget == "minutes:0.02" and not plan.resumed
    assert result.steps == plan.steps == steps_for_minutes(0.02, plan.seconds_per_step)
    assert result.plan == plan.to_dict() and result.steps != MINUTES.max_steps
    assert plan.train_examples == len(TRAIN) and plan.tokens > 0 and plan.estimated_seconds > 0
    assert "kayak" not in str(result.plan)


def test_a_resumed_run_continues_the_plan_it_stored(base, tmp_path):
    out_dir = tmp_path / "stage"
    train = validate_chat_records(TRAIN, "training")
    validation = validate_chat_records(VALIDATION, "validation")
    key = run_key(dataset_hash(train, validation), MINUTES, base, None, "fp32")
    stored = RunPlan("minutes:0.02", len(TRAIN), 8, 3, 300, 100.0, 0.4, 3.0, 3)
    write_json(out_dir / RUNS_DIR / key / PLAN_FILE, stored.to_dict())
    plans: list[RunPlan] = []
    result = train_lora_stage(base, TRAIN, VALIDATION, out_dir, MINUTES, on_plan=plans.append)
    assert plans[0].resumed and plans[0].steps == 3
    assert result.steps == 3 and result.run_key == key
