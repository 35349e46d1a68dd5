"""`astrabot serve`'s ASGI middleware: the access log and deadline, the token and Host rules.

- `RequestLog` (outermost) gives every request its deadline and its one log line (method,
  path, status, token counts, seconds, never a message), answers an unexpected exception
  as a JSON 500 with its type only, and closes the connection after any response sent
  before the request's body was read.
- `BearerTokenRule` (when a token is set): 401 unless `Authorization: Bearer <token>`,
  compared in constant time.
- `LoopbackHostRule` (when none is): 403 unless the `Host` names this machine, so a web
  page whose name resolves to 127.0.0.1 (DNS rebinding) is refused.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from astrabot_pipeline.inference import openai_api
from astrabot_pipeline.inference.generation import Reply
from astrabot_pipeline.inference.serve_protocol import ABORT_EXTENSION

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
STATE_KEY = "astrabot"


@dataclass
class Exchange:
    """What the log line says about one request, filled in as it is answered."""

    deadline: float  # time.monotonic() by which the reply must be generated and sent
    status: int | None = None
    reply: Reply | None = None
    note: str = ""


def exchange_of(scope: Scope) -> Exchange:
    """The request's `Exchange` (`RequestLog` puts it in the scope's state)."""
    return scope["state"][STATE_KEY]


def json_error(
    status: int,
    message: str,
    *,
    kind: str = "invalid_request_error",
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
    close: bool = False,
) -> JSONResponse:
    """An OpenAI-style error body; `close` ends the connection after it."""
    headers = dict(headers or {})
    if close:
        headers["Connection"] = "close"
    return JSONResponse(openai_api.error_body(message, kind, param, code), status, headers)


class RequestLog:
    """One log line per request, a deadline per request, no traceback ever."""

    def __init__(self, app: ASGIApp, *, request_timeout: float, log: Callable[[str], None]) -> None:
        self.app = app
        self.request_timeout = request_timeout
        self.log = log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.monotonic()
        exchange = Exchange(deadline=started + self.request_timeout)
        scope.setdefault("state", {})[STATE_KEY] = exchange
        headers = Headers(scope=scope)
        body_pending = "transfer-encoding" in headers or headers.get("content-length", "0") != "0"

        async def receive_counted() -> Message:
            nonlocal body_pending
            message = await receive()
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_pending = False
            return message

        async def send_noted(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
                if body_pending:  # the unread body would be taken for the next request
                    message = {
                        **message,
                        "headers": [*message["headers"], (b"connection", b"close")],
                    }
            await send(message)

        try:
            await self.app(scope, receive_counted, send_noted)
        except Exception as error:  # noqa: BLE001 - answered with its type only
            if exchange.status is None:
                await json_error(
                    500, f"internal error ({type(error).__name__})", kind="server_error", close=True
                )(scope, receive, send_noted)
            else:
                exchange.note = f" (stream ended by {type(error).__name__})"
                abort = scope.get("extensions", {}).get(ABORT_EXTENSION)
                if abort is None:
                    raise
                abort()
        finally:
            self.log(self._line(scope, exchange, time.monotonic() - started))

    @staticmethod
    def _line(scope: Scope, exchange: Exchange, seconds: float) -> str:
        method = scope["method"] if scope["method"] in ("GET", "POST") else "(other)"
        path = scope["path"] if scope["path"] in (CHAT_PATH, MODELS_PATH) else "(other)"
        status = exchange.status if exchange.status is not None else "-"
        reply = exchange.reply
        tokens = (
            f" prompt_tokens={reply.prompt_tokens} completion_tokens={reply.completion_tokens}"
            if reply is not None
            else ""
        )
        return f"{method} {path} {status}{tokens} {seconds:.2f}s{exchange.note}"


class BearerTokenRule:
    """Only requests carrying the bearer token get past (compared in constant time)."""

    def __init__(self, app: ASGIApp, *, token: str) -> None:
        self.app = app
        self.expected = token.encode("utf-8")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._authorized(Headers(scope=scope)):
            response = json_error(
                401,
                "a valid bearer token is required (Authorization: Bearer ...)",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
                close=True,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    def _authorized(self, headers: Headers) -> bool:
        given = headers.getlist("authorization")
        scheme, _, credentials = (given[0] if len(given) == 1 else "").partition(" ")
        if scheme.lower() != "bearer":
            credentials = ""
        return hmac.compare_digest(credentials.strip().encode("utf-8", "replace"), self.expected)


class LoopbackHostRule:
    """Without a token, only requests naming this machine as their `Host` get past."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self._loopback(Headers(scope=scope)):
            response = json_error(
                403,
                "this server without a token answers only requests addressed to a loopback "
                "name (127.0.0.1, localhost, ::1)",
                close=True,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _loopback(headers: Headers) -> bool:
        hosts = headers.getlist("host")
        host = (hosts[0] if len(hosts) == 1 else "").strip().lower()
        name = host.split("]")[0].lstrip("[") if host.startswith("[") else host.rsplit(":", 1)[0]
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False
