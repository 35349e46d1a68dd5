"""Using a trained model: load an adapter on its recorded base, chat with it in a terminal,
export it as a plain merged model, or serve it over an OpenAI-compatible HTTP API.

No Dagster here: `astrabot chat`, `astrabot export` and `astrabot serve` (cli/) are thin
wrappers over these modules. The names below load their module on first use
(lazy_exports.py), so the command line reads `serve_defaults` without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrabot_pipeline.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from astrabot_pipeline.inference.adapter import (
        AdapterInfo,
        LoadedModel,
        load_adapter,
        read_adapter_info,
    )
    from astrabot_pipeline.inference.chat import Conversation, answer_once, run_chat
    from astrabot_pipeline.inference.errors import (
        AdapterRefusedError,
        AdapterUnusableError,
        BaseModelUnavailableError,
        ChatTemplateError,
        ExportFolderError,
        InferenceError,
        PromptTooLongError,
        ServeSetupError,
    )
    from astrabot_pipeline.inference.export import ExportResult, export_model
    from astrabot_pipeline.inference.generation import Reply, generate_reply
    from astrabot_pipeline.inference.server import (
        ChatServer,
        ServeConfig,
        check_bind,
        read_token,
    )

_EXPORTS = {
    "adapter": ("AdapterInfo", "LoadedModel", "load_adapter", "read_adapter_info"),
    "chat": ("Conversation", "answer_once", "run_chat"),
    "errors": (
        "AdapterRefusedError",
        "AdapterUnusableError",
        "BaseModelUnavailableError",
        "ChatTemplateError",
        "ExportFolderError",
        "InferenceError",
        "PromptTooLongError",
        "ServeSetupError",
    ),
    "export": ("ExportResult", "export_model"),
    "generation": ("Reply", "generate_reply"),
    "server": ("ChatServer", "ServeConfig", "check_bind", "read_token"),
}

__all__ = [
    "AdapterInfo",
    "AdapterRefusedError",
    "AdapterUnusableError",
    "BaseModelUnavailableError",
    "ChatServer",
    "ChatTemplateError",
    "Conversation",
    "ExportFolderError",
    "ExportResult",
    "InferenceError",
    "LoadedModel",
    "PromptTooLongError",
    "Reply",
    "ServeConfig",
    "ServeSetupError",
    "answer_once",
    "check_bind",
    "export_model",
    "generate_reply",
    "load_adapter",
    "read_adapter_info",
    "read_token",
    "run_chat",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
