"""The OpenAI chat-completions wire format: request models and response bodies.

Only what a chat front end (AstrBot, LangBot, Open WebUI, the `openai` client) sends to a
text chat model is accepted: `messages` with text content, `max_tokens` /
`max_completion_tokens`, `temperature`, `top_p`, `seed`, `stop`, `n` = 1, `stream` and
`stream_options.include_usage`; other fields are ignored. The body is read by pydantic's
JSON parser, which refuses nesting deeper than `MAX_JSON_DEPTH` before recursing further.
A bad request raises `BadRequest` naming the parameter, never echoing the message text
(pydantic's own messages quote the input, so they are never shown).
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError
from pydantic_core import ErrorDetails

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.generation import GenerationSettings
from astrabot_pipeline.generation.settings import DEFAULT_TOP_P
from astrabot_pipeline.inference.generation import Reply

ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
MAX_MESSAGES = 10_000
# pydantic-core's JSON parser (jiter) stops at this depth with "recursion limit exceeded";
# a chat request needs 4 (body, messages, message, content parts).
MAX_JSON_DEPTH = 200
# `seed` is an int64 in OpenAI's API; larger integers are refused rather than wrapped.
SEED_MIN, SEED_MAX = -(2**63), 2**63 - 1

StrictInt = Annotated[int, Strict()]
StrictNumber = Annotated[float, Strict()]  # an int is a number too; a bool or string is not
StrictText = Annotated[str, Strict()]


class BadRequest(ValueError):
    """A request the server answers with 400 (`param` names the offending field)."""

    def __init__(self, message: str, param: str | None = None):
        super().__init__(message)
        self.param = param


class TextPart(BaseModel):
    type: Literal["text"]
    text: StrictText


class ChatMessage(BaseModel):
    role: Literal["system", "developer", "user", "assistant"]
    content: StrictText | list[TextPart]


class StreamOptions(BaseModel):
    include_usage: bool = False


class ChatCompletionRequest(BaseModel):
    """The fields of a chat-completions body this server reads; others are ignored."""

    model_config = ConfigDict(extra="ignore")

    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_completion_tokens: StrictInt | None = None
    max_tokens: StrictInt | None = None
    n: StrictInt | None = None
    stop: StrictText | list[StrictText] | None = None
    stream: Annotated[bool, Strict()] = False
    stream_options: StreamOptions | None = None
    temperature: StrictNumber | None = None
    top_p: StrictNumber | None = None
    seed: Annotated[int, Strict(), Field(ge=SEED_MIN, le=SEED_MAX)] | None = None


# What each field must be, as a 400 says it (never with the value that was sent).
FIELD_RULES = {
    "max_completion_tokens": "must be an integer",
    "max_tokens": "must be an integer",
    "n": "must be an integer",
    "stop": "must be a string or a list of strings",
    "stream": "must be true or false",
    "stream_options": "must be an object (include_usage: true or false)",
    "temperature": "must be a number",
    "top_p": "must be a number",
    "seed": f"must be an integer between {SEED_MIN} and {SEED_MAX}",
}


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat-completions request."""

    messages: list[dict[str, str]]
    settings: GenerationSettings
    stream: bool
    include_usage: bool


def _message_problem(index: int, error: ErrorDetails) -> BadRequest:
    loc = error["loc"]
    if len(loc) == 2:
        return BadRequest(f"messages[{index}] must be an object", f"messages[{index}]")
    field = loc[2]
    param = f"messages[{index}].{field}"
    if field == "role":
        return BadRequest(
            f"{param} must be one of {', '.join(sorted(ROLES))} (tools are not supported)", param
        )
    if field == "content" and len(loc) > 4:  # inside a content part
        if loc[-1] == "type":
            return BadRequest(f"{param}: only text parts are supported", param)
        return BadRequest(f"{param}: a text part needs a string 'text'", param)
    return BadRequest(f"{param} must be a string or a list of text parts", param)


def _problem(errors: list[ErrorDetails]) -> BadRequest:
    """The first validation error as a `BadRequest` naming its field, without its value."""
    # A content that is neither form gives one error per form; the first says enough.
    error = errors[0]
    loc = error["loc"]
    if not loc:
        if error["type"] == "json_invalid":
            if "recursion limit" in error["msg"]:
                return BadRequest(
                    f"the request body nests JSON deeper than {MAX_JSON_DEPTH} levels"
                )
            return BadRequest("the request body is not valid JSON")
        return BadRequest("the request body must be a JSON object")
    field = str(loc[0])
    if field == "messages":
        if len(loc) == 1:
            return BadRequest(
                f"'messages' must be a non-empty list of at most {MAX_MESSAGES} messages",
                "messages",
            )
        return _message_problem(int(loc[1]), error)
    return BadRequest(f"'{field}' {FIELD_RULES[field]}", field)


def _content(message: ChatMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "\n".join(part.text for part in message.content)


def parse_chat_request(
    body: bytes, *, default_max_tokens: int, max_tokens_limit: int, default_temperature: float
) -> ChatRequest:
    """Validate a request body; raise `BadRequest` for anything the server cannot honour."""
    try:
        request = ChatCompletionRequest.model_validate_json(body)
    except ValidationError as error:
        raise _problem(error.errors(include_url=False, include_input=False)) from None
    max_tokens = request.max_completion_tokens
    if max_tokens is None:
        max_tokens = request.max_tokens
    if max_tokens is None:
        max_tokens = default_max_tokens
    if not 1 <= max_tokens <= max_tokens_limit:
        raise BadRequest(
            f"max_tokens must be between 1 and {max_tokens_limit} on this server", "max_tokens"
        )
    if request.n not in (None, 1):
        raise BadRequest("only n = 1 is supported", "n")
    stops = (request.stop,) if isinstance(request.stop, str) else tuple(request.stop or ())
    try:
        settings = GenerationSettings(
            max_new_tokens=max_tokens,
            temperature=default_temperature if request.temperature is None else request.temperature,
            top_p=DEFAULT_TOP_P if request.top_p is None else request.top_p,
            seed=request.seed,
            stop=stops,
        )
    except SettingError as error:
        raise BadRequest(str(error)) from None
    return ChatRequest(
        messages=[
            {"role": ROLES[message.role], "content": _content(message)}
            for message in request.messages
        ],
        settings=settings,
        stream=request.stream,
        include_usage=bool(request.stream_options and request.stream_options.include_usage),
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
