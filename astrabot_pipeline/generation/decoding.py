"""Batched generation with a shared prompt pass: the one decoding loop of chat, serve and
the evaluation.

Prompts are padded on the left (every prompt ends where generation starts) and sorted by
length; each batch's prompts run through the model ONCE, in chunks of `PREFILL_PROMPTS`
prompts of similar length (so little of the prompt pass is padding), their caches joined
into one, and every prompt's rows are decoded together from it: a greedy row, `samples`
sampled rows, or both (the privacy probes want a greedy and N sampled completions of the
same prompt). A decoding step reads all of the model's weights whatever its rows, so on a
CPU one step of 48 rows costs about what two steps of 16 do.
Each step applies the repetition controls of `GenerationSettings` to the reply's own
tokens, picks the next token (argmax, or a temperature / nucleus sample from the row's
own generator, seeded by the seed and the sample's number, so a completion is the same
whatever its batch and on every call), and hands it to the row's
`ReplyText`, which ends the row at a stop token, a stop string or a line rule. Greedy rows
of `GenerationSettings.unshaped` equal transformers' `generate` (tested), and this loop is
faster than it on the same inputs (benchmarks/bench_evaluation_lm.py).
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import torch

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.generation.reply_text import (
    Completion,
    ReplyText,
    TextCallback,
    TokenPieces,
)
from astrabot_pipeline.generation.settings import GenerationSettings
from astrabot_pipeline.training.chat_template import stop_token_ids

NUCLEUS_CANDIDATES = 64
# Prompts per chunk of a batch's prompt pass (sorted by length: a chunk pads to its longest).
PREFILL_PROMPTS = 16


def model_device(model) -> torch.device:
    return next(model.parameters()).device


def cache_key(output) -> str:
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


def _penalize_repeats(
    logits: torch.Tensor, settings: GenerationSettings, replies: Sequence[Sequence[int]]
) -> torch.Tensor:
    """The repetition penalty (CTRL, Keskar et al. 2019) on the tokens each reply already
    holds, and -inf for any token that would repeat one of the reply's n-grams. Only the
    reply's own tokens count (transformers' processors count the prompt's too, which would
    also penalize the chat template's end-of-turn token and make replies run on)."""
    penalty, n = settings.repetition_penalty, settings.no_repeat_ngram_size
    seen = [
        (row, token) for row, tokens in enumerate(replies) if penalty != 1 for token in set(tokens)
    ]
    banned = [
        (row, token) for row, tokens in enumerate(replies) for token in _ngram_ends(tokens, n)
    ]
    if not seen and not banned:
        return logits
    logits = logits.float().clone()
    if seen:
        index = _index(seen, logits.device)
        current = logits[index]
        logits[index] = torch.where(current > 0, current / penalty, current * penalty)
    if banned:
        logits[_index(banned, logits.device)] = float("-inf")
    return logits


def _ngram_ends(tokens: Sequence[int], n: int) -> set[int]:
    """Tokens that would complete an n-gram the reply already holds (none when n is 0)."""
    if not n or len(tokens) < n:
        return set()
    last = list(tokens[len(tokens) - n + 1 :])
    return {
        tokens[i + n - 1] for i in range(len(tokens) - n + 1) if list(tokens[i : i + n - 1]) == last
    }


def _index(pairs: Sequence[tuple[int, int]], device) -> tuple[torch.Tensor, torch.Tensor]:
    rows, columns = zip(*pairs, strict=True)
    return torch.tensor(rows, device=device), torch.tensor(columns, device=device)


def _next_tokens(
    logits: torch.Tensor,
    samplers: Sequence[random.Random | None],
    settings: GenerationSettings,
) -> torch.Tensor:
    """Argmax for the rows without a sampler; for each other row a temperature /
    nucleus (top-p) sample, by inverting its distribution at one uniform draw from the
    row's own generator (all rows at once, so sampling costs one vectorized step)."""
    chosen = logits.argmax(dim=-1)
    sampled_rows = [row for row, sampler in enumerate(samplers) if sampler]
    if not sampled_rows:
        return chosen
    probs = torch.softmax(logits[sampled_rows].float() / settings.temperature, dim=-1)
    if settings.top_p < 1:
        probs = _nucleus(probs, settings.top_p)
    cumulative = probs.double().cumsum(dim=-1)
    draws = torch.tensor(
        [samplers[row].random() for row in sampled_rows],  # type: ignore[union-attr]
        dtype=torch.float64,
        device=cumulative.device,
    )
    # The first token whose cumulative probability exceeds the draw (never a token of
    # probability 0: its cumulative value equals the one before it).
    picked = torch.searchsorted(cumulative, (draws * cumulative[:, -1])[:, None], right=True)
    chosen[sampled_rows] = picked[:, 0].clamp(max=probs.shape[-1] - 1).to(chosen.device)
    return chosen


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """`probs` with every token outside each row's nucleus set to 0. The nucleus is looked
    for among the NUCLEUS_CANDIDATES likeliest tokens first (a sort of the whole vocabulary
    for every row and step cost more than the model's forward pass on a CPU); only when
    they hold no more than `top_p` of a row's probability is the whole vocabulary sorted.
    Either way the same tokens are kept."""
    ordered, index = probs.topk(min(NUCLEUS_CANDIDATES, probs.shape[-1]), dim=-1)
    if not bool((ordered.sum(dim=-1) > top_p).all()):
        ordered, index = probs.sort(dim=-1, descending=True)
    outside = ordered.cumsum(dim=-1) - ordered > top_p
    ordered = ordered.masked_fill(outside, 0.0)
    return torch.zeros_like(probs).scatter(-1, index, ordered)


def _sampler(seed: int | None, sample: int) -> random.Random:
    """The generator of a prompt's `sample`-th sampled completion: seeded by `seed` and
    `sample` only, so a completion does not depend on its batch or on the other prompts
    (chat's reply and the evaluation's first sample of the same prompt are the same)."""
    if seed is None:
        return random.Random()  # fresh randomness: each call samples differently
    return random.Random(seed * 1_000_003 + sample)


def _prompt_pass(
    model, prompts: Sequence[Sequence[int]], pad: int, device: torch.device, chunk: int
) -> tuple[Any, str, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Run `prompts` (sorted by length) through the model in chunks of `chunk`, each padded
    on the left to its longest, and join the chunks' caches, padded on the left to the
    longest prompt: (cache, its argument name, each prompt's last logits, the attention
    mask, each prompt's last position)."""
    caches, logits, masks, last = [], [], [], []
    key = "cache"
    for start in range(0, len(prompts), chunk):
        input_ids, attention = _left_padded(prompts[start : start + chunk], pad)
        input_ids, attention = input_ids.to(device), attention.to(device)
        positions = (attention.cumsum(-1) - 1).clamp(min=0)
        output = model(
            input_ids=input_ids,
            attention_mask=attention,
            position_ids=positions,
            use_cache=True,
            logits_to_keep=1,
        )
        key = cache_key(output)
        if start == 0 and chunk < len(prompts) and not _joinable(output[key]):
            return _prompt_pass(model, prompts, pad, device, len(prompts))
        caches.append(output[key])
        logits.append(output.logits[:, -1])
        masks.append(attention)
        last.append(positions[:, -1])
    width = max(mask.shape[1] for mask in masks)
    cache = caches[0]
    if len(caches) > 1:
        for index, layer in enumerate(cache.layers):
            for name in ("keys", "values"):
                parts = [getattr(c.layers[index], name) for c in caches]
                setattr(layer, name, torch.cat([_pad_left(t, width, dim=-2) for t in parts]))
    attention = torch.cat([_pad_left(mask, width, dim=-1) for mask in masks])
    return cache, key, torch.cat(logits), attention, torch.cat(last)


def _joinable(cache) -> bool:
    """Whether chunks' caches can be joined by padding them on the left: every layer keeps
    all its keys and values (a sliding-window layer, which drops the oldest, cannot)."""
    from transformers.cache_utils import DynamicLayer

    layers = getattr(cache, "layers", [])
    return bool(layers) and all(type(layer) is DynamicLayer for layer in layers)


def _pad_left(tensor: torch.Tensor, width: int, *, dim: int) -> torch.Tensor:
    """`tensor` with zeros before its entries along `dim` up to `width`."""
    missing = width - tensor.shape[dim]
    if missing == 0:
        return tensor
    shape = list(tensor.shape)
    shape[dim] = missing
    return torch.cat([tensor.new_zeros(shape), tensor], dim=dim)


@torch.no_grad()
def generate(
    model,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    settings: GenerationSettings,
    *,
    samples: int = 1,
    with_greedy: bool = False,
    batch_size: int = 8,
    on_text: TextCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
    prefill_size: int = PREFILL_PROMPTS,
) -> list[list[Completion]]:
    """For each prompt (token ids), its completions: one greedy when `settings.greedy`;
    otherwise `samples` sampled ones, after a greedy one when `with_greedy`.

    `batch_size` prompts are decoded together, their prompt pass run in chunks of
    `prefill_size` prompts. `on_text` streams the text of a lone
    completion (one prompt, one row) as it settles; `should_stop` is polled after every
    token and ends every row as cancelled when it says so."""
    if not prompts:
        return []
    if any(not p for p in prompts):
        raise ValueError("every prompt needs at least one token")
    if samples < 1 or batch_size < 1 or prefill_size < 1:
        raise SettingError("samples, batch_size and prefill_size must be at least 1")
    rows_per_prompt = 1 if settings.greedy else samples + int(with_greedy)
    if on_text is not None and len(prompts) * rows_per_prompt != 1:
        raise SettingError("streaming text needs exactly one prompt and one completion")
    stops = list(stop_token_ids(tokenizer, model))
    pad = int(tokenizer.pad_token_id if tokenizer.pad_token_id is not None else stops[0])
    device = model_device(model)
    pieces = TokenPieces(tokenizer)
    order = sorted(range(len(prompts)), key=lambda i: (len(prompts[i]), i))
    results: dict[int, list[Completion]] = {}
    for start in range(0, len(order), batch_size):
        chosen = order[start : start + batch_size]
        cache, key, logits, attention, positions = _prompt_pass(
            model, [prompts[i] for i in chosen], pad, device, prefill_size
        )
        if rows_per_prompt > 1:
            cache.batch_repeat_interleave(rows_per_prompt)
        logits = logits.repeat_interleave(rows_per_prompt, dim=0)
        attention = attention.repeat_interleave(rows_per_prompt, dim=0)
        position = positions.repeat_interleave(rows_per_prompt, dim=0)
        greedy_first = settings.greedy or with_greedy
        samplers = [
            None
            if greedy_first and row % rows_per_prompt == 0
            else _sampler(settings.seed, row % rows_per_prompt - greedy_first)
            for row in range(len(logits))
        ]
        replies = [ReplyText(tokenizer, settings, stops, pieces, on_text) for _ in samplers]
        live = list(range(len(replies)))  # the rows still decoding, in batch order
        for step in range(settings.max_new_tokens):
            scores = _penalize_repeats(logits, settings, [replies[row].kept for row in live])
            following = _next_tokens(scores, [samplers[row] for row in live], settings)
            # `add` takes the row's token and says whether the row is finished.
            keep = [
                index
                for index, (row, token) in enumerate(zip(live, following.tolist(), strict=True))
                if not replies[row].add(token)
            ]
            if should_stop is not None and should_stop():
                for reply in replies:
                    reply.cancel()
                break
            if not keep or step + 1 == settings.max_new_tokens:
                break
            if len(keep) < len(live):
                # A finished row leaves the batch: later steps compute only open rows.
                kept = torch.tensor(keep, device=device)
                cache.batch_select_indices(kept)
                following, attention, position = following[kept], attention[kept], position[kept]
                live = [live[index] for index in keep]
            attention = torch.cat([attention, torch.ones_like(attention[:, :1])], dim=1)
            position = position + 1
            output = model(
                input_ids=following.unsqueeze(-1),
                attention_mask=attention,
                position_ids=position.unsqueeze(-1),
                use_cache=True,
                logits_to_keep=1,
                **{key: cache},
            )
            cache = output[key]
            logits = output.logits[:, -1]
        for row, i in enumerate(chosen):
            group = replies[row * rows_per_prompt : (row + 1) * rows_per_prompt]
            results[i] = [reply.completion() for reply in group]
    return [results[i] for i in range(len(prompts))]


__all__ = ["cache_key", "generate", "model_device"]
