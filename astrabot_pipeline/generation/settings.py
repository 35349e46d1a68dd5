"""How a reply is generated: one settings class for chat, serve and the evaluation.

The defaults are what a user of `astrabot chat` gets and what the evaluation measures
(docs/evaluation.md, "Generation settings", says why each value was chosen):
- temperature 0.7 and nucleus top-p 0.9: sampled, as people's replies vary; greedy
  decoding (temperature 0) stays available and deterministic;
- repetition penalty 1.1 on the tokens the reply already holds (mild: a short chat reply
  may repeat a word) and no repeated token 3-gram within one reply (a loop such as
  "ok\\nok\\nok" is cut before it starts);
- at most `max_lines` lines (the owner's 90th-percentile burst length, stored with the
  adapter) and never a line identical to the one before (`lines.py`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from astrabot_pipeline.errors import SettingError

MAX_NEW_TOKENS_LIMIT = 4096
MAX_TEMPERATURE = 2.0
MAX_REPETITION_PENALTY = 2.0
MAX_STOP_STRINGS = 4
MAX_STOP_STRING_CHARS = 200

DEFAULT_MAX_NEW_TOKENS = 128
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TOP_P = 0.9
DEFAULT_REPETITION_PENALTY = 1.1
DEFAULT_NO_REPEAT_NGRAM_SIZE = 3


@dataclass(frozen=True)
class GenerationSettings:
    """How to generate one reply. `temperature=0` is greedy (deterministic); above 0 the
    reply is sampled within nucleus `top_p`, from `seed` when given. `repetition_penalty`
    (1 = off) and `no_repeat_ngram_size` (0 = off) look at the reply's own tokens only,
    never the prompt's. `max_lines` (None = no cap) caps the reply's non-blank lines;
    `distinct_lines` ends a reply before a line identical to the one before it. Generation
    also stops at a stop token, at any of the `stop` strings, or after `max_new_tokens`."""

    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = DEFAULT_TOP_P
    repetition_penalty: float = DEFAULT_REPETITION_PENALTY
    no_repeat_ngram_size: int = DEFAULT_NO_REPEAT_NGRAM_SIZE
    max_lines: int | None = None
    distinct_lines: bool = True
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
        if not (
            math.isfinite(self.repetition_penalty)
            and 1 <= self.repetition_penalty <= MAX_REPETITION_PENALTY
        ):
            raise SettingError(
                f"repetition penalty must be between 1 (off) and {MAX_REPETITION_PENALTY}, "
                f"not {self.repetition_penalty}"
            )
        if isinstance(self.no_repeat_ngram_size, bool) or self.no_repeat_ngram_size < 0:
            raise SettingError("no_repeat_ngram_size must be 0 (off) or a positive n-gram size")
        if self.max_lines is not None and (isinstance(self.max_lines, bool) or self.max_lines < 1):
            raise SettingError(f"max lines must be at least 1 (or unset), not {self.max_lines}")
        if len(self.stop) > MAX_STOP_STRINGS or any(
            not s or len(s) > MAX_STOP_STRING_CHARS for s in self.stop
        ):
            raise SettingError(
                f"give at most {MAX_STOP_STRINGS} stop strings, each 1 to "
                f"{MAX_STOP_STRING_CHARS} characters"
            )

    @classmethod
    def unshaped(
        cls, max_new_tokens: int, *, temperature: float = 0.0, top_p: float = 1.0
    ) -> GenerationSettings:
        """The model's own distribution: no repetition control and no line rules. The
        privacy probes use it (their leakage and memorization measures are defined on
        plain greedy and sampled continuations)."""
        return cls(
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
            repetition_penalty=1.0,
            no_repeat_ngram_size=0,
            max_lines=None,
            distinct_lines=False,
        )

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    @property
    def shapes_lines(self) -> bool:
        """Whether a line rule can end a reply (then its text is watched for newlines)."""
        return self.distinct_lines or self.max_lines is not None

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["stop"] = len(self.stop)  # how many, never the strings themselves
        return payload


__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "DEFAULT_NO_REPEAT_NGRAM_SIZE",
    "DEFAULT_REPETITION_PENALTY",
    "DEFAULT_TEMPERATURE",
    "DEFAULT_TOP_P",
    "MAX_NEW_TOKENS_LIMIT",
    "GenerationSettings",
]
