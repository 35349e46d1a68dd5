"""Library notices a user cannot act on, silenced one by one at their source.

Each is matched by its logger or by its warning's message, category and module, so every
other warning (a library's or ours) still reaches the terminal and the event log. Add one
only with the reason it cannot be acted on.
"""

from __future__ import annotations

import logging
import warnings

# transformers 5 deprecated `PreTrainedModel.is_gradient_checkpointing`; peft and trl still
# read it whenever a LoRA model is built or loaded (every training stage, every `astrabot
# chat`). Nothing in this project calls it, and the fix is theirs.
GRADIENT_CHECKPOINTING_DEPRECATION = "`is_gradient_checkpointing` is deprecated"
GRADIENT_CHECKPOINTING_MODULE = "transformers.modeling_utils"

# Importing bitsandbytes on a CPU with AVX512-BF16 looks up its 4-bit CPU kernel on the
# Hugging Face Hub through `kernels`: `kernels` says it skips the publisher trust check
# because the Hub is offline, and bitsandbytes that it could not load the kernel (it is
# not in the offline cache). astrabot forces the Hub offline (settings.harden_process) and
# never computes in 4 bits on a CPU, so neither says anything a user could change.
# (logger, the start of the message it drops)
DROPPED_LOG_NOTICES = (
    ("kernels._internals.hf_hub", "Skipping publisher trust check for "),
    (
        "bitsandbytes.backends.cpu.ops",
        "Failed to load CPU gemm_4bit_forward from kernels-community",
    ),
)


class _DropNotice(logging.Filter):
    """Drops the records of one logger whose message starts with `prefix`."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self.prefix = prefix

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith(self.prefix)


_FILTERS = {logger: _DropNotice(prefix) for logger, prefix in DROPPED_LOG_NOTICES}


def quiet_library_notices() -> None:
    """Silence the notices above, and only those (idempotent)."""
    warnings.filterwarnings(
        "ignore",
        message=GRADIENT_CHECKPOINTING_DEPRECATION,
        category=FutureWarning,
        module=GRADIENT_CHECKPOINTING_MODULE,
    )
    for logger, notice_filter in _FILTERS.items():
        logging.getLogger(logger).addFilter(notice_filter)
