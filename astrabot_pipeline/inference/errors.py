"""The failures a user of `astrabot chat`, `export` and `serve` can hit.

Each message says what is wrong and what to do next; none holds message text.

* AstrabotError (astrabot_pipeline/errors.py)
  x InferenceError
    + AdapterUnusableError (FileNotFoundError)   the adapter folder is missing or incomplete
    + BaseModelUnavailableError (FileNotFoundError)  its recorded base cannot be loaded offline
    + PromptTooLongError (ValueError)            the last message alone overflows the context
    + ExportFolderError (OSError)                `--out` may not be written
    + ExportRefusedError (PermissionError)       the adapter failed its evaluation (--force)
    + AdapterRefusedError (PermissionError)      `chat`/`serve`: it failed its privacy checks
    + ChatTemplateError (ValueError)             an adapter's own chat template failed or ran
                                                 past its time or size bound
    + NoApprovedAdapterError (FileNotFoundError) no --adapter and no evaluated set passed
    + ServeSetupError (ValueError)               unsafe bind, unreadable or empty token
"""

from __future__ import annotations

from astrabot_pipeline.errors import AstrabotError


class InferenceError(AstrabotError):
    """Base class of every failure of the inference package."""


class AdapterUnusableError(InferenceError, FileNotFoundError):
    """The adapter folder is missing, incomplete, or its `stage_result.json` is unreadable."""


class BaseModelUnavailableError(InferenceError, FileNotFoundError):
    """The base model the adapter was trained on cannot be loaded from local files."""


class PromptTooLongError(InferenceError, ValueError):
    """Even the last message alone leaves no room for the reply in the model's context."""


class ExportFolderError(InferenceError, OSError):
    """The export's output folder is not new, empty, or an earlier export of ours."""


class ExportRefusedError(InferenceError, PermissionError):
    """The adapter's evaluation failed a blocking check; `--force` exports it marked unfit."""


class AdapterRefusedError(InferenceError, PermissionError):
    """`chat` or `serve` was pointed at an adapter whose evaluation failed a privacy check;
    `--force` uses it anyway."""


class ChatTemplateError(InferenceError, ValueError):
    """An adapter's own chat template (used only on request) failed, or ran past its time,
    memory or output bound."""


class NoApprovedAdapterError(InferenceError, FileNotFoundError):
    """No `--adapter` was named and no evaluated adapter set has passed its checks yet."""


class ServeSetupError(InferenceError, ValueError):
    """The server may not start as configured (e.g. a public address without a token)."""


__all__ = [
    "AdapterRefusedError",
    "AdapterUnusableError",
    "ChatTemplateError",
    "BaseModelUnavailableError",
    "ExportFolderError",
    "ExportRefusedError",
    "InferenceError",
    "NoApprovedAdapterError",
    "PromptTooLongError",
    "ServeSetupError",
]
