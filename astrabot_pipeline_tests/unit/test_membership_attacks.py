"""The membership audit's arithmetic: attack scores from per-token figures, ROC AUC and TPR
at low FPR, and bootstrap intervals that say what the sample can decide."""

from __future__ import annotations

import numpy as np
import pytest

from astrabot_pipeline.evaluation.privacy.membership import (
    RecordScore,
    attack_scores,
    audit_membership,
    compressed_size,
    roc_auc,
    tpr_at_fpr,
)


def test_auc_counts_pairs_a_member_wins_and_half_the_ties():
    members = np.array([True, True, False, False])
    assert roc_auc(np.array([3.0, 1.0, 2.0, 0.0]), members)[0] == pytest.approx(0.75)
    assert roc_auc(np.array([3.0, 2.0, 1.0, 0.0]), members)[0] == 1.0
    assert roc_auc(np.array([0.0, 1.0, 2.0, 3.0]), members)[0] == 0.0
    assert roc_auc(np.ones(4), members)[0] == 0.5


def test_tpr_at_low_fpr_counts_members_above_what_that_share_of_non_members_exceeds():
    outside = np.arange(100) / 100  # 0.00 … 0.99
    inside = np.array([0.985, 0.5, 2.0, 3.0])
    scores = np.concatenate([inside, outside])
    members = np.arange(len(scores)) < len(inside)
    # 1 % of 100 non-members may be exceeded: the threshold is the second highest, 0.98.
    assert tpr_at_fpr(scores, members, 0.01)[0] == 0.75
    # Below one non-member's share nothing may be exceeded: above the highest, 0.99.
    assert tpr_at_fpr(scores, members, 0.001)[0] == 0.5  # 0.985 is no longer above
    assert tpr_at_fpr(np.concatenate([[0.99], outside]), np.arange(101) < 1, 0.001)[0] == 0.0


def record(log_probs, standardized=None) -> RecordScore:
    return RecordScore(tuple(log_probs), tuple(standardized or log_probs))


def test_each_attack_scores_what_it_says():
    tuned = [record([-1.0, -1.0]), record([-2.0, -2.0])]
    base = [record([-4.0, -4.0]), record([-2.5, -2.5])]
    scores = attack_scores(tuned, [10, 40], base=base)
    assert scores["loss"].tolist() == [-1.0, -2.0]
    assert scores["zlib"].tolist() == [-0.1, -0.05]
    # base loss / tuned loss: the first fell from 4 to 1 (4x), the second from 2.5 to 2.
    assert scores["reference"].tolist() == pytest.approx([4.0, 1.25])
    assert "reference" not in attack_scores(tuned, [10, 40])
    # Min-K%++: the mean of the lowest 20 % of the standardized tokens (at least one).
    ten = record([-1.0] * 10, [5, 4, 3, 2, 1, 0, -1, -2, -3, -4])
    assert attack_scores([ten], [1])["min_k_pp"].tolist() == [-3.5]
    assert attack_scores([record([-1.0], [2.0])], [1])["min_k_pp"].tolist() == [2.0]


def test_a_record_without_scored_tokens_is_refused():
    with pytest.raises(ValueError, match="at least one scored token"):
        RecordScore((), ())


def test_compressed_size_is_smaller_for_repetitive_text():
    assert compressed_size("ha" * 200) < compressed_size("the quick brown fox jumps over it")


def _scores(rng, n_in, n_out, shift):
    values = np.concatenate([rng.normal(shift, 1, n_in), rng.normal(0, 1, n_out)])
    return {"loss": values, "zlib": values, "min_k_pp": values}


def test_an_attack_that_separates_members_is_found_and_one_that_cannot_sits_near_chance():
    rng = np.random.default_rng(3)
    members = [True] * 150 + [False] * 150
    base = _scores(rng, 150, 150, 0.0)
    tuned = {**_scores(rng, 150, 150, 3.0)}
    tuned["reference"] = tuned["loss"]
    audit = audit_membership(base, tuned, members, resamples=1000, seed=1)
    assert (audit.members, audit.non_members) == (150, 150)
    separated = audit.tuned["reference"].auc
    assert separated.low > 0.9 and separated.low <= separated.value <= separated.high
    chance = audit.base["loss"].auc
    assert chance.low < 0.5 < chance.high and chance.high - chance.low < 0.2
    assert "reference" not in audit.base  # the base is no reference for itself
    # The tuned model's attack is clearly stronger: "worse" for privacy, lower is better.
    assert audit.auc_differences["loss"].outcome == "worse"
    assert audit.auc_differences["loss"].low > 0.3


def test_tpr_at_an_fpr_needs_enough_non_members_to_be_measured():
    rng = np.random.default_rng(4)
    members = [True] * 50 + [False] * 150
    audit = audit_membership(
        _scores(rng, 50, 150, 0.0), _scores(rng, 50, 150, 1.0), members, resamples=1000
    )
    result = audit.tuned["loss"]
    assert result.tpr_at_fpr[0.01] is not None  # always reported
    assert result.tpr_at_fpr[0.001] is None  # 0.1 % needs 1,000 non-members
    assert audit.to_dict()["tuned"]["loss"]["tpr_at_fpr"]["0.001"] is None


def test_the_audit_is_seeded_and_needs_both_kinds_of_record():
    rng = np.random.default_rng(5)
    scores = _scores(rng, 30, 30, 0.5)
    members = [True] * 30 + [False] * 30
    first = audit_membership(scores, scores, members, resamples=1000, seed=7).to_dict()
    assert first == audit_membership(scores, scores, members, resamples=1000, seed=7).to_dict()
    assert first["auc_differences"]["loss"]["difference"] == 0.0
    with pytest.raises(ValueError, match="members and non-members"):
        audit_membership(scores, scores, [True] * 60)
