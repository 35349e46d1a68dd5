"""Batched generation of the owner's next reply from held-out chat records.

For each record the prompt is every message before its last assistant turn, rendered with
the chat template and its generation prompt; the reference is that last assistant reply
(the owner's real one). `lm_batches.generate` continues the prompts, left-padded into
batches sorted by length, for at most `max_new_tokens`: greedily by default, which is
deterministic, or sampled from a seed. A prompt longer than its budget loses its oldest
tokens (see `trim_prompt_left`), so prompt and reply fit the length the stages trained on.

The generated texts come back to the caller in memory only; nothing here logs them.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.lm_batches import Sampling, generate
from astrabot_pipeline.training.stages import validate_chat_records

# The owner's real replies average under 40 characters (about 10 tokens); 32 new tokens
# leave room for a long one. Measured with the small profile (SmolLM2-135M) on 47 demo test
# examples, one CPU thread: 22 s of CPU in batches of 16, 68 s one prompt at a time, with
# identical texts (batches are sorted by prompt length, so little is padding).
DEFAULT_MAX_NEW_TOKENS = 32
DEFAULT_GENERATION_BATCH_SIZE = 16
DEFAULT_MAX_LENGTH = 256


@dataclass(frozen=True)
class GenerationSettings:
    """How replies are generated. `temperature` 0 means greedy (one completion per prompt);
    above 0, `num_samples` completions per prompt are sampled, seeded by `seed`.
    `max_length` bounds prompt + new tokens (the stages' trained length)."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    batch_size: int = DEFAULT_GENERATION_BATCH_SIZE
    max_length: int = DEFAULT_MAX_LENGTH
    temperature: float = 0.0
    num_samples: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_new_tokens < 1 or self.batch_size < 1 or self.num_samples < 1:
            raise SettingError("max_new_tokens, batch_size and num_samples must be at least 1")
        if self.max_length <= self.max_new_tokens:
            raise SettingError(
                f"max_length ({self.max_length}) must exceed max_new_tokens "
                f"({self.max_new_tokens}), leaving room for the prompt"
            )
        if self.temperature < 0:
            raise SettingError("temperature must be 0 (greedy) or positive (sampling)")
        if self.temperature == 0 and self.num_samples != 1:
            raise SettingError("greedy generation (temperature 0) gives one completion per prompt")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def prompt_budget(self) -> int:
        """Prompt tokens kept, so that prompt + generated reply fit in `max_length`."""
        return self.max_length - self.max_new_tokens

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
    max_new_tokens: int
    batch_size: int
    temperature: float
    num_samples: int
    seed: int
    trimmed_prompts: int
    hit_token_limit: int
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


def decode_reply(tokenizer, ids: Sequence[int]) -> str:
    """A generated reply's text: special tokens dropped, surrounding whitespace stripped."""
    return tokenizer.decode(
        list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False
    ).strip()


def generate_replies(
    model,
    tokenizer,
    records: Sequence[Mapping[str, Any]],
    settings: GenerationSettings | None = None,
    *,
    chat_template: str | None = None,
) -> Generations:
    """The model's reply to each record's context, next to the owner's real reply.

    `model` is what `ModelEvaluator.attached` yields (the base, or base + an adapter);
    `chat_template` the evaluator's (None: the tokenizer's own)."""
    settings = settings or GenerationSettings()
    started = time.perf_counter()
    prompts = chat_prompts(records)
    prompt_ids = []
    trimmed = 0
    for prompt in prompts:
        ids, was_trimmed = trim_prompt_left(
            prompt_token_ids(tokenizer, prompt.messages, chat_template), settings.prompt_budget
        )
        prompt_ids.append(ids)
        trimmed += was_trimmed
    completions = generate(
        model,
        tokenizer,
        prompt_ids,
        Sampling(
            settings.max_new_tokens,
            greedy=settings.greedy,
            samples=0 if settings.greedy else settings.num_samples,
            temperature=settings.temperature or 1.0,
        ),
        batch_size=settings.batch_size,
        seed=settings.seed,
    )
    new_ids = [ids for per_prompt in completions for ids in per_prompt]
    # A reply that did not end within the budget was cut short: it ran to max_new_tokens.
    hit_limit = sum(len(ids) >= settings.max_new_tokens for ids in new_ids)
    stats = GenerationStats(
        prompts=len(prompts),
        completions=len(new_ids),
        max_new_tokens=settings.max_new_tokens,
        batch_size=settings.batch_size,
        temperature=settings.temperature,
        num_samples=settings.num_samples,
        seed=settings.seed,
        trimmed_prompts=trimmed,
        hit_token_limit=hit_limit,
        mean_new_tokens=sum(len(ids) for ids in new_ids) / max(len(new_ids), 1),
        seconds=time.perf_counter() - started,
    )
    return Generations(
        texts=tuple(decode_reply(tokenizer, ids) for ids in new_ids),
        references=tuple(prompt.reference for prompt in prompts),
        stats=stats,
    )
