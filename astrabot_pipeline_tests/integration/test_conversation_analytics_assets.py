"""`window_profiles` and `relationship_dynamics` as Dagster materializes them: one time zone
from the analytics resource, checks that pass, label tables in the metadata, no text."""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from astrabot_pipeline.conversations import RELATIONSHIP_LABELS
from astrabot_pipeline.defs.conversations import relationship_dynamics, window_profiles
from astrabot_pipeline.defs.resources.analytics import ConversationAnalyticsResource
from astrabot_pipeline_tests.unit.test_dataset_builder import _windows


@dg.asset(name="anonymized_windows")
def _anonymized_windows() -> pd.DataFrame:
    return _windows(12)


def _materialize(time_zone: str, raise_on_error: bool = True) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [_anonymized_windows, window_profiles, relationship_dynamics],
        resources={"analytics": ConversationAnalyticsResource(time_zone=time_zone)},
        raise_on_error=raise_on_error,
    )


@pytest.fixture(scope="module")
def result() -> dg.ExecuteInProcessResult:
    return _materialize("Asia/Kolkata")


def test_profiles_and_dynamics_are_built_checked_and_described(result):
    profiles = result.output_for_node("window_profiles")
    dynamics = result.output_for_node("relationship_dynamics")
    assert len(profiles) == 12 and profiles["window_id"].is_unique
    assert list(dynamics["thread_id"]) == [1, 2, 3]
    assert set(dynamics["label"]) <= set(RELATIONSHIP_LABELS)
    checks = {c.check_name: c.passed for c in result.get_asset_check_evaluations()}
    assert checks == {
        "one_profile_per_window": True,
        "one_row_per_thread_with_known_label": True,
    }
    [profile_event] = result.asset_materializations_for_node("window_profiles")
    [dynamics_event] = result.asset_materializations_for_node("relationship_dynamics")
    assert profile_event.metadata["windows"].value == 12
    assert "| topic | count | share |" in profile_event.metadata["topics"].value
    assert "| relationship | count | share |" in dynamics_event.metadata["labels"].value
    assert dynamics_event.metadata["threads"].value == 3


def test_clock_times_are_read_in_the_resource_zone(result):
    """_windows starts at 1970-01-01 00:00 UTC plus minutes: 05:30 in Kolkata."""
    profiles = result.output_for_node("window_profiles")
    utc_hours = pd.to_datetime(profiles["start"], utc=True).dt.hour
    local = pd.to_datetime(profiles["start"], utc=True).dt.tz_convert("Asia/Kolkata").dt.hour
    assert (profiles["start_hour_local"].to_numpy() == local.to_numpy()).all()
    assert (profiles["start_hour_local"].to_numpy() != utc_hours.to_numpy()).any()


def test_metadata_holds_no_message_text(result):
    words = {"question", "sure", "see", "great", "then"}  # every word _windows' texts use
    for node in ("window_profiles", "relationship_dynamics"):
        [event] = result.asset_materializations_for_node(node)
        shown = " ".join(str(value.value) for value in event.metadata.values()).lower()
        assert not any(f" {word} " in f" {shown} " for word in words), node


def test_an_unknown_time_zone_fails_with_its_name_and_a_fix():
    result = _materialize("Mars/Olympus_Mons", raise_on_error=False)
    assert not result.success
    [failure] = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "Mars/Olympus_Mons" in message and "IANA" in message
