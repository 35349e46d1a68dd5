"""The owner's next reply, generated from held-out chat records.

For each record the prompt is every message before its last assistant turn, rendered with
the chat template and its generation prompt; the reference is that last assistant reply
(the owner's real one). The prompts are continued by `astrabot_pipeline.generation` (the
loop chat and serve use, with the same `GenerationSettings`), left-padded into batches
sorted by length. A prompt longer than its budget loses its oldest tokens (see
`trim_prompt_left`), so prompt and reply fit the length the stages trained on.

The generated texts come back to the caller in memory only; nothing here logs them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.generation import FINISH_LENGTH, GenerationSettings
from astrabot_pipeline.training.chat_records import validate_chat_records

# The owner's real replies average under 40 characters (about 10 tokens); 32 new tokens
# leave room for a long one. Measured with the small profile (SmolLM2-135M) on 47 demo test
# examples, one CPU thread: 22 s of CPU in batches of 16, 68 s one prompt at a time, with
# identical texts (batches are sorted by prompt length, so little is padding). Decoding 48
# prompts' rows together (their prompt pass still in chunks of 16) took the 46 demo test
# prompts from 32-34 s to 27 s on 2 threads (base model; 27-30 s to 24-26 s tuned).
DEFAULT_MAX_NEW_TOKENS = 32
DEFAULT_GENERATION_BATCH_SIZE = 48
DEFAULT_MAX_LENGTH = 256


def prompt_budget(max_length: int, max_new_tokens: int) -> int:
    """Prompt tokens kept, so that prompt + generated reply fit in `max_length`."""
    if max_length <= max_new_tokens:
        raise SettingError(
            f"max_length ({max_length}) must exceed max_new_tokens ({max_new_tokens}), "
            "leaving room for the prompt"
        )
    return max_length - max_new_tokens


@dataclass(frozen=True)
class ChatPrompt:
    """A record cut before its last assistant turn: the messages a model sees, and the
    owner's real reply to them."""

    messages: tuple[Mapping[str, str], ...] = field(repr=False)
    reference: str = field(repr=False)


def split_last_reply(record: Mapping[str, Any]) -> ChatPrompt:
    """The messages before the record's last assistant turn, and that turn's text."""
    messages = list(record["messages"])
    last = max(i for i, m in enumerate(messages) if m["role"] == "assistant")
    return ChatPrompt(messages=tuple(messages[:last]), reference=messages[last]["content"])


def chat_prompts(
    records: Sequence[Mapping[str, Any]], what: str = "evaluation"
) -> list[ChatPrompt]:
    """`split_last_reply` of every record, after checking the records' shape."""
    return [split_last_reply(record) for record in validate_chat_records(records, what)]


def trim_prompt_left(ids: Sequence[int], budget: int) -> tuple[list[int], bool]:
    """Keep the last `budget` prompt tokens (the oldest go first, as in training), and say
    whether any were dropped. The one place prompt trimming happens: swap it for a
    turn-aware trim without touching its callers."""
    ids = list(ids)
    if len(ids) <= budget:
        return ids, False
    return ids[len(ids) - budget :], True


def prompt_token_ids(
    tokenizer, messages: Sequence[Mapping[str, str]], chat_template: str | None = None
) -> list[int]:
    """`messages` rendered with the chat template and the assistant's generation prompt."""
    output = tokenizer.apply_chat_template(
        list(messages),
        chat_template=chat_template,
        add_generation_prompt=True,
        tokenize=True,
        return_dict=True,
    )
    return list(output["input_ids"])


@dataclass(frozen=True)
class GenerationStats:
    """What a generation run did, in numbers only."""

    prompts: int
    completions: int
    settings: dict[str, Any]
    batch_size: int
    num_samples: int
    trimmed_prompts: int
    hit_token_limit: int
    ended_by_line_rule: int
    mean_new_tokens: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Generations:
    """Generated replies, `num_samples` consecutive ones per prompt in prompt order, and the
    owner's real replies to the same prompts. Held in memory only; the texts never appear in
    `repr` or in `stats`."""

    texts: tuple[str, ...] = field(repr=False)
    references: tuple[str, ...] = field(repr=False)
    stats: GenerationStats

    def per_prompt(self) -> list[tuple[str, ...]]:
        """The completions of each prompt, in prompt order."""
        n = self.stats.num_samples
        return [self.texts[i : i + n] for i in range(0, len(self.texts), n)]


def generate_replies(
    model,
    tokenizer,
    records: Sequence[Mapping[str, Any]],
    settings: GenerationSettings,
    *,
    batch_size: int = DEFAULT_GENERATION_BATCH_SIZE,
    max_length: int = DEFAULT_MAX_LENGTH,
    num_samples: int = 1,
    chat_template: str | None = None,
) -> Generations:
    """The model's reply to each record's context, next to the owner's real reply:
    `num_samples` completions per prompt when sampling, one when greedy.

    `model` is what `ModelEvaluator.attached` yields (the base, or base + an adapter);
    `chat_template` the evaluator's (None: the tokenizer's own)."""
    from astrabot_pipeline.generation.decoding import generate

    if batch_size < 1 or num_samples < 1:
        raise SettingError("batch_size and num_samples must be at least 1")
    if settings.greedy and num_samples != 1:
        raise SettingError("greedy generation (temperature 0) gives one completion per prompt")
    budget = prompt_budget(max_length, settings.max_new_tokens)
    started = time.perf_counter()
    prompts = chat_prompts(records)
    prompt_ids = []
    trimmed = 0
    for prompt in prompts:
        ids, was_trimmed = trim_prompt_left(
            prompt_token_ids(tokenizer, prompt.messages, chat_template), budget
        )
        prompt_ids.append(ids)
        trimmed += was_trimmed
    completions = [
        completion
        for per_prompt in generate(
            model, tokenizer, prompt_ids, settings, samples=num_samples, batch_size=batch_size
        )
        for completion in per_prompt
    ]
    stats = GenerationStats(
        prompts=len(prompts),
        completions=len(completions),
        settings=settings.to_dict(),
        batch_size=batch_size,
        num_samples=1 if settings.greedy else num_samples,
        trimmed_prompts=trimmed,
        hit_token_limit=sum(c.finish_reason == FINISH_LENGTH for c in completions),
        ended_by_line_rule=sum(c.line_rule_ended for c in completions),
        mean_new_tokens=sum(len(c.token_ids) for c in completions) / max(len(completions), 1),
        seconds=time.perf_counter() - started,
    )
    return Generations(
        texts=tuple(c.text for c in completions),
        references=tuple(prompt.reference for prompt in prompts),
        stats=stats,
    )
