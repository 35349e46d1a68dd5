"""Packed scoring: the one implementation the perplexity, the ranking (candidate replies,
given the conversation and without it) and the canary exposure (secrets) score tokens with.
Generation lives in `astrabot_pipeline.generation`.

The evaluation scores many short sequences: test examples of about a hundred tokens, ten
candidate replies of about ten tokens after one context. On a CPU a forward pays for its
rows' padding, for the output layer at every position, and runs its matrix products
badly when they are short; so groups are packed, without padding, into rows of about
`ROW_TOKENS` tokens. Inside a row each token attends to its own group only (a block mask);
a group's continuations attend to the prefix's first `attach` tokens and to their own
earlier tokens, and their positions continue from there. The output layer runs only where
a scored token is predicted. Equal to one full forward per sequence (tested, 1e-4).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import torch

from astrabot_pipeline.generation.decoding import model_device

# Tokens per packed row. The matrix products run near a CPU's best speed from about 256
# rows; attention over a row grows with its square, and at 512 it is a fifth of the work.
ROW_TOKENS = 512


@dataclass(frozen=True)
class ScoringGroup:
    """A prefix and the continuations scored after it. `prefix_scored[t]` scores prefix
    token t given the tokens before it (token 0 has none and is never scored). Every token
    of a continuation is scored; the continuations follow the prefix's first `attach`
    tokens (all of them when None), their first token predicted by the last of those: a
    test example scored whole (its perplexity) carries the other replies ranked against
    its own after the same conversation."""

    prefix: Sequence[int]
    continuations: Sequence[Sequence[int]] = ()
    prefix_scored: Sequence[bool] = ()
    attach: int | None = None

    @property
    def attached_after(self) -> int:
        """How many of the prefix's tokens the continuations follow."""
        return len(self.prefix) if self.attach is None else self.attach


@dataclass(frozen=True)
class TokenScore:
    """One scored token: its log-probability (nats), and how far that lies above what the
    model expects at that position, in standard deviations of the log-probability of a
    token drawn from the model's own distribution there: (log p(x) − μ) / σ, where
    μ = E[log p(z)] and σ² = Var[log p(z)] for z ~ p (Min-K%++, Zhang et al. 2024)."""

    log_prob: float
    standardized: float


@dataclass(frozen=True)
class GroupScores:
    """Log-likelihoods in nats, summed: over the prefix's scored tokens (and how many there
    were), and over each continuation's tokens; with `token_detail`, each scored prefix
    token's own score, in order."""

    prefix: float
    prefix_tokens: int
    continuations: tuple[float, ...]
    prefix_token_scores: tuple[TokenScore, ...] = ()


@dataclass(frozen=True)
class _Piece:
    """A group, or a share of its continuations when they hold more than a row's tokens;
    only a group's first piece scores its prefix."""

    group: int
    first: bool
    continuations: tuple[int, ...]
    tokens: int


def _check(groups: Sequence[ScoringGroup]) -> None:
    for group in groups:
        if not group.prefix:
            raise ValueError("every scoring group needs a non-empty prefix")
        if group.prefix_scored and len(group.prefix_scored) != len(group.prefix):
            raise ValueError("prefix_scored must mark each prefix token")
        if any(not c for c in group.continuations):
            raise ValueError("every continuation needs at least one token")
        if not 1 <= group.attached_after <= len(group.prefix):
            raise ValueError("continuations attach after 1 to all of the prefix's tokens")


def _pieces(groups: Sequence[ScoringGroup], row_tokens: int) -> Iterator[_Piece]:
    """Each group as one piece, or, when its continuations hold more than `row_tokens`
    tokens, as several, each with a copy of the prefix and at most that many continuation
    tokens (a long prefix is never copied for short continuations)."""
    for g, group in enumerate(groups):
        n = len(group.prefix)
        share: list[int] = []
        size = 0
        first = True
        for c, continuation in enumerate(group.continuations):
            if share and size + len(continuation) > row_tokens:
                yield _Piece(g, first, tuple(share), n + size)
                share, size, first = [], 0, False
            share.append(c)
            size += len(continuation)
        if share or first:
            yield _Piece(g, first, tuple(share), n + size)


def _rows(pieces: Iterator[_Piece], row_tokens: int) -> Iterator[list[_Piece]]:
    row: list[_Piece] = []
    size = 0
    for piece in pieces:
        if row and size + piece.tokens > row_tokens:
            yield row
            row, size = [], 0
        row.append(piece)
        size += piece.tokens
    if row:
        yield row


# (position whose logits predict, the token predicted, (group, -1 for its prefix or the
# continuation's index)): where each scored token's log-probability goes.
Prediction = tuple[int, int, tuple[int, int]]


def _row_inputs(
    groups: Sequence[ScoringGroup], row: Sequence[_Piece]
) -> tuple[list[int], torch.Tensor, torch.Tensor, list[Prediction]]:
    """A packed row's token ids, position ids, which token may attend to which (its own
    piece only: the prefix causally, a continuation to the prefix's first `attach` tokens
    and its own earlier tokens), and the predictions to read off its logits."""
    ids: list[int] = []
    positions: list[int] = []
    block: list[int] = []  # the piece each token belongs to
    part: list[int] = []  # -1: the prefix; c: continuation c of the group
    sees: list[int] = []  # how many of its piece's prefix tokens a token may attend to
    predictions: list[Prediction] = []
    for p, piece in enumerate(row):
        group = groups[piece.group]
        start, n, attach = len(ids), len(group.prefix), group.attached_after
        ids += group.prefix
        positions += range(n)
        block += [p] * n
        part += [-1] * n
        sees += [n] * n  # (the causal rule keeps it to the tokens before it)
        if piece.first and group.prefix_scored:
            predictions += [
                (start + t - 1, group.prefix[t], (piece.group, -1))
                for t in range(1, n)
                if group.prefix_scored[t]
            ]
        for c in piece.continuations:
            continuation = list(group.continuations[c])
            at = len(ids)
            ids += continuation
            positions += range(attach, attach + len(continuation))
            block += [p] * len(continuation)
            part += [c] * len(continuation)
            sees += [attach] * len(continuation)
            predictions += [
                (start + attach - 1 if i == 0 else at + i - 1, token, (piece.group, c))
                for i, token in enumerate(continuation)
            ]
    blocks, parts, position = torch.tensor(block), torch.tensor(part), torch.tensor(positions)
    index = torch.arange(len(ids))
    in_prefix = (parts[None, :] == -1) & (position[None, :] < torch.tensor(sees)[:, None])
    allowed = (
        (blocks[:, None] == blocks[None, :])
        & (index[None, :] <= index[:, None])
        & (in_prefix | (parts[:, None] == parts[None, :]))
    )
    return ids, position, allowed, predictions


@torch.no_grad()
def score_groups(
    model,
    groups: Sequence[ScoringGroup],
    *,
    row_tokens: int = ROW_TOKENS,
    progress: Callable[[int, int], None] | None = None,
    token_detail: bool = False,
) -> list[GroupScores]:
    """The log-likelihoods of each group's scored tokens under `model` (see `ScoringGroup`),
    in the groups' order. Groups are packed into rows of about `row_tokens` tokens (a
    group longer than that gets a row of its own; continuations of more than `row_tokens`
    tokens are spread over several, each after its own copy of the prefix). `progress`
    gets (rows done, rows) after each row. `token_detail` adds each scored prefix token's
    `TokenScore` (the membership audit's per-token attacks)."""
    if row_tokens < 1:
        raise ValueError("row_tokens must be positive")
    _check(groups)
    prefix_sums = [0.0] * len(groups)
    prefix_counts = [0] * len(groups)
    details: list[list[TokenScore]] = [[] for _ in groups]
    sums = [[0.0] * len(group.continuations) for group in groups]
    device = model_device(model)
    dtype = model.dtype if model.dtype.is_floating_point else torch.float32
    rows = list(_rows(_pieces(groups, row_tokens), row_tokens))
    for done, row in enumerate(rows, 1):
        ids, position, allowed, predictions = _row_inputs(groups, row)
        if predictions:
            mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(
                ~allowed, torch.finfo(dtype).min
            )
            kept = sorted({source for source, _, _ in predictions})
            row_of = {source: r for r, source in enumerate(kept)}
            logits = model(
                input_ids=torch.tensor([ids], device=device),
                attention_mask=mask[None, None].to(device),
                position_ids=position[None].to(device),
                logits_to_keep=torch.tensor(kept, dtype=torch.long, device=device),
            ).logits[0]
            logp = torch.log_softmax(logits.float(), dim=-1)
            rows_of = torch.tensor([row_of[source] for source, _, _ in predictions], device=device)
            picked_tensor = logp[
                rows_of, torch.tensor([token for _, token, _ in predictions], device=device)
            ]
            picked = picked_tensor.tolist()
            standardized = (
                _standardized(logp, rows_of, picked_tensor).tolist()
                if token_detail
                else [0.0] * len(picked)
            )
            for value, z, (_, _, (g, c)) in zip(picked, standardized, predictions, strict=True):
                if c == -1:
                    prefix_sums[g] += value
                    prefix_counts[g] += 1
                    if token_detail:
                        details[g].append(TokenScore(value, z))
                else:
                    sums[g][c] += value
        if progress is not None:
            progress(done, len(rows))
    return [
        GroupScores(
            prefix=prefix_sums[g],
            prefix_tokens=prefix_counts[g],
            continuations=tuple(s),
            prefix_token_scores=tuple(details[g]),
        )
        for g, s in enumerate(sums)
    ]


def _standardized(logp: torch.Tensor, rows: torch.Tensor, picked: torch.Tensor) -> torch.Tensor:
    """(log p(x) − μ) / σ for each picked token, μ and σ² the mean and variance of log p(z)
    over the vocabulary z at its position, weighted by p(z) (a zero probability adds 0)."""
    probs = logp.exp()
    weighted = torch.where(probs > 0, probs * logp, torch.zeros_like(logp))
    mean = weighted.sum(dim=-1)
    second = torch.where(probs > 0, weighted * logp, torch.zeros_like(logp)).sum(dim=-1)
    std = (second - mean.square()).clamp_min(1e-12).sqrt()
    return (picked - mean[rows]) / std[rows]


def continuation_log_likelihoods(
    model,
    context: Sequence[int],
    continuations: Sequence[Sequence[int]],
    *,
    row_tokens: int = ROW_TOKENS,
) -> list[float]:
    """Log-likelihood (nats, summed over its tokens) of each continuation after `context`."""
    (scores,) = score_groups(model, [ScoringGroup(context, continuations)], row_tokens=row_tokens)
    return list(scores.continuations)
