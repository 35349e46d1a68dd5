"""The OpenAI chat-completions wire format: request validation and response bodies.

Only what a chat front end (AstrBot, LangBot, Open WebUI, the `openai` client) sends to a
text chat model is accepted: `messages` with text content, `max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `seed`, `stop`, `n` = 1, `stream` and
`stream_options.include_usage`; other fields are ignored. A bad request raises
`BadRequest` naming the parameter, never echoing the message text.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.generation import GenerationSettings
from astrabot_pipeline.generation.settings import DEFAULT_TOP_P
from astrabot_pipeline.inference.generation import Reply

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_MESSAGES = 10_000


class BadRequest(ValueError):
    """A request the server answers with 400 (`param` names the offending field)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completions request."""

    messages: list[dict[str, str]]
    settings: GenerationSettings
    stream: bool
    include_usage: bool


def _content(value: Any, index: int) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # content parts: only text is supported
        texts = []
        for part in value:
            if not isinstance(part, Mapping) or part.get("type") != "text":
                raise BadRequest(
                    f"messages[{index}].content: only text parts are supported",
                    f"messages[{index}].content",
                )
            if not isinstance(part.get("text"), str):
                raise BadRequest(
                    f"messages[{index}].content: a text part needs a string 'text'",
                    f"messages[{index}].content",
                )
            texts.append(part["text"])
        return "\n".join(texts)
    raise BadRequest(
        f"messages[{index}].content must be a string or a list of text parts",
        f"messages[{index}].content",
    )


def _messages(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not value:
        raise BadRequest("'messages' must be a non-empty list", "messages")
    if len(value) > MAX_MESSAGES:
        raise BadRequest(f"at most {MAX_MESSAGES} messages per request", "messages")
    messages = []
    for index, message in enumerate(value):
        if not isinstance(message, Mapping):
            raise BadRequest(f"messages[{index}] must be an object", f"messages[{index}]")
        role = message.get("role")
        if role not in ROLES:
            raise BadRequest(
                f"messages[{index}].role must be one of {', '.join(sorted(ROLES))} "
                "(tools are not supported)",
                f"messages[{index}].role",
            )
        messages.append({"role": ROLES[role], "content": _content(message.get("content"), index)})
    return messages


def _number(payload: Mapping[str, Any], key: str, default: float) -> float:
    value = payload.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise BadRequest(f"'{key}' must be a number", key)
    return float(value)


def _integer(payload: Mapping[str, Any], key: str) -> int | None:
    value = payload.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequest(f"'{key}' must be an integer", key)
    return value


def parse_chat_request(
    body: bytes, *, default_max_tokens: int, max_tokens_limit: int, default_temperature: float
) -> ChatRequest:
    """Validate a request body; raise `BadRequest` for anything the server cannot honour."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("the request body is not valid JSON") from None
    if not isinstance(payload, dict):
        raise BadRequest("the request body must be a JSON object")
    messages = _messages(payload.get("messages"))
    max_tokens = _integer(payload, "max_completion_tokens")
    if max_tokens is None:
        max_tokens = _integer(payload, "max_tokens")
    if max_tokens is None:
        max_tokens = default_max_tokens
    if not 1 <= max_tokens <= max_tokens_limit:
        raise BadRequest(
            f"max_tokens must be between 1 and {max_tokens_limit} on this server", "max_tokens"
        )
    n = _integer(payload, "n")
    if n not in (None, 1):
        raise BadRequest("only n = 1 is supported", "n")
    stop = payload.get("stop")
    if stop is None:
        stops: tuple[str, ...] = ()
    elif isinstance(stop, str):
        stops = (stop,)
    elif isinstance(stop, list) and all(isinstance(s, str) for s in stop):
        stops = tuple(stop)
    else:
        raise BadRequest("'stop' must be a string or a list of strings", "stop")
    stream = payload.get("stream", False)
    if not isinstance(stream, bool):
        raise BadRequest("'stream' must be true or false", "stream")
    options = payload.get("stream_options") or {}
    if not isinstance(options, Mapping):
        raise BadRequest("'stream_options' must be an object", "stream_options")
    try:
        settings = GenerationSettings(
            max_new_tokens=max_tokens,
            temperature=_number(payload, "temperature", default_temperature),
            top_p=_number(payload, "top_p", DEFAULT_TOP_P),
            seed=_integer(payload, "seed"),
            stop=stops,
        )
    except SettingError as error:
        raise BadRequest(str(error)) from None
    return ChatRequest(
        messages=messages,
        settings=settings,
        stream=stream,
        include_usage=bool(options.get("include_usage", False)),
    )


def completion_id() -> str:
    return "chatcmpl-" + secrets.token_hex(12)


def usage(reply: Reply) -> dict[str, int]:
    return {
        "prompt_tokens": reply.prompt_tokens,
        "completion_tokens": reply.completion_tokens,
        "total_tokens": reply.prompt_tokens + reply.completion_tokens,
    }


def completion_body(ident: str, created: int, model: str, reply: Reply) -> dict[str, Any]:
    """A non-streaming `chat.completion` response."""
    return {
        "id": ident,
        "object": "chat.completion",
        "created": created,
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "logprobs": None,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": usage(reply),
    }


def chunk_body(
    ident: str,
    created: int,
    model: str,
    delta: dict[str, str],
    finish_reason: str | None = None,
) -> dict[str, Any]:
    """One `chat.completion.chunk` of a streamed response."""
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
    }


def usage_chunk_body(ident: str, created: int, model: str, reply: Reply) -> dict[str, Any]:
    """The last chunk when `stream_options.include_usage` is set: no choices, the usage."""
    return {
        "id": ident,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [],
        "usage": usage(reply),
    }


def models_body(model: str, created: int) -> dict[str, Any]:
    return {
        "object": "list",
        "data": [{"id": model, "object": "model", "created": created, "owned_by": "astrabot"}],
    }


def error_body(message: str, kind: str, param: str | None = None, code: str | None = None):
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def now() -> int:
    return int(time.time())


__all__ = [
    "BadRequest",
    "ChatRequest",
    "chunk_body",
    "completion_body",
    "completion_id",
    "error_body",
    "models_body",
    "parse_chat_request",
    "usage_chunk_body",
]
