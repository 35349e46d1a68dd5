"""Privacy metrics on hand-computable cases: exposure, exact-match scoring, leakage rates."""

from __future__ import annotations

import math
import random

import pytest

from astrabot_pipeline.evaluation.privacy.leakage_scan import TextScan, summarize
from astrabot_pipeline.evaluation.privacy.memorization import (
    SkewNormal,
    exact_match_rate,
    exposure_from_rank,
    extrapolated_exposure,
    near_match_count,
    random_secrets,
    sampled_exposure,
    token_edit_distance,
)

SPACE = 10**9


def test_exposure_of_the_top_ranked_secret_is_log2_of_the_space_and_of_the_last_is_zero():
    assert exposure_from_rank(1, SPACE) == pytest.approx(math.log2(SPACE))
    assert exposure_from_rank(SPACE, SPACE) == 0.0
    assert exposure_from_rank(2**10, 2**30) == pytest.approx(20.0)


def test_sampled_exposure_of_a_canary_ranked_first_vs_last():
    references = [float(loss) for loss in range(10, 74)]  # 64 references
    first, rank_first = sampled_exposure(1.0, references)
    last, rank_last = sampled_exposure(1000.0, references)
    assert (rank_first, first) == (1, pytest.approx(6.0))  # log2 64 - log2 1
    assert rank_last == 65 and last == pytest.approx(6.0 - math.log2(65))
    middle, rank = sampled_exposure(41.5, references)  # 32 references below it
    assert rank == 33 and middle == pytest.approx(6.0 - math.log2(33))


def test_extrapolated_exposure_follows_the_fitted_distribution():
    rng = random.Random(0)
    references = [rng.gauss(50.0, 4.0) for _ in range(4000)]
    mean = sum(references) / len(references)
    # At the centre of a (nearly) symmetric fit half the candidates score better: 1 bit.
    assert extrapolated_exposure(mean, references, SPACE) == pytest.approx(1.0, abs=0.1)
    # Two standard deviations below: -log2 Phi(-2) = 5.5 bits.
    below = extrapolated_exposure(mean - 2 * 4.0, references, SPACE)
    assert below == pytest.approx(-math.log2(0.5 * math.erfc(2 / math.sqrt(2))), abs=0.5)
    # Ranked first by far: capped at log2 |R|; ranked last by far: 0.
    assert extrapolated_exposure(-1e6, references, SPACE) == pytest.approx(math.log2(SPACE))
    assert extrapolated_exposure(1e6, references, SPACE) == 0.0


def test_skew_normal_cdf_matches_closed_forms():
    # Shape 0 is the normal distribution: log2 Phi(-5) = -21.73.
    assert SkewNormal(0.0, 1.0, 0.0).log_cdf(-5.0) / math.log(2) == pytest.approx(-21.734, abs=1e-3)
    # At the location, a skew-normal's CDF is 1/2 - arctan(shape) / pi.
    assert math.exp(SkewNormal(2.0, 3.0, 3.0).log_cdf(2.0)) == pytest.approx(
        0.5 - math.atan(3.0) / math.pi, abs=1e-5
    )


def test_random_secrets_are_formatted_like_planted_ones_distinct_and_seeded():
    secrets = random_secrets(50, exclude=["381 094 527"], seed=3)
    assert secrets == random_secrets(50, exclude=["381 094 527"], seed=3)
    assert len(set(secrets)) == 50 and "381 094 527" not in secrets
    assert all(len(s) == 11 and s[3] == s[7] == " " for s in secrets)


def test_exact_match_scoring_counts_only_whole_matches():
    targets = [[1, 2, 3], [4, 5, 6], [7, 8, 9], [1, 1, 1]]
    continuations = [[1, 2, 3, 99], [4, 5], [7, 8, 0], [1, 1, 1]]
    assert exact_match_rate(continuations, targets) == (2, 0.5)
    assert exact_match_rate([], []) == (0, 0.0)


def test_near_verbatim_counts_a_continuation_within_a_tenth_of_its_tokens_in_edits():
    assert token_edit_distance([1, 2, 3], [1, 2, 3]) == 0
    assert token_edit_distance([1, 9, 3], [1, 2, 3]) == 1  # a substitution
    assert token_edit_distance([1, 3], [1, 2, 3]) == 1  # a deletion
    assert token_edit_distance([], [1, 2]) == 2 and token_edit_distance([5, 6], []) == 2
    target = list(range(16))
    one_off = [*target[:5], 99, *target[6:]]
    two_off = [99, *target[1:5], 98, *target[6:]]
    # 10 % of 16 tokens is 1.6 edits: one substitution is near-verbatim, two are not.
    assert near_match_count([target, one_off, two_off], [target] * 3) == 2
    # Of 8 tokens only an exact match is within 0.8 edits.
    assert near_match_count([target[:8], one_off[:8]], [target[:8]] * 2) == 1
    # The continuation is read up to its target's length, as the exact match reads it.
    assert near_match_count([[*target, 7, 7]], [target]) == 1


def test_leakage_score_is_generations_with_a_real_identifier_over_generations():
    scans = [
        TextScan(real={"phone": 1}),
        TextScan(real={"name": 2, "phone": 1}),
        TextScan(pseudonyms={"name": 1}),
        TextScan(generic={"PERSON": 1}, canaries=1),
        TextScan(),
    ]
    result = summarize(scans)
    assert result.generations == 5 and result.with_real_identifier == 2
    assert result.pii_leakage_score == pytest.approx(0.4)
    assert result.generations_by_kind == {"name": 1, "phone": 2, "email": 0, "other": 0}
    assert result.pseudonym_rate == pytest.approx(0.2)
    assert result.generic_hits_by_entity == {"PERSON": 1}
    assert result.canary_reproductions == 1
