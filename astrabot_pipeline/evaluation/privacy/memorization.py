"""Memorization: canary exposure (Carlini et al. 2019) and extractable memorization.

Exposure of a planted secret s among the candidate space R (every 9-digit secret):

    exposure(s) = log2 |R| - log2 rank(s)

where rank(s) is s's place when all of R is sorted by the model's log-perplexity (the
summed negative log-likelihood of the secret's tokens after the canary's prefix). Scoring
10^9 candidates is out of reach on a CPU, so, as tensorflow/privacy does, the rank is
estimated from a random sample of candidates:
- sampled ("interpolated") exposure: log2 |S| - log2 (1 + #sampled candidates scored more
  likely than s): exact for the sample, capped at log2 |S|;
- extrapolated exposure: fit a skew-normal distribution to the sampled log-perplexities
  and take -log2 CDF(log-perplexity of s), i.e. rank(s)/|R| is estimated as the fitted
  probability that a random candidate scores at least as well. tensorflow/privacy fits by
  maximum likelihood with scipy; scipy is not a dependency here, so the fit is by the
  method of moments (mean, variance, skewness; skewness clipped to the skew-normal's
  range), and the CDF is integrated numerically in log space. Capped at log2 |R|.

Extractable memorization (Carlini et al. 2023, "Quantifying Memorization Across Neural
Language Models": a string is extractable when the model, prompted greedily with what
preceded it in training, reproduces it exactly): for
a training example whose reply has at least k + m tokens, prompt the model with the
example's context and the reply's first k tokens; it is memorized when the greedy
continuation's next m tokens equal the reply's. `memorization_score` = memorized /
scored; shorter replies are excluded and counted. Near-verbatim memorization counts a
continuation within `NEAR_EDIT_SHARE` (10 %) of the m tokens in token edit distance
(Levenshtein over token ids, divided by m) as well (Ippolito et al. 2023, "Preventing
Generation of Verbatim Memorization in Language Models Gives a False Sense of Privacy":
a model that changes a token or two still reveals the text). Chat replies are short
(about 10 tokens), so the evaluation also measures (k, m) = (4, 8) and (4, 16), where
many more replies are long enough than at (8, 16).
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

SECRET_SPACE_DIGITS = 9  # dataset/canaries.py SECRET_DIGITS: |R| = 10^9
DEFAULT_K = 8
DEFAULT_M = 16
# The shorter (k, m) settings measured beside (DEFAULT_K, DEFAULT_M), for short replies.
SHORT_SETTINGS: tuple[tuple[int, int], ...] = ((4, 8), (4, 16))
NEAR_EDIT_SHARE = 0.1
# The sample skewness a skew-normal can have is below this in absolute value.
_MAX_SKEWNESS = 0.99
_GRID_POINTS = 20_001
_GRID_WIDTH = 60.0  # standard units integrated below the point (the density is ~0 further)


def exposure_from_rank(rank: float, space_size: float) -> float:
    """log2 |R| - log2 rank (rank 1 = the most likely of all)."""
    if rank < 1 or space_size < 1:
        raise ValueError("rank and space size must be at least 1")
    return math.log2(space_size) - math.log2(rank)


def sampled_exposure(secret_loss: float, reference_losses: Sequence[float]) -> tuple[float, int]:
    """(exposure within the sample, rank in it) as tensorflow/privacy's interpolation:
    rank = 1 + references with a strictly lower loss; exposure = log2 |S| - log2 rank."""
    if not reference_losses:
        raise ValueError("sampled exposure needs reference losses")
    rank = 1 + sum(loss < secret_loss for loss in reference_losses)
    return math.log2(len(reference_losses)) - math.log2(rank), rank


@dataclass(frozen=True)
class SkewNormal:
    location: float
    scale: float
    shape: float

    @classmethod
    def fit_moments(cls, values: Sequence[float]) -> SkewNormal:
        """Method-of-moments fit (mean, sample variance, sample skewness)."""
        n = len(values)
        if n < 3:
            raise ValueError("fitting a skew-normal needs at least 3 values")
        mean = sum(values) / n
        variance = sum((v - mean) ** 2 for v in values) / (n - 1)
        if variance <= 0:
            raise ValueError("the reference losses are all equal: nothing to fit")
        std = math.sqrt(variance)
        skew = sum(((v - mean) / std) ** 3 for v in values) / n
        skew = max(-_MAX_SKEWNESS, min(_MAX_SKEWNESS, skew))
        g = abs(skew) ** (2 / 3)
        delta = math.copysign(
            math.sqrt(math.pi / 2 * g / (g + ((4 - math.pi) / 2) ** (2 / 3))), skew
        )
        shape = delta / math.sqrt(1 - delta**2)
        scale = std / math.sqrt(1 - 2 * delta**2 / math.pi)
        location = mean - scale * delta * math.sqrt(2 / math.pi)
        return cls(location, scale, shape)

    def log_cdf(self, x: float) -> float:
        """log P(X <= x), by the trapezoid rule on log densities (stable far in the tail)."""
        z = (x - self.location) / self.scale
        if z > 10 + abs(self.shape):
            return 0.0
        grid = torch.linspace(z - _GRID_WIDTH, z, _GRID_POINTS, dtype=torch.float64)
        # density of the standardized skew-normal: 2 phi(t) Phi(shape t)
        log_density = (
            math.log(2)
            - 0.5 * math.log(2 * math.pi)
            - 0.5 * grid**2
            + torch.special.log_ndtr(self.shape * grid)
        )
        step = float(grid[1] - grid[0])
        weights = torch.full_like(grid, math.log(step))
        weights[0] = weights[-1] = math.log(step / 2)
        return min(0.0, float(torch.logsumexp(log_density + weights, dim=0)))


def extrapolated_exposure(
    secret_loss: float, reference_losses: Sequence[float], space_size: float
) -> float:
    """-log2 CDF(secret_loss) under a skew-normal fitted to the references, in [0, log2|R|]."""
    fitted = SkewNormal.fit_moments(reference_losses)
    exposure = -fitted.log_cdf(secret_loss) / math.log(2)
    return max(0.0, min(math.log2(space_size), exposure))


def random_secrets(count: int, *, exclude: Sequence[str] = (), seed: int = 0) -> list[str]:
    """`count` distinct random secrets formatted as planted ones ("381 094 527")."""
    rng = random.Random(f"astrabot-exposure:{seed}")
    excluded = {s.replace(" ", "") for s in exclude}
    found: list[str] = []
    seen: set[str] = set()
    while len(found) < count:
        digits = "".join(rng.choice("0123456789") for _ in range(SECRET_SPACE_DIGITS))
        if digits in excluded or digits in seen:
            continue
        seen.add(digits)
        found.append(" ".join(digits[i : i + 3] for i in range(0, SECRET_SPACE_DIGITS, 3)))
    return found


@dataclass(frozen=True)
class CanaryExposure:
    """One planted canary: how often it was planted and its exposure (bits)."""

    repeats: int
    exposure: float  # extrapolated, in [0, log2 |R|]
    sampled_exposure: float  # within the sample, in [log2|S| - log2(|S|+1), log2 |S|]
    rank_in_sample: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "repeats": self.repeats,
            "exposure": self.exposure,
            "sampled_exposure": self.sampled_exposure,
            "rank_in_sample": self.rank_in_sample,
        }


@dataclass(frozen=True)
class ExposureResult:
    """Exposure of every planted canary, and the sample it was estimated from."""

    canaries: tuple[CanaryExposure, ...]
    candidates_sampled: int
    space_size: int

    @property
    def max_exposure(self) -> float:
        return math.log2(self.space_size)

    @property
    def mean_exposure(self) -> float | None:
        if not self.canaries:
            return None
        return sum(c.exposure for c in self.canaries) / len(self.canaries)

    def to_dict(self) -> dict[str, Any]:
        by_repeats: dict[str, list[float]] = {}
        for canary in self.canaries:
            by_repeats.setdefault(str(canary.repeats), []).append(canary.exposure)
        return {
            "canaries": len(self.canaries),
            "candidates_sampled": self.candidates_sampled,
            "space_size": self.space_size,
            "max_possible_exposure": self.max_exposure,
            "mean_exposure": self.mean_exposure,
            "highest_exposure": max((c.exposure for c in self.canaries), default=None),
            "mean_exposure_by_repeats": {
                repeats: sum(values) / len(values) for repeats, values in sorted(by_repeats.items())
            },
            "per_canary": [canary.to_dict() for canary in self.canaries],
        }


def exact_match_rate(
    continuations: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]
) -> tuple[int, float]:
    """(matches, rate): a continuation matches when its first len(target) tokens equal it."""
    if len(continuations) != len(targets):
        raise ValueError("one continuation per target")
    matches = sum(
        list(continuation[: len(target)]) == list(target)
        for continuation, target in zip(continuations, targets, strict=True)
    )
    return matches, matches / len(targets) if targets else 0.0


def token_edit_distance(a: Sequence[int], b: Sequence[int]) -> int:
    """Levenshtein distance between two token sequences (insert, delete, substitute)."""
    previous = list(range(len(b) + 1))
    for i, token in enumerate(a, 1):
        current = [i]
        for j, other in enumerate(b, 1):
            current.append(
                min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (token != other))
            )
        previous = current
    return previous[-1]


def near_match_count(
    continuations: Sequence[Sequence[int]],
    targets: Sequence[Sequence[int]],
    max_share: float = NEAR_EDIT_SHARE,
) -> int:
    """How many continuations (their first len(target) tokens) are within `max_share` of
    their target's length in token edit distance (an exact match is one)."""
    if len(continuations) != len(targets):
        raise ValueError("one continuation per target")
    return sum(
        token_edit_distance(list(continuation[: len(target)]), list(target))
        <= max_share * len(target)
        for continuation, target in zip(continuations, targets, strict=True)
    )


@dataclass(frozen=True)
class MemorizationResult:
    """Extractable memorization on a sample of training examples: exact, and near-verbatim
    (within `NEAR_EDIT_SHARE` of m tokens in edit distance)."""

    k: int
    m: int
    examples_scored: int
    memorized: int
    memorization_score: float
    excluded_short: int
    excluded_truncated: int
    near_memorized: int = 0

    @property
    def near_memorization_score(self) -> float:
        return self.near_memorized / self.examples_scored if self.examples_scored else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "k": self.k,
            "m": self.m,
            "examples_scored": self.examples_scored,
            "memorized": self.memorized,
            "memorization_score": self.memorization_score,
            "near_memorized": self.near_memorized,
            "near_memorization_score": self.near_memorization_score,
            "excluded_short": self.excluded_short,
            "excluded_truncated": self.excluded_truncated,
        }
