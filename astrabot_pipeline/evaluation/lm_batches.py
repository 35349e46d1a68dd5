"""Batched generation and shared-context scoring: the one implementation of each that the
quality and privacy halves of the evaluation use.

Generation pads prompts on the left (every prompt ends where generation starts), sorts
them by length so a batch wastes little padding, runs each batch's prompts through the
model ONCE and decodes every prompt's rows from that cache: a greedy row, `samples`
sampled rows, or both (the privacy probes want a greedy and N sampled completions of the
same prompt). Sampling is seeded per batch, so a run is the same on every call. Greedy
rows equal transformers' `generate` (tested), and this loop is faster than it on the same
inputs (benchmarks/bench_evaluation_lm.py).

Scoring runs a shared context once and scores batches of continuations packed after its
cached keys and values (the ranking's candidate replies, the canary exposure's secrets).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.training.chat_template import stop_token_ids


@dataclass(frozen=True)
class Sampling:
    """What to decode for each prompt, at most `max_new_tokens` each: a greedy completion
    when `greedy`, and `samples` completions sampled at `temperature` within nucleus
    `top_p`."""

    max_new_tokens: int
    greedy: bool = True
    samples: int = 0
    temperature: float = 1.0
    top_p: float = 1.0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.samples < 0:
            raise SettingError("max_new_tokens must be at least 1 and samples at least 0")
        if not self.greedy and not self.samples:
            raise SettingError("generation needs a greedy completion or sampled ones")
        if self.samples and (self.temperature <= 0 or not 0 < self.top_p <= 1):
            raise SettingError("sampling needs a positive temperature and top_p in (0, 1]")

    @property
    def rows_per_prompt(self) -> int:
        return int(self.greedy) + self.samples


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _cache_key(output) -> str:
    """transformers 5 names the key/value cache `cache`, older releases `past_key_values`:
    the same name in a forward's output and in its arguments."""
    return "cache" if "cache" in output else "past_key_values"


def _left_padded(prompts: Sequence[Sequence[int]], pad: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    input_ids = torch.full((len(prompts), width), pad, dtype=torch.long)
    attention = torch.zeros((len(prompts), width), dtype=torch.long)
    for row, ids in enumerate(prompts):
        input_ids[row, width - len(ids) :] = torch.tensor(list(ids), dtype=torch.long)
        attention[row, width - len(ids) :] = 1
    return input_ids, attention


def _until_stop(tokens: list[int], stops: Sequence[int]) -> list[int]:
    for position, token in enumerate(tokens):
        if token in stops:
            return tokens[:position]
    return tokens


def _next_tokens(
    logits: torch.Tensor, greedy_rows: torch.Tensor, sampling: Sampling, generator: torch.Generator
) -> torch.Tensor:
    """Argmax for `greedy_rows`, a temperature / nucleus (top-p) sample for the others."""
    chosen = logits.argmax(dim=-1)
    if bool(greedy_rows.all()):
        return chosen
    probs = torch.softmax(logits.float() / sampling.temperature, dim=-1)
    if sampling.top_p < 1:
        ordered, index = probs.sort(dim=-1, descending=True)
        outside = ordered.cumsum(dim=-1) - ordered > sampling.top_p
        ordered = ordered.masked_fill(outside, 0.0)
        probs = torch.zeros_like(probs).scatter(-1, index, ordered)
    sampled = torch.multinomial(probs.cpu(), 1, generator=generator).squeeze(-1)
    return torch.where(greedy_rows, chosen, sampled.to(chosen.device))


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    sampling: Sampling,
    *,
    batch_size: int = 8,
    seed: int = 0,
) -> list[list[list[int]]]:
    """For each prompt, its completions' new tokens, each cut before its first stop token
    (`stop_token_ids`): the greedy one first when `sampling.greedy`, then the sampled ones.
    `batch_size` prompts share a prompt pass; each is decoded in `rows_per_prompt` rows."""
    if not prompts:
        return []
    if any(not p for p in prompts):
        raise ValueError("every prompt needs at least one token")
    stops = list(stop_token_ids(tokenizer, model))
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0])
    device = _device(model)
    stop_tensor = torch.tensor(stops, device=device)
    rows_per_prompt = sampling.rows_per_prompt
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    results: dict[int, list[list[int]]] = {}
    for number, start in enumerate(range(0, len(order), batch_size)):
        chosen = order[start : start + batch_size]
        input_ids, attention = _left_padded([prompts[i] for i in chosen], pad)
        input_ids, attention = input_ids.to(device), attention.to(device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        output = model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        cache_key = _cache_key(output)
        cache = output[cache_key]
        if rows_per_prompt > 1:
            cache.batch_repeat_interleave(rows_per_prompt)
        logits = output.logits[:, -1].repeat_interleave(rows_per_prompt, dim=0)
        attention = attention.repeat_interleave(rows_per_prompt, dim=0)
        position = positions[:, -1].repeat_interleave(rows_per_prompt, dim=0)
        rows = torch.arange(len(logits), device=device)
        greedy_rows = (rows % rows_per_prompt == 0) & sampling.greedy
        generator = torch.Generator().manual_seed(seed * 1_000_003 + number)
        tokens: list[list[int]] = [[] for _ in range(len(logits))]
        done = torch.zeros(len(logits), dtype=torch.bool, device=device)
        for step in range(sampling.max_new_tokens):
            following = _next_tokens(logits, greedy_rows, sampling, generator)
            following = following.masked_fill(done, pad)
            for row, (token, finished) in enumerate(
                zip(following.tolist(), done.tolist(), strict=True)
            ):
                if not finished:
                    tokens[row].append(token)
            done |= torch.isin(following, stop_tensor)
            if bool(done.all()) or step + 1 == sampling.max_new_tokens:
                break
            attention = torch.cat([attention, torch.ones_like(attention[:, :1])], dim=1)
            position = position + 1
            output = model(
                input_ids=following.unsqueeze(-1),
                attention_mask=attention,
                position_ids=position.unsqueeze(-1),
                use_cache=True,
                logits_to_keep=1,
                **{cache_key: cache},
            )
            cache = output[cache_key]
            logits = output.logits[:, -1]
        for row, i in enumerate(chosen):
            group = tokens[row * rows_per_prompt : (row + 1) * rows_per_prompt]
            results[i] = [_until_stop(t, stops) for t in group]
    return [results[i] for i in range(len(prompts))]


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
    device = _device(model)
    n_context = len(context)
    first = model(
        input_ids=torch.tensor([list(context)], device=device), use_cache=True, logits_to_keep=1
    )
    first_logp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
    cache_key = _cache_key(first)
    cache = first[cache_key]
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
            **{cache_key: cache},
        ).logits[0]
        cache.crop(-len(packed))  # back to the context alone
        logp = torch.log_softmax(logits.float(), dim=-1)
        targets = torch.tensor([packed[i + 1] for i in predicting], device=device)
        token_logp = logp.gather(1, targets[:, None])[:, 0].tolist()
        for value, i in zip(token_logp, predicting, strict=True):
            sums[start + int(owner[i])] += value
    return sums
