"""Durations as the progress lines write them."""

from __future__ import annotations

import pytest

from astrabot_pipeline.durations import minutes_seconds


@pytest.mark.parametrize(
    ("seconds", "written"),
    [
        (0, "0m00s"),
        (59.4, "0m59s"),
        (59.6, "1m00s"),
        (262.4, "4m22s"),
        (3725, "62m05s"),
        (-3, "0m00s"),
    ],
)
def test_seconds_are_written_as_minutes_and_seconds(seconds, written):
    assert minutes_seconds(seconds) == written
