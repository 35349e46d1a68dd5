"""Batched, deterministic generation and continuation scoring for the privacy probes.

Generation pads on the left (every prompt ends where generation starts) and sorts prompts
by length so a batch wastes little padding; sampled generation is seeded per batch, so a
run is the same on every call. Scoring runs a shared context once and scores a batch of
continuations on its cached keys and values, computing the output layer only where a
continuation token is predicted.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from astrabot_pipeline.training.chat_template import IM_END


@dataclass(frozen=True)
class Sampling:
    """How to decode: greedy (`temperature` 0) or sampled at `temperature`."""

    max_new_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0

    @property
    def greedy(self) -> bool:
        return self.temperature <= 0


def stop_token_ids(tokenizer, model=None) -> list[int]:
    """Tokens that end a turn: the model's generation config's, the tokenizer's EOS and
    <|im_end|>."""
    ids: set[int] = set()
    configured = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif configured:
        ids.update(int(i) for i in configured)
    if tokenizer.eos_token_id is not None:
        ids.add(int(tokenizer.eos_token_id))
    im_end = tokenizer.convert_tokens_to_ids(IM_END)
    if isinstance(im_end, int) and im_end != tokenizer.unk_token_id:
        ids.add(im_end)
    return sorted(ids)


def _cache_argument(model) -> str:
    """`cache` (transformers >= 5.2x) or `past_key_values` (before): what forward takes."""
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    return (
        "cache"
        if "cache" in inspect.signature(type(inner).forward).parameters
        else ("past_key_values")
    )


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _pad_id(tokenizer) -> int:
    return int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0)


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    sampling: Sampling,
    *,
    samples_per_prompt: int = 1,
    batch_size: int = 8,
    seed: int = 0,
) -> list[list[list[int]]]:
    """New tokens for each prompt (`samples_per_prompt` lists each), cut before the first
    stop token. Greedy decoding gives one list per prompt whatever `samples_per_prompt`."""
    if not prompts:
        return []
    stops = stop_token_ids(tokenizer, model)
    pad = _pad_id(tokenizer)
    device = _device(model)
    copies = 1 if sampling.greedy else samples_per_prompt
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    per_batch = max(1, batch_size // copies)
    results: dict[int, list[list[int]]] = {}
    for number, start in enumerate(range(0, len(order), per_batch)):
        chosen = order[start : start + per_batch]
        width = max(len(prompts[i]) for i in chosen)
        input_ids = torch.full((len(chosen), width), pad, dtype=torch.long)
        attention = torch.zeros((len(chosen), width), dtype=torch.long)
        for row, i in enumerate(chosen):
            ids = list(prompts[i])
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        options = {
            "max_new_tokens": sampling.max_new_tokens,
            "pad_token_id": pad,
            "eos_token_id": stops,
            "num_return_sequences": copies,
        }
        if sampling.greedy:
            options |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        else:
            options |= {
                "do_sample": True,
                "temperature": sampling.temperature,
                "top_p": sampling.top_p,
                "top_k": None,
            }
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):
            torch.manual_seed(seed * 1_000_003 + number)
            output = model.generate(
                input_ids=input_ids.to(device), attention_mask=attention.to(device), **options
            )
        new = output[:, width:].tolist()
        for row, i in enumerate(chosen):
            results[i] = [
                _until_stop(tokens, stops) for tokens in new[row * copies : (row + 1) * copies]
            ]
    return [results[i] for i in range(len(prompts))]


def _until_stop(tokens: list[int], stops: Sequence[int]) -> list[int]:
    for position, token in enumerate(tokens):
        if token in stops:
            return tokens[:position]
    return tokens


@torch.no_grad()
def continuation_nll(
    model,
    context: Sequence[int],
    continuations: Sequence[Sequence[int]],
    *,
    batch_size: int = 64,
    pad_id: int = 0,
) -> list[float]:
    """Negative log-likelihood (nats, summed over tokens) of each continuation after
    `context`. The context runs once per batch; its cache is shared by the batch's rows."""
    if not context:
        raise ValueError("continuation scoring needs a non-empty context")
    device = _device(model)
    context_ids = torch.tensor([list(context)], dtype=torch.long, device=device)
    scores: list[float] = []
    for start in range(0, len(continuations), batch_size):
        batch = [list(c) for c in continuations[start : start + batch_size]]
        if any(not c for c in batch):
            raise ValueError("every continuation needs at least one token")
        width = max(len(c) for c in batch)
        ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for row, tokens in enumerate(batch):
            ids[row, : len(tokens)] = torch.tensor(tokens)
            mask[row, : len(tokens)] = 1
        ids, mask = ids.to(device), mask.to(device)
        first = model(input_ids=context_ids, use_cache=True, logits_to_keep=1)
        cache = getattr(first, "cache", None) or first.past_key_values
        cache.batch_repeat_interleave(len(batch))
        first_logp = torch.log_softmax(first.logits[0, -1].float(), dim=-1)
        attention = torch.cat(
            [torch.ones((len(batch), context_ids.shape[1]), dtype=torch.long, device=device), mask],
            dim=1,
        )
        rest = model(input_ids=ids, attention_mask=attention, **{_cache_argument(model): cache})
        rest = rest.logits
        logp = torch.log_softmax(rest[:, :-1].float(), dim=-1)
        following = logp.gather(-1, ids[:, 1:].unsqueeze(-1)).squeeze(-1) * mask[:, 1:]
        totals = -(first_logp[ids[:, 0]] + following.sum(dim=1))
        scores.extend(float(value) for value in totals)
    return scores


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
def generate_shared(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    sampling: Sampling,
    *,
    samples_per_prompt: int,
    batch_size: int = 8,
    seed: int = 0,
) -> tuple[list[list[int]], list[list[list[int]]]]:
    """(greedy continuation, `samples_per_prompt` sampled ones) of each prompt, each cut
    before its first stop token, from ONE pass over each prompt: the prompt's keys and
    values are computed once and shared by its greedy row and its sampled rows. Greedy
    rows equal `generate`'s greedy output (tested); sampling is seeded per batch."""
    if sampling.greedy and samples_per_prompt:
        raise ValueError("sampled completions need a positive temperature")
    if not prompts:
        return [], []
    stops = stop_token_ids(tokenizer, model)
    pad = _pad_id(tokenizer)
    device = _device(model)
    cache_argument = _cache_argument(model)
    rows_per_prompt = 1 + samples_per_prompt
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    greedy: dict[int, list[int]] = {}
    sampled: dict[int, list[list[int]]] = {}
    for number, start in enumerate(range(0, len(order), batch_size)):
        chosen = order[start : start + batch_size]
        width = max(len(prompts[i]) for i in chosen)
        input_ids = torch.full((len(chosen), width), pad, dtype=torch.long)
        attention = torch.zeros((len(chosen), width), dtype=torch.long)
        for row, i in enumerate(chosen):
            ids = list(prompts[i])
            input_ids[row, width - len(ids) :] = torch.tensor(ids, dtype=torch.long)
            attention[row, width - len(ids) :] = 1
        input_ids, attention = input_ids.to(device), attention.to(device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        output = model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        cache = getattr(output, "cache", None) or output.past_key_values
        cache.batch_repeat_interleave(rows_per_prompt)
        logits = output.logits[:, -1].repeat_interleave(rows_per_prompt, dim=0)
        attention = attention.repeat_interleave(rows_per_prompt, dim=0)
        position = positions[:, -1].repeat_interleave(rows_per_prompt, dim=0)
        greedy_rows = (torch.arange(len(logits), device=device) % rows_per_prompt) == 0
        generator = torch.Generator().manual_seed(seed * 1_000_003 + number)
        tokens: list[list[int]] = [[] for _ in range(len(logits))]
        done = torch.zeros(len(logits), dtype=torch.bool, device=device)
        for step in range(sampling.max_new_tokens):
            following = _next_tokens(logits, greedy_rows, sampling, generator)
            following = following.masked_fill(done, pad)
            for row, token in enumerate(following.tolist()):
                if not done[row]:
                    tokens[row].append(token)
            done |= torch.isin(following, torch.tensor(stops, device=device))
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
                **{cache_argument: cache},
            )
            cache = getattr(output, "cache", None) or output.past_key_values
            logits = output.logits[:, -1]
        for row, i in enumerate(chosen):
            group = [
                _until_stop(t, stops)
                for t in tokens[row * rows_per_prompt : (row + 1) * rows_per_prompt]
            ]
            greedy[i], sampled[i] = group[0], group[1:]
    return [greedy[i] for i in range(len(prompts))], [sampled[i] for i in range(len(prompts))]
