"""One reply to a conversation: ChatML prompt, sampling settings, streaming, stop rules.

The conversation is a list of `{"role", "content"}` messages with the backup owner as the
assistant. The prompt is the tokenizer's own chat template with the generation prompt
added; the oldest turns are dropped when the conversation would not fit the model's
context with the reply (system messages and the last message are always kept).
Generation stops at `<|im_end|>` / eos, at a stop string, at `max_new_tokens`, or when
the caller's `should_stop` says so. Nothing here logs or stores a message.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.inference.adapter import LoadedModel
from astrabot_pipeline.inference.errors import PromptTooLongError

MAX_NEW_TOKENS_LIMIT = 4096
MAX_TEMPERATURE = 2.0
MAX_STOP_STRINGS = 4
MAX_STOP_STRING_CHARS = 200
FINISH_STOP, FINISH_LENGTH, FINISH_CANCELLED = "stop", "length", "cancelled"

TextCallback = Callable[[str], None]


@dataclass(frozen=True)
class GenerationSettings:
    """How to sample one reply. `temperature=0` is greedy (deterministic)."""

    max_new_tokens: int = 128
    temperature: float = 0.7
    top_p: float = 1.0
    seed: int | None = None
    stop: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if (
            isinstance(self.max_new_tokens, bool)
            or not 1 <= self.max_new_tokens <= MAX_NEW_TOKENS_LIMIT
        ):
            raise SettingError(
                f"max new tokens must be between 1 and {MAX_NEW_TOKENS_LIMIT}, "
                f"not {self.max_new_tokens}"
            )
        if not (math.isfinite(self.temperature) and 0 <= self.temperature <= MAX_TEMPERATURE):
            raise SettingError(
                f"temperature must be between 0 (greedy) and {MAX_TEMPERATURE}, "
                f"not {self.temperature}"
            )
        if not (math.isfinite(self.top_p) and 0 < self.top_p <= 1):
            raise SettingError(f"top_p must be in (0, 1], not {self.top_p}")
        if len(self.stop) > MAX_STOP_STRINGS or any(
            not s or len(s) > MAX_STOP_STRING_CHARS for s in self.stop
        ):
            raise SettingError(
                f"give at most {MAX_STOP_STRINGS} stop strings, each 1 to "
                f"{MAX_STOP_STRING_CHARS} characters"
            )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0


@dataclass
class Reply:
    """The generated text and its token counts (what an access log or `usage` may show)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: str
    dropped_messages: int = 0
    token_ids: list[int] = field(default_factory=list, repr=False)


def _render(tokenizer: Any, messages: Sequence[Mapping[str, str]]) -> list[int]:
    text = tokenizer.apply_chat_template(
        [{"role": m["role"], "content": m["content"]} for m in messages],
        tokenize=False,
        add_generation_prompt=True,
    )
    return list(tokenizer(text, add_special_tokens=False)["input_ids"])


def encode_prompt(
    loaded: LoadedModel, messages: Sequence[Mapping[str, str]], *, reply_tokens: int
) -> tuple[list[int], int]:
    """(prompt token ids, how many of the oldest non-system messages were dropped to fit).

    Raises `PromptTooLongError` when even the system messages and the last message leave
    no room for `reply_tokens`.
    """
    if not messages:
        raise SettingError("a conversation needs at least one message")
    budget = loaded.context_tokens - reply_tokens
    system = [m for m in messages[:-1] if m["role"] == "system"]
    turns = [m for m in messages[:-1] if m["role"] != "system"]
    last = messages[-1]
    # Dropping more turns only shortens the prompt: find the fewest drops that fit.
    low, high = 0, len(turns)
    fitted: list[int] | None = None
    while low <= high:
        middle = (low + high) // 2
        ids = _render(loaded.tokenizer, [*system, *turns[middle:], last])
        if len(ids) <= budget:
            fitted, dropped = ids, middle
            high = middle - 1
        else:
            low = middle + 1
    if fitted is None:
        what = "the system messages and the last message" if system else "the last message alone"
        raise PromptTooLongError(
            f"{what} leave no room in the model's context of {loaded.context_tokens} tokens "
            f"for a {reply_tokens}-token reply: shorten them, or ask for fewer new tokens"
        )
    return fitted, dropped


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of `text` could still become a stop string."""
    keep = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), keep, -1):
            if text.endswith(stop[:size]):
                keep = size
                break
    return keep


class _ReplyCollector:
    """A transformers streamer: collects the new tokens, decodes them incrementally, hands
    each piece of settled text to `on_text` and notices stop strings."""

    def __init__(self, loaded: LoadedModel, stops: Sequence[str], on_text: TextCallback | None):
        self.tokenizer = loaded.tokenizer
        self.stop_ids = set(loaded.stop_token_ids)
        self.stops = list(stops)
        self.on_text = on_text
        self.prompt_seen = False
        self.generated: list[int] = []
        self.kept: list[int] = []
        self.text = ""
        self.emitted = 0
        self.hit_stop_token = False
        self.hit_stop_string = False

    def put(self, value: Any) -> None:
        if not self.prompt_seen:  # generate() hands over the prompt first
            self.prompt_seen = True
            return
        for token in value.reshape(-1).tolist():
            self.generated.append(int(token))
            if self.hit_stop_token or self.hit_stop_string:
                continue
            if int(token) in self.stop_ids:
                self.hit_stop_token = True
                continue
            self.kept.append(int(token))
        self._advance(final=False)

    def end(self) -> None:
        self._advance(final=True)

    @property
    def finished(self) -> bool:
        return self.hit_stop_token or self.hit_stop_string

    def _advance(self, *, final: bool) -> None:
        if self.hit_stop_string:
            return
        text = self.tokenizer.decode(self.kept, skip_special_tokens=True)
        cut = min((i for i in (text.find(s) for s in self.stops) if i >= 0), default=-1)
        if cut >= 0:
            text, self.hit_stop_string = text[:cut], True
            settled = len(text)
        elif final:
            settled = len(text)
        elif text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
            settled = len(text) - 1
        else:
            settled = len(text) - _held_back(text, self.stops)
        self.text = text
        if settled > self.emitted:
            piece, self.emitted = text[self.emitted : settled], settled
            if self.on_text is not None:
                self.on_text(piece)


def _generation_config(loaded: LoadedModel, settings: GenerationSettings) -> Any:
    from transformers import GenerationConfig

    sample = not settings.greedy
    return GenerationConfig(
        max_new_tokens=settings.max_new_tokens,
        min_new_tokens=0,
        do_sample=sample,
        num_beams=1,
        temperature=settings.temperature if sample else 1.0,
        top_p=settings.top_p if sample else 1.0,
        top_k=0 if sample else 50,  # 0: no top-k cut when sampling; 50 is the unused default
        typical_p=1.0,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        eos_token_id=list(loaded.stop_token_ids) or None,
        pad_token_id=loaded.tokenizer.pad_token_id,
    )


@contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    """A private RNG scope seeded with `seed` (the caller's randomness is left as it was)."""
    if seed is None:
        yield
        return
    import torch

    devices = [torch.cuda.current_device()] if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def generate_reply(
    loaded: LoadedModel,
    messages: Sequence[Mapping[str, str]],
    settings: GenerationSettings,
    *,
    on_text: TextCallback | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> Reply:
    """The model's next assistant turn after `messages`.

    `on_text` receives the reply piece by piece as it is generated (what a terminal or a
    streaming response shows); `should_stop` is polled after every token (cancellation).
    An exception raised by `on_text` ends generation and propagates.
    """
    import torch
    from transformers import StoppingCriteria, StoppingCriteriaList

    prompt, dropped = encode_prompt(loaded, messages, reply_tokens=settings.max_new_tokens)
    collector = _ReplyCollector(loaded, settings.stop, on_text)
    cancelled = False

    class _Stop(StoppingCriteria):
        def __call__(self, input_ids, scores, **kwargs):
            nonlocal cancelled
            if should_stop is not None and should_stop():
                cancelled = True
            done = collector.hit_stop_string or cancelled
            return torch.full(
                (input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device
            )

    device = next(loaded.model.parameters()).device
    input_ids = torch.tensor([prompt], dtype=torch.long, device=device)
    with torch.inference_mode(), _seeded(settings.seed):
        loaded.model.generate(
            input_ids=input_ids,
            attention_mask=torch.ones_like(input_ids),
            generation_config=_generation_config(loaded, settings),
            streamer=collector,
            stopping_criteria=StoppingCriteriaList([_Stop()]),
        )
    if collector.finished:
        reason = FINISH_STOP
    elif cancelled:
        reason = FINISH_CANCELLED
    else:
        reason = FINISH_LENGTH
    return Reply(
        text=collector.text,
        prompt_tokens=len(prompt),
        completion_tokens=len(collector.generated),
        finish_reason=reason,
        dropped_messages=dropped,
        token_ids=list(collector.generated),
    )


__all__ = [
    "FINISH_CANCELLED",
    "FINISH_LENGTH",
    "FINISH_STOP",
    "MAX_NEW_TOKENS_LIMIT",
    "GenerationSettings",
    "Reply",
    "encode_prompt",
    "generate_reply",
]
