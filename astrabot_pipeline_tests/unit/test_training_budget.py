"""The training budget: parsing, the default per history, and the steps each budget gives."""

from __future__ import annotations

import pytest

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.history_origin import (
    is_generated_demo_backup,
    is_generated_demo_history,
    record_history_origin,
)
from astrabot_pipeline.synthetic import write_demo_backup
from astrabot_pipeline.training import get_model_profile
from astrabot_pipeline.training.budget import (
    TrainBudget,
    TrainBudgetError,
    parse_train_budget,
    resolve_train_budget,
    steps_for_minutes,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("demo", TrainBudget("demo")),
        (" Epochs:2 ", TrainBudget("epochs", 2.0)),
        ("epochs:0.5", TrainBudget("epochs", 0.5)),
        ("minutes:90", TrainBudget("minutes", 90.0)),
    ],
)
def test_budgets_parse(text, expected):
    assert parse_train_budget(text) == expected
    assert parse_train_budget(str(expected)) == expected


@pytest.mark.parametrize("text", ["weeks:2", "epochs", "epochs:", "epochs:-1", "minutes:0",
                                  "minutes:inf", "epochs:two", "demo:3", "60"])  # fmt: skip
def test_an_unreadable_budget_is_a_setting_error_that_shows_the_forms(text):
    with pytest.raises(TrainBudgetError) as caught:
        parse_train_budget(text)
    assert isinstance(caught.value, SettingError)
    assert "epochs:" in str(caught.value)


def test_the_demo_trains_the_demo_budget_and_any_other_history_one_epoch():
    assert resolve_train_budget(None, generated_demo=True, environ={}) == TrainBudget("demo")
    assert resolve_train_budget("", generated_demo=False, environ={}) == TrainBudget("epochs", 1)


def test_the_launchpad_wins_over_the_environment_which_wins_over_the_default():
    environ = {"ASTRABOT_TRAIN_BUDGET": "minutes:30"}
    assert resolve_train_budget(None, generated_demo=True, environ=environ).kind == "minutes"
    assert resolve_train_budget("epochs:3", generated_demo=True, environ=environ) == TrainBudget(
        "epochs", 3
    )


def test_each_budget_sets_its_own_stage_setting_and_epochs_scale_with_the_examples():
    profile = get_model_profile("small")
    demo = profile.stage_config("s", **TrainBudget("demo").stage_overrides())
    assert demo.planned_steps(10_000) == profile.max_steps
    epochs = profile.stage_config("s", **TrainBudget("epochs", 2).stage_overrides())
    # batch 2, no accumulation: 10,000 examples are 5,000 steps per epoch.
    assert epochs.planned_steps(10_000) == 10_000
    assert epochs.planned_steps(101) == 102
    minutes = profile.stage_config("s", **TrainBudget("minutes", 5).stage_overrides())
    assert minutes.max_minutes == 5


def test_a_time_budget_takes_the_steps_that_fit_at_the_measured_speed():
    assert steps_for_minutes(10, 2.5) == 240
    assert steps_for_minutes(0.01, 30.0) == 1
    with pytest.raises(TrainBudgetError):
        steps_for_minutes(10, 0.0)


def test_the_generated_demo_is_recognised_and_a_plain_backup_is_not(tmp_path):
    demo = write_demo_backup(tmp_path / "demo", n_messages=150, seed=2)
    assert is_generated_demo_backup(demo.path)
    user = tmp_path / "mine" / "signal-2025.backup"
    user.parent.mkdir()
    user.write_bytes(demo.path.read_bytes())  # the same bytes, without the demo's manifest
    assert not is_generated_demo_backup(user)


def test_the_recorded_origin_is_read_back_and_a_missing_record_means_not_the_demo(tmp_path):
    assert not is_generated_demo_history(tmp_path)
    record_history_origin(tmp_path, generated_demo=True)
    assert is_generated_demo_history(tmp_path)
    record_history_origin(tmp_path, generated_demo=False)
    assert not is_generated_demo_history(tmp_path)
