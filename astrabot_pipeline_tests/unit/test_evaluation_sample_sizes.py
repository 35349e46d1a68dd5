"""The demo keeps the profile's evaluation sizes; a user's history is evaluated to decide."""

from __future__ import annotations

import pytest

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.quality.sample_sizes import SampleSizes, sample_sizes


def test_the_generated_demo_keeps_the_profiles_sizes_and_ranks_32() -> None:
    assert sample_sizes(48, generated_demo=True) == SampleSizes(48, 32)


def test_a_users_history_scores_at_least_200_examples_and_ranks_every_one() -> None:
    assert sample_sizes(48, generated_demo=False) == SampleSizes(200, None)
    assert sample_sizes(400, generated_demo=False) == SampleSizes(400, None)


def test_explicit_settings_win_and_must_be_positive() -> None:
    assert sample_sizes(48, generated_demo=False, max_examples=20, ranking_examples=10) == (
        SampleSizes(20, 10)
    )
    assert sample_sizes(48, generated_demo=True, max_examples=100) == SampleSizes(100, 32)
    with pytest.raises(SettingError, match="ranking_examples"):
        sample_sizes(48, generated_demo=True, ranking_examples=0)
