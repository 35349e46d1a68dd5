"""Tweet enrichment's switch and instances from the environment."""

from __future__ import annotations

import pytest

from astrabot_pipeline.defs.resources import pipeline_resources
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.settings import NITTER_ENABLED_ENV, NITTER_INSTANCES_ENV, nitter_settings


def test_off_by_default_and_on_when_instances_are_named():
    assert nitter_settings({}) == nitter_settings({NITTER_INSTANCES_ENV: " , "})
    assert not nitter_settings({}).enabled and nitter_settings({}).instances == []
    named = nitter_settings({NITTER_INSTANCES_ENV: "http://127.0.0.1:8080, https://n.example/"})
    assert named.enabled and named.instances == ["http://127.0.0.1:8080", "https://n.example/"]


@pytest.mark.parametrize(("value", "enabled"), [("0", False), ("off", False), ("YES", True)])
def test_the_switch_overrides(value, enabled):
    got = nitter_settings(
        {NITTER_INSTANCES_ENV: "http://127.0.0.1:8080", NITTER_ENABLED_ENV: value}
    )
    assert got.enabled is enabled


def test_a_misspelt_switch_fails_with_the_accepted_values():
    with pytest.raises(SettingError, match="use 1 or 0"):
        nitter_settings({NITTER_ENABLED_ENV: "maybe"})


def test_the_resource_takes_them_from_the_environment(monkeypatch):
    monkeypatch.setenv(NITTER_INSTANCES_ENV, "http://127.0.0.1:9")
    monkeypatch.setenv(NITTER_ENABLED_ENV, "1")
    nitter = pipeline_resources()["nitter"]
    assert nitter.enabled and nitter.instances == ["http://127.0.0.1:9"]
    monkeypatch.delenv(NITTER_INSTANCES_ENV)
    monkeypatch.delenv(NITTER_ENABLED_ENV)
    assert not pipeline_resources()["nitter"].enabled
