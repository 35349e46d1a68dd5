"""Using a trained model: load an adapter on its recorded base, chat with it in a terminal,
export it as a plain merged model, or serve it over an OpenAI-compatible HTTP API.

No Dagster here: `astrabot chat`, `astrabot export` and `astrabot serve` (cli.py) are thin
wrappers over these modules.
"""

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
from astrabot_pipeline.inference.server import ChatServer, ServeConfig, check_bind, read_token

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
