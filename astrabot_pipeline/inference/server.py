"""`astrabot serve`: the tuned model behind an OpenAI-compatible HTTP API (Starlette on uvicorn).

`POST /v1/chat/completions` (streaming as Server-Sent Events) and `GET /v1/models`.
Safe by default: it binds 127.0.0.1, refuses any address other machines can reach unless
a bearer token is set (compared in constant time), bounds the request head and body, each
request's time, the reply length and the number of open connections, generates one reply
at a time with a bounded line of requests waiting (503 with `Retry-After` past it),
answers every error as a JSON body without a traceback, and logs one line per request
(method, path, status, token counts, seconds), never a message.

The modules behind it: `serve_protocol` (connections: head and request deadlines, the
connection cap, malformed HTTP), `serve_middleware` (the log line, the deadline, the
token and Host rules), `serve_app` (the routes), `serve_queue` (the generation line),
`openai_api` (the wire format), `serve_defaults` (host, port and reply-length defaults,
shared with the command line). docs/hostile-input.md says why each limit is what it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import ipaddress
import logging
import os
import socket
import stat
import sys
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import uvicorn

from astrabot_pipeline.generation.settings import DEFAULT_TEMPERATURE
from astrabot_pipeline.inference import openai_api
from astrabot_pipeline.inference.errors import ServeSetupError
from astrabot_pipeline.inference.serve_app import ServeState, build_app
from astrabot_pipeline.inference.serve_defaults import (
    DEFAULT_HOST,
    DEFAULT_MAX_TOKENS,
    DEFAULT_MAX_TOKENS_LIMIT,
    DEFAULT_PORT,
    TOKEN_ENV,
)
from astrabot_pipeline.inference.serve_protocol import ConnectionLimits, guarded_protocol
from astrabot_pipeline.inference.serve_queue import Backend, GenerationQueue

MAX_BODY_BYTES = 1 << 20
MIN_TOKEN_CHARS = 16
TOKEN_HINT = "make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'"

# Connection and request bounds (docs/hostile-input.md, "`astrabot serve` clients", has the figures).
# Open connections: an idle or slow one costs a file descriptor and a few KiB, not a thread.
MAX_CONNECTIONS = 256
# Connections the kernel holds until they are accepted (Python's default was 5: a burst of
# 20 requests saw resets); at least the connection cap, far below Linux's somaxconn (4096).
BACKLOG = 256
# From a connection's opening (or a request's first byte) to the end of its headers.
HEAD_TIMEOUT_SECONDS = 10.0
# From the end of the headers to the last byte of the reply: body, wait, generation, send.
REQUEST_TIMEOUT_SECONDS = 300.0
# How long past the deadline a reply may still be sending before its connection is cut.
RESPONSE_GRACE_SECONDS = 1.0
# An idle keep-alive connection is closed after this (httpx, the openai client's
# transport, keeps pooled connections 5 s too).
KEEP_ALIVE_SECONDS = 5
# The request line and headers together (h11's default, set here on purpose).
MAX_HEAD_BYTES = 16 * 1024
# Requests waiting for the one running generation; one more gets 503 with Retry-After.
MAX_QUEUED_REQUESTS = 16
# On Ctrl-C or SIGTERM: how long a request may take to finish before it is cancelled.
SHUTDOWN_GRACE_SECONDS = 5


@dataclass(frozen=True)
class ServeConfig:
    """What the server binds to and the bounds it enforces."""

    model_name: str
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    token: str | None = None
    default_max_tokens: int = DEFAULT_MAX_TOKENS
    max_tokens_limit: int = DEFAULT_MAX_TOKENS_LIMIT
    default_temperature: float = DEFAULT_TEMPERATURE
    max_body_bytes: int = MAX_BODY_BYTES
    max_connections: int = MAX_CONNECTIONS
    max_queued: int = MAX_QUEUED_REQUESTS
    head_timeout: float = HEAD_TIMEOUT_SECONDS
    request_timeout: float = REQUEST_TIMEOUT_SECONDS


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


class ChatServer:
    """The bound socket, the ASGI app on uvicorn, the generation line and the log.

    The socket is bound and listening from construction (connections wait in the backlog
    while the model loads: a busy port fails before the slow load); requests are served
    by `serve_until_interrupted` (the CLI) or `serving_in_background` (tests, embedding).
    """

    def __init__(
        self,
        config: ServeConfig,
        *,
        backend: Backend | None = None,
        log: TextIO | None = None,
    ):
        self.config = config
        self.log = log or sys.stderr
        self.stopping = threading.Event()
        self._queue = GenerationQueue(config.max_queued, self.stopping)
        self._state = ServeState(
            model_name=config.model_name,
            created=openai_api.now(),
            backend=backend,
            queue=self._queue,
            max_body_bytes=config.max_body_bytes,
            default_max_tokens=config.default_max_tokens,
            max_tokens_limit=config.max_tokens_limit,
            default_temperature=config.default_temperature,
        )
        self._socket = _listening_socket(config.host, config.port)
        self.server_name, self.server_port = (str(part) for part in self._socket.getsockname()[:2])
        limits = ConnectionLimits(
            head_timeout=config.head_timeout,
            request_timeout=config.request_timeout,
            response_grace=RESPONSE_GRACE_SECONDS,
            max_connections=config.max_connections,
            max_head_bytes=MAX_HEAD_BYTES,
        )
        app = build_app(
            self._state, token=config.token, request_timeout=config.request_timeout, log=self.access
        )
        self._uvicorn = _Uvicorn(
            uvicorn.Config(
                app,
                http=guarded_protocol(limits, self.access),
                ws="none",
                lifespan="off",
                loop="asyncio",
                log_config=None,
                access_log=False,  # RequestLog writes the one line per request
                server_header=False,
                proxy_headers=False,  # no X-Forwarded-* header is trusted, whoever sends it
                backlog=BACKLOG,
                timeout_keep_alive=KEEP_ALIVE_SECONDS,
                # Not uvicorn's limit_concurrency: it counts idle and half-sent connections
                # too (32 slow clients would refuse everyone) and answers in plain text.
                # The cap is in the protocol (connections) and the queue (generations).
                limit_concurrency=None,
                h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                timeout_graceful_shutdown=SHUTDOWN_GRACE_SECONDS,
            ),
            self.stopping,
        )

    @property
    def backend(self) -> Backend | None:
        return self._state.backend

    @backend.setter
    def backend(self, backend: Backend | None) -> None:
        self._state.backend = backend

    @property
    def url(self) -> str:
        host = self.server_name
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{self.server_port}/v1"

    def access(self, line: str) -> None:
        self.log.write(f"astrabot serve: {line}\n")
        self.log.flush()

    def serve_until_interrupted(self) -> KeyboardInterrupt | None:
        """Serve until Ctrl-C or SIGTERM (as KeyboardInterrupt); then stop a running
        generation, close the socket and return the interruption (if any)."""
        try:
            with self._uvicorn_errors_logged():
                self._uvicorn.run(sockets=[self._socket])
        except KeyboardInterrupt as interruption:
            return interruption
        finally:
            self._stop()
        return None

    @contextlib.contextmanager
    def serving_in_background(self) -> Iterator[str]:
        """Serve from a thread within the block (its value is the base URL); stop on exit."""
        thread = threading.Thread(
            target=self._uvicorn.run, kwargs={"sockets": [self._socket]}, daemon=True
        )
        with self._uvicorn_errors_logged():
            thread.start()
            try:
                while not self._uvicorn.started and thread.is_alive():
                    threading.Event().wait(0.01)
                if not self._uvicorn.started:
                    raise ServeSetupError("the server stopped while starting (see the log)")
                yield self.url
            finally:
                self._uvicorn.should_exit = True
                self.stopping.set()
                thread.join(timeout=SHUTDOWN_GRACE_SECONDS + 5)
                self._stop()

    def close(self) -> None:
        """Close the listening socket (for a server that will not serve after all)."""
        self._socket.close()

    def _stop(self) -> None:
        self.stopping.set()
        self._queue.close()
        self.close()

    @contextlib.contextmanager
    def _uvicorn_errors_logged(self) -> Iterator[None]:
        """uvicorn's own errors as one line each (its type, never a traceback or a request);
        its notices (start-up, a malformed request already logged by us) are not shown."""
        logger = logging.getLogger("uvicorn")
        handler = _OneLineHandler(self.access)
        saved = logger.level, logger.propagate
        logger.addHandler(handler)
        logger.setLevel(logging.ERROR)
        logger.propagate = False
        try:
            yield
        finally:
            logger.removeHandler(handler)
            logger.setLevel(saved[0])
            logger.propagate = saved[1]


class _Uvicorn(uvicorn.Server):
    """uvicorn's server; shutting down also stops a running generation at its next token,
    and errors of the event loop are one line each."""

    def __init__(self, config: uvicorn.Config, stopping: threading.Event):
        super().__init__(config)
        self.stopping = stopping

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        loop = asyncio.get_running_loop()
        logger = logging.getLogger("uvicorn.error")
        loop.set_exception_handler(
            lambda _loop, context: logger.error(
                "event loop error (%s)", type(context.get("exception")).__name__
            )
        )
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.stopping.set()
        await super().shutdown(sockets)


class _OneLineHandler(logging.Handler):
    def __init__(self, write):  # noqa: ANN001 - ChatServer.access
        super().__init__(logging.ERROR)
        self.write = write

    def emit(self, record: logging.LogRecord) -> None:
        kind = f" ({record.exc_info[0].__name__})" if record.exc_info and record.exc_info[0] else ""
        self.write(f"server error: {record.getMessage().splitlines()[0]}{kind}")


def _listening_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host.strip("[]"), port))
        sock.listen(BACKLOG)
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise ServeSetupError(
                f"port {port} on {host} is in use: choose another --port (--port 0 picks a free one)"
            ) from None
        raise ServeSetupError(
            f"cannot listen on {host} port {port}: {error.strerror or type(error).__name__}"
        ) from None
    return sock


__all__ = [
    "ChatServer",
    "ServeConfig",
    "check_bind",
    "is_loopback",
    "read_token",
]
