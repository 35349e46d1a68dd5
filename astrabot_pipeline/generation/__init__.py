"""Generating replies: the one implementation chat, serve and the evaluation share.

- `settings.py`: `GenerationSettings` (sampling, repetition control, line rules) and
  their defaults;
- `lines.py`: the line rules (a cap on lines, no line identical to the one before);
- `reply_text.py`: one reply's text as its tokens arrive (stop tokens and strings, the
  line rules, streaming);
- `decoding.py`: the batched decoding loop (`generate`), imported from there because it
  needs torch.

No Dagster, no logging: generated text is handed back to the caller in memory only.
"""

from astrabot_pipeline.generation.lines import count_lines, cut_lines, percentile_90
from astrabot_pipeline.generation.reply_text import (
    FINISH_CANCELLED,
    FINISH_LENGTH,
    FINISH_STOP,
    Completion,
)
from astrabot_pipeline.generation.settings import (
    DEFAULT_MAX_NEW_TOKENS,
    MAX_NEW_TOKENS_LIMIT,
    GenerationSettings,
)

__all__ = [
    "DEFAULT_MAX_NEW_TOKENS",
    "FINISH_CANCELLED",
    "FINISH_LENGTH",
    "FINISH_STOP",
    "MAX_NEW_TOKENS_LIMIT",
    "Completion",
    "GenerationSettings",
    "count_lines",
    "cut_lines",
    "percentile_90",
]
