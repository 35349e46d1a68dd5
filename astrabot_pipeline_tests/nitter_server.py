"""A Nitter-like HTTP server on 127.0.0.1 for the enrichment tests and benchmark.

It serves the fixture pages (`fixtures/nitter/`) per tweet id according to a scenario
table, and records every request it gets (path, headers, time), so tests can assert what
the client sent and when. A scenario is one `Reply` or a list of them, answered in turn
(the last one repeats): e.g. a 429 with Retry-After, then the tweet. A reply can also be
trickled a byte at a time, as a hostile instance would, for at most `TRICKLE_FOR` seconds.
"""

from __future__ import annotations

import itertools
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import httpx

from astrabot_pipeline.enrichment.request_deadline import DeadlineTransport

FIXTURES = Path(__file__).parent / "fixtures" / "nitter"
TRICKLE_FOR = 3.0  # seconds a trickling reply goes on before the server gives up


def page(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: bytes = b""
    headers: tuple[tuple[str, str], ...] = ()
    delay: float = 0.0  # seconds before the status line (a slow server)
    trickle: float = 0.0  # seconds between single bytes of what `trickled` names
    # "head": endless header lines; "body": the body (the head at once); "chunks": the head
    # at once, then an endless chunked body
    trickled: Literal["head", "body", "chunks"] = "body"


TWEET = Reply(200, page("single_tweet.html"), (("Set-Cookie", "session=tracker"),))
THREAD = Reply(200, page("thread.html"))
NOT_FOUND = Reply(404, page("not_found.html"))
ANUBIS = Reply(200, page("anubis_challenge.html"))
MALFORMED = Reply(200, page("malformed.html"))


def rate_limited(retry_after: str) -> Reply:
    return Reply(429, page("rate_limited.html"), (("Retry-After", retry_after),))


@dataclass
class Recorded:
    path: str
    headers: dict[str, str]
    at: float


@dataclass
class NitterServer:
    """`routes` maps a tweet id to its scenario; `default` answers any other path."""

    routes: dict[str, Reply | list[Reply]] = field(default_factory=dict)
    default: Reply = TWEET
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._served: dict[str, int] = {}

    def reply_for(self, path: str) -> Reply:
        tweet_id = path.rsplit("/", 1)[-1]
        scenario = self.routes.get(tweet_id, self.default)
        if isinstance(scenario, Reply):
            return scenario
        with self._lock:
            turn = self._served.get(tweet_id, 0)
            self._served[tweet_id] = turn + 1
        return scenario[min(turn, len(scenario) - 1)]

    def record(self, path: str, headers: dict[str, str]) -> None:
        with self._lock:
            self.requests.append(Recorded(path, headers, time.monotonic()))

    def paths(self) -> list[str]:
        return [r.path for r in self.requests]


def _handler(server: NitterServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Headers and body go out in separate writes: without TCP_NODELAY, Nagle and the
        # client's delayed ACK add ~40 ms to every answer.
        disable_nagle_algorithm = True

        def do_GET(self) -> None:  # noqa: N802 (http.server naming)
            server.record(self.path, {k.lower(): v for k, v in self.headers.items()})
            reply = server.reply_for(self.path)
            if reply.delay:
                time.sleep(reply.delay)
            if reply.trickle:
                self.trickle(reply)
                return
            try:
                self.send_response(reply.status)
                for name, value in reply.headers:
                    self.send_header(name, value)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up (timeout, size cap): that is what is tested

        def trickle(self, reply: Reply) -> None:
            self.close_connection = True
            slowly: Iterator[int]
            head = f"HTTP/1.1 {reply.status} OK\r\nContent-Type: text/html\r\n".encode()
            if reply.trickled == "head":
                at_once, slowly = b"", itertools.chain(head, itertools.cycle(b"X-Slow: 1\r\n"))
            elif reply.trickled == "body":
                at_once = head + f"Content-Length: {len(reply.body)}\r\n\r\n".encode()
                slowly = iter(reply.body)
            else:
                at_once = head + b"Transfer-Encoding: chunked\r\n\r\n"
                slowly = itertools.cycle(b"1\r\nx\r\n")
            until = time.monotonic() + TRICKLE_FOR
            try:
                self.wfile.write(at_once)
                for byte in slowly:
                    if time.monotonic() > until:
                        break
                    self.wfile.write(bytes((byte,)))
                    time.sleep(reply.trickle)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up: what the tests want

        def log_message(self, *args: object) -> None:
            pass

    return Handler


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], ConnectionError):  # the client hung up
            super().handle_error(request, client_address)


@contextmanager
def serving(server: NitterServer) -> Iterator[NitterServer]:
    httpd = _QuietServer(("127.0.0.1", 0), _handler(server))
    httpd.daemon_threads = True
    server.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    # a short poll: shutdown() waits up to one interval (0.5 s by default)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server
    finally:
        httpd.shutdown()
        httpd.server_close()


def refused_url() -> str:
    """A loopback URL where nothing listens (connections are refused at once)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


class RecordingTransport(httpx.BaseTransport):
    """The client's own transport, recording every request's host before sending it (and,
    with `fail_after`, raising as if the process died after that many requests)."""

    def __init__(self, fail_after: int | None = None) -> None:
        self.inner = DeadlineTransport()
        self.hosts: list[str] = []
        self.fail_after = fail_after

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.hosts.append(f"{request.url.host}:{request.url.port}")
        if self.fail_after is not None and len(self.hosts) > self.fail_after:
            raise RuntimeError("injected: the process dies mid-run")
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()
