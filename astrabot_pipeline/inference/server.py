"""`astrabot serve`: the tuned model behind an OpenAI-compatible HTTP API, standard library only.

`POST /v1/chat/completions` (streaming as Server-Sent Events) and `GET /v1/models`.
Safe by default: it binds 127.0.0.1, refuses any address other machines can reach unless
a bearer token is set (compared in constant time), bounds the request body, the reply
length and the number of open connections, generates one reply at a time, answers every
error as a JSON body without a traceback, and logs one line per request (method, path,
status, token counts, seconds), never a message.
"""

from __future__ import annotations

import contextlib
import errno
import hmac
import ipaddress
import json
import os
import socket
import socketserver
import stat
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit

from astrabot_pipeline.generation import FINISH_CANCELLED, FINISH_STOP
from astrabot_pipeline.generation.settings import DEFAULT_TEMPERATURE
from astrabot_pipeline.inference import openai_api
from astrabot_pipeline.inference.errors import PromptTooLongError, ServeSetupError
from astrabot_pipeline.inference.generation import Reply

TOKEN_ENV = "ASTRABOT_SERVE_TOKEN"
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
MAX_BODY_BYTES = 1 << 20
MIN_TOKEN_CHARS = 16
MAX_CONNECTIONS = 32
LOCK_WAIT_SECONDS = 300.0
SOCKET_TIMEOUT_SECONDS = 60.0
CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
ROUTES = {("POST", CHAT_PATH): "_chat", ("GET", MODELS_PATH): "_models"}
TOKEN_HINT = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"

Backend = Callable[..., Reply]


@dataclass(frozen=True)
class ServeConfig:
    """What the server binds to and the bounds it enforces."""

    model_name: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    default_max_tokens: int = 256
    max_tokens_limit: int = 1024
    default_temperature: float = DEFAULT_TEMPERATURE
    max_body_bytes: int = MAX_BODY_BYTES
    max_connections: int = MAX_CONNECTIONS


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback address (only this machine)."""
    name = host.strip("[]")
    if name.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(name, None, proto=socket.IPPROTO_TCP)
    except OSError:
        raise ServeSetupError(f"cannot resolve --host {host}: give an IP address") from None
    return bool(found) and all(
        ipaddress.ip_address(str(info[4][0]).split("%")[0]).is_loopback for info in found
    )


def read_token(token_file: Path | None, environ: Mapping[str, str] | None = None) -> str | None:
    """The bearer token from `token_file`, else from ASTRABOT_SERVE_TOKEN, else None."""
    environ = os.environ if environ is None else environ
    if token_file is not None:
        try:
            token = token_file.read_text(encoding="utf-8").strip()
            mode = token_file.stat().st_mode
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or "it is not UTF-8 text"
            raise ServeSetupError(f"cannot read the token file {token_file}: {reason}") from None
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            print(
                f"astrabot serve: warning: {token_file} is readable by other users "
                f"(chmod 600 {token_file})",
                file=sys.stderr,
            )
    else:
        token = (environ.get(TOKEN_ENV) or "").strip()
        if not token:
            return None
    if (
        len(token) < MIN_TOKEN_CHARS
        or not token.isascii()
        or not token.isprintable()
        or " " in token
    ):
        raise ServeSetupError(
            f"the bearer token must be at least {MIN_TOKEN_CHARS} printable ASCII characters "
            f"without spaces; {TOKEN_HINT}"
        )
    return token


def check_bind(host: str, token: str | None) -> None:
    """Refuse an address other machines can reach when no token is set."""
    if token is None and not is_loopback(host):
        raise ServeSetupError(
            f"refusing to serve on {host} without a bearer token: other machines could talk "
            f"to the model. Set {TOKEN_ENV} or pass --token-file FILE ({TOKEN_HINT}), or "
            f"keep the default --host {DEFAULT_HOST}"
        )


class ChatServer(ThreadingHTTPServer):
    """A threading HTTP server holding the model backend, the generation lock and limits."""

    daemon_threads = True

    def __init__(
        self,
        config: ServeConfig,
        *,
        backend: Backend | None = None,
        log: TextIO | None = None,
    ):
        self.config = config
        self.backend = backend
        self.log = log or sys.stderr
        self.generation_lock = threading.Lock()
        self.stopping = threading.Event()
        self.created = openai_api.now()
        self._slots = threading.BoundedSemaphore(config.max_connections)
        self.address_family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
        host = config.host.strip("[]")
        try:
            super().__init__((host, config.port), _Handler)
        except OSError as error:
            if error.errno == errno.EADDRINUSE:
                raise ServeSetupError(
                    f"port {config.port} on {config.host} is in use: choose another --port "
                    "(--port 0 picks a free one)"
                ) from None
            raise ServeSetupError(
                f"cannot listen on {config.host} port {config.port}: "
                f"{error.strerror or type(error).__name__}"
            ) from None

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the host's name up (socket.getfqdn): not needed.
        socketserver.TCPServer.server_bind(self)
        # The bound (host, port) of an AF_INET/AF_INET6 socket: host is always a str here,
        # where `server_address` is typed str | bytes (f"{b'::1'}" would give "b'::1'").
        host, port = self.socket.getsockname()[:2]
        self.server_name, self.server_port = str(host), int(port)

    @property
    def url(self) -> str:
        host = self.server_name
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.server_port}/v1"

    def process_request(self, request, client_address) -> None:
        if not self._slots.acquire(blocking=False):
            with contextlib.suppress(OSError):
                request.sendall(
                    _plain_response(HTTPStatus.SERVICE_UNAVAILABLE, "too many connections")
                )
            self.shutdown_request(request)
            return
        super().process_request(request, client_address)

    def process_request_thread(self, request, client_address) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request, client_address) -> None:
        # The default prints a traceback; one line with the type is all that is safe.
        error = sys.exc_info()[1]
        self.access(f"connection error ({type(error).__name__})")

    def access(self, line: str) -> None:
        self.log.write(f"astrabot serve: {line}\n")
        self.log.flush()

    def serve_until_interrupted(self) -> KeyboardInterrupt | None:
        """Serve until Ctrl-C or SIGTERM (as KeyboardInterrupt) or `shutdown()`; then stop a
        running generation, close the socket and return the interruption (if any)."""
        try:
            self.serve_forever(poll_interval=0.2)
        except KeyboardInterrupt as interruption:
            return interruption
        finally:
            self.stopping.set()
            self.server_close()
        return None


def _plain_response(status: HTTPStatus, message: str) -> bytes:
    body = json.dumps(openai_api.error_body(message, "server_error")).encode()
    head = (
        f"HTTP/1.1 {status.value} {status.phrase}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    return head.encode() + body


class _ClientGone(Exception):
    """Writing to the client failed: it closed the connection."""


class _Handler(BaseHTTPRequestHandler):
    server: ChatServer
    protocol_version = "HTTP/1.1"
    server_version = "astrabot"
    sys_version = ""
    timeout = SOCKET_TIMEOUT_SECONDS

    # -- plumbing ------------------------------------------------------------------

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's own log lines carry the raw request line: ours replace them."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass

    def _route_path(self) -> str:
        path = urlsplit(getattr(self, "path", "") or "").path
        return path if path in (CHAT_PATH, MODELS_PATH) else "(other)"

    def _access(self, status: int, reply: Reply | None = None, note: str = "") -> None:
        seconds = time.perf_counter() - getattr(self, "_started", time.perf_counter())
        tokens = (
            f" prompt_tokens={reply.prompt_tokens} completion_tokens={reply.completion_tokens}"
            if reply is not None
            else ""
        )
        method = self.command if self.command in ("GET", "POST") else "(other)"
        self.server.access(f"{method} {self._route_path()} {status}{tokens} {seconds:.2f}s{note}")

    def _send_json(
        self, status: int, payload: dict, headers: Mapping[str, str] | None = None
    ) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def _error(
        self,
        status: int,
        message: str,
        *,
        kind: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
        close: bool = False,
    ) -> None:
        if close:
            self.close_connection = True
        self._send_json(status, openai_api.error_body(message, kind, param, code), headers)
        self._access(status)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None):
        """http.server's errors (bad request line, unknown method) as JSON, connection closed."""
        self._started = time.perf_counter()
        status = HTTPStatus(code)
        self._error(code, message or status.phrase, close=True)

    # -- routing -------------------------------------------------------------------

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        self._started = time.perf_counter()
        if not self._host_allowed():
            self._error(
                HTTPStatus.FORBIDDEN,
                "this server without a token answers only requests addressed to a loopback "
                "name (127.0.0.1, localhost, ::1)",
                close=True,
            )
            return
        if not self._authorized():
            self._error(
                HTTPStatus.UNAUTHORIZED,
                "a valid bearer token is required (Authorization: Bearer ...)",
                code="invalid_api_key",
                headers={"WWW-Authenticate": "Bearer"},
                close=True,
            )
            return
        path = urlsplit(self.path).path
        route = ROUTES.get((self.command, path))
        if route is None:
            known = path in (CHAT_PATH, MODELS_PATH)
            status = HTTPStatus.METHOD_NOT_ALLOWED if known else HTTPStatus.NOT_FOUND
            self._error(
                status,
                f"{status.phrase}: this server answers POST {CHAT_PATH} and GET {MODELS_PATH}",
                close=True,
            )
            return
        getattr(self, route)()

    def _host_allowed(self) -> bool:
        """Without a token, only requests naming this machine: a web page whose domain
        resolves to 127.0.0.1 (DNS rebinding) sends its own name as Host and is refused."""
        if self.server.config.token is not None:
            return True
        host = (self.headers.get("Host") or "").strip().lower()
        name = host.split("]")[0].lstrip("[") if host.startswith("[") else host.rsplit(":", 1)[0]
        if name == "localhost":
            return True
        try:
            return ipaddress.ip_address(name).is_loopback
        except ValueError:
            return False

    def _authorized(self) -> bool:
        expected = self.server.config.token
        if expected is None:
            return True
        given = self.headers.get("Authorization") or ""
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() != "bearer":
            credentials = ""
        return hmac.compare_digest(
            credentials.strip().encode("utf-8", "replace"), expected.encode("utf-8")
        )

    def _models(self) -> None:
        config = self.server.config
        self._send_json(
            HTTPStatus.OK, openai_api.models_body(config.model_name, self.server.created)
        )
        self._access(HTTPStatus.OK)

    def _read_body(self) -> bytes | None:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            self._error(
                HTTPStatus.LENGTH_REQUIRED, "send the body with a Content-Length", close=True
            )
            return None
        raw = self.headers.get("Content-Length")
        if raw is None:
            self._error(
                HTTPStatus.LENGTH_REQUIRED, "a Content-Length header is required", close=True
            )
            return None
        try:
            length = int(raw)
            if length < 0:
                raise ValueError
        except ValueError:
            self._error(HTTPStatus.BAD_REQUEST, "invalid Content-Length", close=True)
            return None
        limit = self.server.config.max_body_bytes
        if length > limit:
            self._error(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"the request body is larger than {limit} bytes",
                close=True,
            )
            return None
        body = self.rfile.read(length)
        if len(body) < length:
            self.close_connection = True
            return None
        return body

    # -- chat completions ----------------------------------------------------------

    def _chat(self) -> None:
        content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if content_type != "application/json":
            # Also keeps web pages out: a browser sends JSON cross-site only after a CORS
            # preflight, which this server never approves.
            self._error(
                HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
                "send the request body as Content-Type: application/json",
                close=True,
            )
            return
        body = self._read_body()
        if body is None:
            return
        config = self.server.config
        try:
            request = openai_api.parse_chat_request(
                body,
                default_max_tokens=min(config.default_max_tokens, config.max_tokens_limit),
                max_tokens_limit=config.max_tokens_limit,
                default_temperature=config.default_temperature,
            )
        except openai_api.BadRequest as error:
            self._error(HTTPStatus.BAD_REQUEST, str(error), param=error.param)
            return
        if self.server.backend is None:
            self._error(
                HTTPStatus.SERVICE_UNAVAILABLE, "the model is still loading", kind="server_error"
            )
            return
        if not self.server.generation_lock.acquire(timeout=LOCK_WAIT_SECONDS):
            self._error(
                HTTPStatus.SERVICE_UNAVAILABLE,
                "the server is busy with other requests; try again",
                kind="server_error",
            )
            return
        try:
            if request.stream:
                self._stream(request)
            else:
                self._complete(request)
        finally:
            self.server.generation_lock.release()

    def _generate(self, request: openai_api.ChatRequest, on_text=None) -> Reply:
        backend = self.server.backend
        assert backend is not None  # handle() answers 503 until the model has loaded
        return backend(
            request.messages,
            request.settings,
            on_text=on_text,
            should_stop=self.server.stopping.is_set,
        )

    def _too_long(self, error: PromptTooLongError) -> None:
        self._error(
            HTTPStatus.BAD_REQUEST, str(error), param="messages", code="context_length_exceeded"
        )

    def _internal(self, error: Exception) -> None:
        self._error(
            HTTPStatus.INTERNAL_SERVER_ERROR,
            f"generation failed ({type(error).__name__})",
            kind="server_error",
            close=True,
        )

    def _complete(self, request: openai_api.ChatRequest) -> None:
        try:
            reply = self._generate(request)
        except PromptTooLongError as error:
            self._too_long(error)
            return
        except Exception as error:  # noqa: BLE001 - answered as a 500 with its type only
            self._internal(error)
            return
        ident, created = openai_api.completion_id(), openai_api.now()
        body = openai_api.completion_body(
            ident, created, self.server.config.model_name, _public(reply)
        )
        self._send_json(HTTPStatus.OK, body)
        self._access(HTTPStatus.OK, reply)

    def _write_chunk(self, data: bytes) -> None:
        try:
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
        except OSError as error:
            raise _ClientGone from error

    def _event(self, payload: dict | str) -> None:
        data = payload if isinstance(payload, str) else json.dumps(payload)
        self._write_chunk(f"data: {data}\n\n".encode())

    def _stream(self, request: openai_api.ChatRequest) -> None:
        ident, created = openai_api.completion_id(), openai_api.now()
        model = self.server.config.model_name
        started = False

        def begin() -> None:
            nonlocal started
            started = True
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            self._event(
                openai_api.chunk_body(ident, created, model, {"role": "assistant", "content": ""})
            )

        def on_text(piece: str) -> None:
            if not started:
                begin()
            self._event(openai_api.chunk_body(ident, created, model, {"content": piece}))

        try:
            reply = self._generate(request, on_text=on_text)
            if not started:
                begin()
            public = _public(reply)
            self._event(openai_api.chunk_body(ident, created, model, {}, public.finish_reason))
            if request.include_usage:
                self._event(openai_api.usage_chunk_body(ident, created, model, public))
            self._event("[DONE]")
            self._write_chunk(b"")
        except PromptTooLongError as error:  # raised before the first token, so nothing sent
            self._too_long(error)
            return
        except _ClientGone:
            self.close_connection = True
            self._access(HTTPStatus.OK, note=" (client closed the stream)")
            return
        except Exception as error:  # noqa: BLE001 - answered with its type only
            if not started:
                self._internal(error)
                return
            self.close_connection = True
            self._access(HTTPStatus.OK, note=f" (stream ended by {type(error).__name__})")
            return
        self._access(HTTPStatus.OK, reply)


def _public(reply: Reply) -> Reply:
    """A reply as clients see it: a generation cut short by shutdown reads as stopped."""
    if reply.finish_reason == FINISH_CANCELLED:
        return Reply(reply.text, reply.prompt_tokens, reply.completion_tokens, FINISH_STOP)
    return reply


__all__ = [
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "TOKEN_ENV",
    "ChatServer",
    "ServeConfig",
    "check_bind",
    "is_loopback",
    "read_token",
]
