"""`astrabot serve`'s routes: `POST /v1/chat/completions` (SSE when streamed), `GET /v1/models`.

A Starlette app behind `serve_middleware` (log and deadline, token or Host rule). The body
is read only after the rules passed, within the request's deadline and the size bound,
then validated by `openai_api`; the reply is generated through the `GenerationQueue` (one
at a time, a bounded line, 503 with `Retry-After` when it is full). A client that leaves
stops its generation. Every error is an OpenAI-style JSON body without a traceback.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from astrabot_pipeline.generation import FINISH_CANCELLED, FINISH_LENGTH, FINISH_STOP
from astrabot_pipeline.inference import openai_api
from astrabot_pipeline.inference.errors import PromptTooLongError
from astrabot_pipeline.inference.generation import Reply
from astrabot_pipeline.inference.serve_middleware import (
    CHAT_PATH,
    MODELS_PATH,
    BearerTokenRule,
    Exchange,
    LoopbackHostRule,
    RequestLog,
    exchange_of,
    json_error,
)
from astrabot_pipeline.inference.serve_queue import Backend, GenerationQueue, QueueFull, TurnMissed

T = TypeVar("T")
_END = object()  # after the last piece of a streamed reply


@dataclass
class ServeState:
    """What every request reads: the model, the limits, the generation line."""

    model_name: str
    created: int
    backend: Backend | None
    queue: GenerationQueue
    max_body_bytes: int
    default_max_tokens: int
    max_tokens_limit: int
    default_temperature: float


class _ClientLeft(Exception):
    """The client closed its connection before the reply was ready."""


def build_app(
    state: ServeState,
    *,
    token: str | None,
    request_timeout: float,
    log: Callable[[str], None],
) -> Starlette:
    """The ASGI app: the routes behind the log, deadline and access rules."""
    rule = Middleware(BearerTokenRule, token=token) if token else Middleware(LoopbackHostRule)

    async def models(request: Request) -> Response:
        return JSONResponse(openai_api.models_body(state.model_name, state.created))

    async def chat(request: Request) -> Response:
        return await _chat(request, state)

    async def not_routed(request: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        known = request.url.path in (CHAT_PATH, MODELS_PATH)
        status = 405 if known else 404
        phrase = "Method Not Allowed" if known else "Not Found"
        return json_error(
            status,
            f"{phrase}: this server answers POST {CHAT_PATH} and GET {MODELS_PATH}",
            close=True,
        )

    app = Starlette(
        routes=[
            Route(CHAT_PATH, chat, methods=["POST"]),
            Route(MODELS_PATH, models, methods=["GET"]),
        ],
        middleware=[
            Middleware(RequestLog, request_timeout=request_timeout, log=log),
            rule,
        ],
        exception_handlers={404: not_routed, 405: not_routed},
    )
    app.router.redirect_slashes = False  # "/v1/models/" is not found, as before
    return app


# -- chat completions ------------------------------------------------------------------


async def _chat(request: Request, state: ServeState) -> Response:
    exchange = exchange_of(request.scope)
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "application/json":
        # Also keeps web pages out: a browser sends JSON cross-site only after a CORS
        # preflight, which this server never approves.
        return json_error(
            415, "send the request body as Content-Type: application/json", close=True
        )
    body = await _read_body(request, state.max_body_bytes, exchange)
    if isinstance(body, Response):
        return body
    try:
        chat = openai_api.parse_chat_request(
            body,
            default_max_tokens=min(state.default_max_tokens, state.max_tokens_limit),
            max_tokens_limit=state.max_tokens_limit,
            default_temperature=state.default_temperature,
        )
    except openai_api.BadRequest as error:
        return json_error(400, str(error), param=error.param)
    if state.backend is None:
        return json_error(503, "the model is still loading", kind="server_error")
    if chat.stream:
        return await _stream(request, state, chat, exchange)
    generation = state.queue.generate(
        state.backend, chat.messages, chat.settings, deadline=exchange.deadline
    )
    try:
        reply = await _unless_client_leaves(request, generation)
    except Exception as error:  # noqa: BLE001 - each kind has its answer
        return _generation_failed(error, state, exchange)
    exchange.reply = reply
    body_json = openai_api.completion_body(
        openai_api.completion_id(), openai_api.now(), state.model_name, _public(reply, exchange)
    )
    return JSONResponse(body_json)


async def _read_body(request: Request, limit: int, exchange: Exchange) -> bytes | Response:
    """The body, or the response refusing it: it must have a Content-Length within `limit`
    and arrive before the request's deadline."""
    if "transfer-encoding" in request.headers:
        return json_error(411, "send the body with a Content-Length", close=True)
    raw = request.headers.get("content-length")
    if raw is None:
        return json_error(411, "a Content-Length header is required", close=True)
    if int(raw) > limit:  # h11 has checked it is a number
        return json_error(413, f"the request body is larger than {limit} bytes", close=True)
    try:
        async with asyncio.timeout(exchange.deadline - time.monotonic()):
            return await request.body()
    except TimeoutError:
        return json_error(
            408, "the request body did not arrive before the request's deadline", close=True
        )
    except ClientDisconnect:
        return _client_left(exchange)


async def _unless_client_leaves(request: Request, work: Awaitable[T]) -> T:
    """`work`'s result, or `_ClientLeft` (and `work` cancelled) when the client disconnects
    first: a reply nobody waits for is not generated to its end."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait({task, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        if not task.done():
            task.cancel()
    if not task.done() or task.cancelled():
        raise _ClientLeft
    return task.result()


async def _disconnected(request: Request) -> None:
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _generation_failed(error: Exception, state: ServeState, exchange: Exchange) -> Response:
    if isinstance(error, QueueFull):
        return json_error(
            503,
            f"the server is busy: {state.queue.max_waiting} requests are already waiting; "
            "try again",
            kind="server_error",
            headers={"Retry-After": str(error.retry_after)},
        )
    if isinstance(error, TurnMissed):
        return json_error(
            503,
            "the server is busy with other requests; try again",
            kind="server_error",
            headers={"Retry-After": str(state.queue.retry_after())},
        )
    if isinstance(error, PromptTooLongError):
        return json_error(400, str(error), param="messages", code="context_length_exceeded")
    if isinstance(error, _ClientLeft):
        return _client_left(exchange)
    return json_error(
        500, f"generation failed ({type(error).__name__})", kind="server_error", close=True
    )


def _client_left(exchange: Exchange) -> Response:
    exchange.note = " (client left)"
    return Response(status_code=499)  # nobody reads it; 499 is how nginx logs a client that left


def _public(reply: Reply, exchange: Exchange) -> Reply:
    """A reply as clients see it: one cut at the request's deadline ends for "length" (it
    is incomplete); one cut by the server stopping reads as stopped."""
    if reply.finish_reason != FINISH_CANCELLED:
        return reply
    if time.monotonic() >= exchange.deadline:
        exchange.note = " (cut at the request deadline)"
        finish = FINISH_LENGTH
    else:
        finish = FINISH_STOP
    return Reply(reply.text, reply.prompt_tokens, reply.completion_tokens, finish)


# -- streaming ---------------------------------------------------------------------------


async def _stream(
    request: Request, state: ServeState, chat: openai_api.ChatRequest, exchange: Exchange
) -> Response:
    """Server-Sent Events, once the first piece (or the end) is there: an error before any
    text (a full queue, a prompt too long) is still a JSON error with its status."""
    assert state.backend is not None
    loop = asyncio.get_running_loop()
    pieces: asyncio.Queue[Any] = asyncio.Queue()

    def on_text(piece: str) -> None:  # called from the worker thread
        loop.call_soon_threadsafe(pieces.put_nowait, piece)

    generation = asyncio.ensure_future(
        state.queue.generate(
            state.backend, chat.messages, chat.settings, deadline=exchange.deadline, on_text=on_text
        )
    )
    generation.add_done_callback(lambda _: pieces.put_nowait(_END))
    try:
        first = await _unless_client_leaves(request, pieces.get())
    except _ClientLeft as left:
        generation.cancel()
        return _generation_failed(left, state, exchange)
    if first is _END and generation.exception() is not None:
        return _generation_failed(generation.exception(), state, exchange)  # type: ignore[arg-type]
    return StreamingResponse(
        _events(state, chat, exchange, first, pieces, generation),
        # As before (and as OpenAI sends it): no charset parameter; the events are UTF-8.
        headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"},
    )


async def _events(
    state: ServeState,
    chat: openai_api.ChatRequest,
    exchange: Exchange,
    first: Any,
    pieces: asyncio.Queue[Any],
    generation: asyncio.Future[Reply],
) -> AsyncIterator[bytes]:
    ident, created, model = openai_api.completion_id(), openai_api.now(), state.model_name

    def event(payload: dict | str) -> bytes:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        return f"data: {data}\n\n".encode()

    try:
        yield event(
            openai_api.chunk_body(ident, created, model, {"role": "assistant", "content": ""})
        )
        piece = first
        while piece is not _END:
            yield event(openai_api.chunk_body(ident, created, model, {"content": piece}))
            piece = await pieces.get()
        reply = generation.result()  # a failure half-way is raised: RequestLog aborts
        exchange.reply = reply
        public = _public(reply, exchange)
        yield event(openai_api.chunk_body(ident, created, model, {}, public.finish_reason))
        if chat.include_usage:
            yield event(openai_api.usage_chunk_body(ident, created, model, public))
        yield event("[DONE]")
    except asyncio.CancelledError:
        exchange.note = " (client closed the stream)"
        raise
    finally:
        generation.cancel()  # a no-op once it is done; else the generation stops
