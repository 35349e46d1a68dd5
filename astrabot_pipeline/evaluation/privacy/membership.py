"""Membership inference: can an attacker tell the examples a model was trained on from
examples it never saw? The figures a privacy researcher asks for, from per-record scores.

Each attack gives every record a score, higher meaning "more likely a member":

- `loss`: the mean log-probability of the record's scored tokens (Yeom et al. 2018; the
  baseline of Carlini et al. 2021, "Extracting Training Data from Large Language Models").
- `reference`: the loss ratio against the base model as reference, base loss / tuned loss
  (Carlini et al. 2021's comparison with a reference model; Mattern et al. 2023 on
  reference attacks): the examples the fine-tune lowered most relative to where the base
  already had them. The strongest cheap attack on a fine-tune; for the base model itself it
  is undefined.
- `zlib`: the loss relative to the text's zlib-compressed size in bytes (Carlini et al.
  2021): repetitive text is likely for any model, so its likelihood says little.
- `min_k_pp`: Min-K%++ (Zhang et al. 2024): the mean of the lowest k % of the tokens'
  standardized log-probabilities ((log p(x) − μ) / σ, μ and σ of the model's own
  distribution at that position): training pulls a token above what the model expects
  there, and the least expected tokens show it most.

For each attack and model: the ROC AUC (the probability that a random member scores above
a random non-member, ties half) and the true-positive rate at a low false-positive rate (the
share of members scored above the threshold that at most that share of non-members
exceed, Carlini et al. 2022, "Membership Inference Attacks From First Principles": an attack
that identifies a few members with confidence matters more than an average). TPR at 1 %
FPR is always reported (with fewer than 100 non-members none may be exceeded, so it is
the TPR at no false positive at all); TPR at 0.1 % FPR needs at least 1,000 non-members,
else it is not reported. Every figure gets a seeded
percentile bootstrap 95 % interval, members and non-members resampled apart (their counts
fixed), and the tuned-minus-base difference is resampled in pairs (the same draw for both
models), so it carries its own interval.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.quality.bootstrap import (
    CONFIDENCE,
    DEFAULT_RESAMPLES,
    Comparison,
    resample_indices,
)

ATTACKS = ("loss", "reference", "zlib", "min_k_pp")
# Attacks defined for a model on its own (the reference attack needs a tuned model and its base).
SELF_ATTACKS = ("loss", "zlib", "min_k_pp")
DEFAULT_MIN_K = 0.2  # Min-K%++'s k: the lowest 20 % of the tokens (Zhang et al. 2024)
LOW_FPRS = (0.01, 0.001)
# The non-members a TPR at each low FPR needs to be reported.
MIN_NON_MEMBERS = {0.01: 1, 0.001: 1000}


@dataclass(frozen=True)
class RecordScore:
    """One record under one model: its scored tokens' log-probabilities (nats) and their
    standardized values (`lm_batches.TokenScore`)."""

    log_probs: tuple[float, ...]
    standardized: tuple[float, ...]

    def __post_init__(self) -> None:
        if not self.log_probs or len(self.log_probs) != len(self.standardized):
            raise ValueError("a record needs at least one scored token, each with both values")

    @property
    def mean_log_prob(self) -> float:
        return sum(self.log_probs) / len(self.log_probs)

    def min_k_pp(self, k: float = DEFAULT_MIN_K) -> float:
        lowest = sorted(self.standardized)[: max(1, math.ceil(len(self.standardized) * k))]
        return sum(lowest) / len(lowest)


def compressed_size(text: str) -> int:
    """The text's zlib-compressed size in bytes (level 9), the `zlib` attack's reference."""
    return len(zlib.compress(text.encode("utf-8"), 9))


def attack_scores(
    records: Sequence[RecordScore],
    compressed_sizes: Sequence[int],
    *,
    base: Sequence[RecordScore] | None = None,
    k: float = DEFAULT_MIN_K,
) -> dict[str, np.ndarray]:
    """Every attack's score of each record (higher: more likely a member). With the base
    model's scores of the same records, the `reference` attack too."""
    if not 0 < k <= 1:
        raise SettingError("Min-K%++'s k must be in (0, 1]")
    if len(compressed_sizes) != len(records) or (base is not None and len(base) != len(records)):
        raise ValueError("every record needs its compressed size (and its base score)")
    mean = np.array([r.mean_log_prob for r in records])
    scores = {
        "loss": mean,
        "zlib": mean / np.maximum(np.asarray(compressed_sizes, dtype=float), 1.0),
        "min_k_pp": np.array([r.min_k_pp(k) for r in records]),
    }
    if base is not None:
        base_mean = np.array([r.mean_log_prob for r in base])
        # base loss / tuned loss; a loss of 0 (a certain token) is kept off the division.
        scores["reference"] = -base_mean / np.maximum(-mean, 1e-9)
    return scores


def roc_auc(scores: np.ndarray, members: np.ndarray) -> np.ndarray:
    """The ROC AUC of each row of `scores` (rows x records) with `members` the labels of
    its columns (rows x records, True for a member): P(member > non-member) + ½ P(tie)."""
    scores, members = np.atleast_2d(scores), np.atleast_2d(members)
    out = np.empty(len(scores))
    for row, (values, labels) in enumerate(zip(scores, members, strict=True)):
        outside = np.sort(values[~labels])
        inside = values[labels]
        below = np.searchsorted(outside, inside, side="left")
        tied = np.searchsorted(outside, inside, side="right") - below
        out[row] = (below.sum() + 0.5 * tied.sum()) / (len(inside) * len(outside))
    return out


def tpr_at_fpr(scores: np.ndarray, members: np.ndarray, fpr: float) -> np.ndarray:
    """Per row: the share of members scored strictly above the threshold that at most
    `fpr` of the non-members exceed (the floor(fpr · non-members)-th highest non-member)."""
    scores, members = np.atleast_2d(scores), np.atleast_2d(members)
    out = np.empty(len(scores))
    for row, (values, labels) in enumerate(zip(scores, members, strict=True)):
        outside = np.sort(values[~labels])[::-1]
        threshold = outside[min(math.floor(fpr * len(outside)), len(outside) - 1)]
        out[row] = float(np.mean(values[labels] > threshold))
    return out


@dataclass(frozen=True)
class Estimate:
    """A figure and its bootstrap 95 % interval."""

    value: float
    low: float
    high: float

    def to_dict(self) -> dict[str, float]:
        return {"value": self.value, "low": self.low, "high": self.high}


@dataclass(frozen=True)
class AttackResult:
    """One attack on one model: AUC and TPR at each low FPR (None: too few non-members)."""

    attack: str
    auc: Estimate
    tpr_at_fpr: Mapping[float, Estimate | None]

    def to_dict(self) -> dict[str, Any]:
        return {
            "auc": self.auc.to_dict(),
            "tpr_at_fpr": {
                f"{fpr:g}": None if found is None else found.to_dict()
                for fpr, found in self.tpr_at_fpr.items()
            },
        }


def _stratified_draws(members: np.ndarray, resamples: int, seed: int) -> np.ndarray:
    """Index rows that redraw the members among the members and the non-members among the
    non-members, so every draw keeps both counts."""
    inside, outside = np.flatnonzero(members), np.flatnonzero(~members)
    draw_in = inside[resample_indices(len(inside), resamples, seed)]
    draw_out = outside[resample_indices(len(outside), resamples, seed + 1)]
    return np.concatenate([draw_in, draw_out], axis=1)


def _estimate(full: float, draws: np.ndarray) -> Estimate:
    tail = (1 - CONFIDENCE) / 2 * 100
    low, high = (float(q) for q in np.percentile(draws, [tail, 100 - tail]))
    return Estimate(full, low, high)


def auc_estimate(
    scores: Sequence[float], members: Sequence[bool], *, resamples: int, seed: int
) -> Estimate:
    """The ROC AUC of `scores` for `members` and its stratified bootstrap 95 % interval."""
    labels = np.asarray(members, dtype=bool)
    if labels.all() or not labels.any():
        raise ValueError("an AUC needs members and non-members")
    values = np.asarray(scores, dtype=float)
    draws = _stratified_draws(labels, resamples, seed)
    full = float(roc_auc(values, labels)[0])
    return _estimate(full, roc_auc(values[draws], labels[draws]))


def _figures(scores: np.ndarray, members: np.ndarray, rows: np.ndarray) -> dict[str, np.ndarray]:
    """AUC and TPR at each low FPR on each row of indices."""
    labels = members[rows]
    drawn = scores[rows]
    figures = {"auc": roc_auc(drawn, labels)}
    for fpr in LOW_FPRS:
        figures[f"tpr@{fpr:g}"] = tpr_at_fpr(drawn, labels, fpr)
    return figures


@dataclass(frozen=True)
class MembershipAudit:
    """Every attack on the base model and the tuned one, with the tuned-minus-base AUC
    differences, on `members` and `non_members` records."""

    members: int
    non_members: int
    base: Mapping[str, AttackResult]
    tuned: Mapping[str, AttackResult]
    auc_differences: Mapping[str, Comparison]

    def to_dict(self) -> dict[str, Any]:
        return {
            "members": self.members,
            "non_members": self.non_members,
            "base": {attack: result.to_dict() for attack, result in self.base.items()},
            "tuned": {attack: result.to_dict() for attack, result in self.tuned.items()},
            "auc_differences": {
                attack: comparison.to_dict() for attack, comparison in self.auc_differences.items()
            },
        }


def audit_membership(
    base_scores: Mapping[str, np.ndarray],
    tuned_scores: Mapping[str, np.ndarray],
    members: Sequence[bool],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
) -> MembershipAudit:
    """The audit of `attack_scores` for the base model (its own attacks) and the tuned one
    (every attack), over the same records, `members[i]` saying whether record i was
    trained on."""
    labels = np.asarray(members, dtype=bool)
    n_in, n_out = int(labels.sum()), int((~labels).sum())
    if n_in == 0 or n_out == 0:
        raise ValueError("a membership audit needs members and non-members")
    everything = np.arange(len(labels))[None, :]
    draws = _stratified_draws(labels, resamples, seed)

    def results(scores: Mapping[str, np.ndarray]) -> tuple[dict[str, AttackResult], dict]:
        found, drawn = {}, {}
        for attack in ATTACKS:
            if attack not in scores:
                continue
            values = np.asarray(scores[attack], dtype=float)
            full = _figures(values, labels, everything)
            drawn[attack] = _figures(values, labels, draws)
            found[attack] = AttackResult(
                attack,
                _estimate(float(full["auc"][0]), drawn[attack]["auc"]),
                {
                    fpr: _estimate(float(full[f"tpr@{fpr:g}"][0]), drawn[attack][f"tpr@{fpr:g}"])
                    if n_out >= MIN_NON_MEMBERS[fpr]
                    else None
                    for fpr in LOW_FPRS
                },
            )
        return found, drawn

    base, base_drawn = results({a: s for a, s in base_scores.items() if a in SELF_ATTACKS})
    tuned, tuned_drawn = results(tuned_scores)
    differences = {}
    for attack in base:
        if attack not in tuned:
            continue
        draws_difference = tuned_drawn[attack]["auc"] - base_drawn[attack]["auc"]
        estimate = _estimate(tuned[attack].auc.value - base[attack].auc.value, draws_difference)
        differences[attack] = Comparison(
            f"mia_{attack}_auc",
            estimate.value,
            estimate.low,
            estimate.high,
            n_in + n_out,
            "lower",
            resamples,
        )
    return MembershipAudit(n_in, n_out, base, tuned, differences)


__all__ = [
    "ATTACKS",
    "AttackResult",
    "Estimate",
    "MembershipAudit",
    "RecordScore",
    "attack_scores",
    "auc_estimate",
    "audit_membership",
    "compressed_size",
    "roc_auc",
    "tpr_at_fpr",
]
