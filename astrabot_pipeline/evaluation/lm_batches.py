"""Shared-context scoring: the one implementation the ranking (candidate replies) and the
canary exposure (secrets) use. Generation lives in `astrabot_pipeline.generation`.

A shared context runs once, and batches of continuations are scored packed after its
cached keys and values.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from astrabot_pipeline.generation.decoding import cache_key, model_device


@torch.no_grad()
def continuation_log_likelihoods(
    model,
    context: Sequence[int],
    continuations: Sequence[Sequence[int]],
    *,
    batch_size: int = 64,
) -> list[float]:
    """Log-likelihood (nats, summed over its tokens) of each continuation after `context`.

    The context runs once. Then each batch of `batch_size` continuations is packed into ONE
    row after the context's cache: each continuation attends to the context and to its own
    earlier tokens only (a block-causal mask) and its positions continue the context's, so
    there is no padding and the cache is not copied per continuation; the cache is cut back
    to the context after each batch. Token 0 of each continuation is predicted by the
    context's last position. Equal to one full forward per continuation (tested, 1e-4)."""
    if not context:
        raise ValueError("continuation scoring needs a non-empty context")
    if any(not c for c in continuations):
        raise ValueError("every continuation needs at least one token")
    device = model_device(model)
    n_context = len(context)
    first = model(
        input_ids=torch.tensor([list(context)], device=device), use_cache=True, logits_to_keep=1
    )
    first_logp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
    key = cache_key(first)
    cache = first[key]
    sums = [float(first_logp[c[0]]) for c in continuations]
    dtype = model.dtype if model.dtype.is_floating_point else torch.float32
    for start in range(0, len(continuations), batch_size):
        batch = [list(c) for c in continuations[start : start + batch_size]]
        packed = [token for tokens in batch for token in tokens]
        owner = torch.tensor([row for row, tokens in enumerate(batch) for _ in tokens])
        offset = torch.tensor([i for tokens in batch for i in range(len(tokens))])
        # Only positions followed by another token of the same continuation predict one.
        predicting = [i for i in range(len(packed) - 1) if owner[i] == owner[i + 1]]
        if not predicting:  # every continuation of the batch is a single token
            continue
        same = owner[:, None] == owner[None, :]
        not_after = offset[None, :] <= offset[:, None]
        allowed = torch.cat(
            [torch.ones(len(packed), n_context, dtype=torch.bool), same & not_after], dim=1
        )
        mask = torch.zeros(allowed.shape, dtype=dtype).masked_fill_(
            ~allowed, torch.finfo(dtype).min
        )
        logits = model(
            input_ids=torch.tensor([packed], device=device),
            attention_mask=mask[None, None].to(device),
            position_ids=(n_context + offset)[None].to(device),
            logits_to_keep=torch.tensor(predicting, dtype=torch.long, device=device),
            **{key: cache},
        ).logits[0]
        cache.crop(-len(packed))  # back to the context alone
        logp = torch.log_softmax(logits.float(), dim=-1)
        targets = torch.tensor([packed[i + 1] for i in predicting], device=device)
        token_logp = logp.gather(1, targets[:, None])[:, 0].tolist()
        for value, i in zip(token_logp, predicting, strict=True):
            sums[start + int(owner[i])] += value
    return sums
