"""How many test examples the evaluation scores and ranks, by what the history is.

The generated demo keeps the model profile's sizes (the `small` profile: 48 test examples,
32 of them ranked), so `make run` evaluates within its few minutes. A user's own history is
evaluated to decide: at least as many test examples as the dataset's test slice is built to
hold when the history allows (`DEFAULT_MIN_TEST_EXAMPLES`, 200), every one of them ranked;
its training takes hours, and an evaluation on 32 examples cannot tell a difference under
about 0.15 in ranking accuracy from noise. An explicit setting wins either way.
"""

from __future__ import annotations

from dataclasses import dataclass

from astrabot_pipeline.dataset.split import DEFAULT_MIN_TEST_EXAMPLES
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.quality.ranking import DEFAULT_RANKING_EXAMPLES


@dataclass(frozen=True)
class SampleSizes:
    """At most `test_examples` test examples scored per model; `ranking_examples` of them
    ranked (None: every one)."""

    test_examples: int
    ranking_examples: int | None


def sample_sizes(
    profile_examples: int,
    *,
    generated_demo: bool,
    max_examples: int | None = None,
    ranking_examples: int | None = None,
) -> SampleSizes:
    """The sizes for a run: `max_examples` and `ranking_examples` when set, else the
    profile's on the generated demo and the decide-size on a user's history."""
    for name, value in (("max_examples", max_examples), ("ranking_examples", ranking_examples)):
        if value is not None and value < 1:
            raise SettingError(f"{name} must be at least 1, or unset for the default")
    if max_examples is None:
        max_examples = (
            profile_examples if generated_demo else max(profile_examples, DEFAULT_MIN_TEST_EXAMPLES)
        )
    if ranking_examples is None and generated_demo:
        ranking_examples = DEFAULT_RANKING_EXAMPLES
    return SampleSizes(max_examples, ranking_examples)


__all__ = ["SampleSizes", "sample_sizes"]
