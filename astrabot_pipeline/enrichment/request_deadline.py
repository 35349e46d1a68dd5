"""A deadline for one whole request: connect, TLS, headers and body together.

httpx's timeouts bound each socket operation, so a server that trickles a byte at a time
renews them forever (one request took 123 s with a 5 s timeout). Here every socket
operation's timeout is cut to what is left of the deadline set by `request_deadline`, and
an operation after it fails at once with httpcore's timeout (httpx's `TimeoutException`
for the caller). The deadline lives in a context variable, so a pool shared between
threads holds each request to its own.

The name lookup is held to the deadline too: Python's `socket.getaddrinfo` takes no
timeout (an instance's slow name server could hold a request for as long as the system
resolver retries), so it runs in a daemon thread the request waits for until the deadline,
and the connection is made to the addresses it found, in order (TLS still checks the
certificate against the instance's host name).
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import ssl
import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

_DEADLINE: ContextVar[float | None] = ContextVar("nitter_request_deadline", default=None)


@contextmanager
def request_deadline(seconds: float) -> Iterator[None]:
    """Requests made inside must end within `seconds` from now, on a `deadline_transport`."""
    token = _DEADLINE.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _DEADLINE.reset(token)


def _left(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    deadline = _DEADLINE.get()
    if deadline is None:
        return timeout
    left = deadline - time.monotonic()
    if left <= 0:
        raise expired("the request's deadline has passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _left(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _left(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, left))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def resolve(host: str, port: int, timeout: float | None) -> list[str]:
    """The addresses `host` names, in the resolver's order, within `timeout` seconds.

    The lookup runs in a daemon thread: one the deadline gave up on ends when the system
    resolver does, and holds nothing of the request's.
    """
    if _is_address(host):
        return [host]
    answers: queue.SimpleQueue[list[str] | OSError] = queue.SimpleQueue()

    def look_up() -> None:
        try:
            found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
            answers.put(list(dict.fromkeys(str(info[4][0]) for info in found)))
        except OSError as error:
            answers.put(error)

    threading.Thread(target=look_up, name="nitter-name-lookup", daemon=True).start()
    try:
        answer = answers.get(timeout=timeout)
    except queue.Empty:
        raise httpcore.ConnectTimeout("the name lookup did not end before the deadline") from None
    if isinstance(answer, OSError):
        raise httpcore.ConnectError(f"the name lookup failed ({type(answer).__name__})")
    if not answer:
        raise httpcore.ConnectError("the name lookup found no address")
    return answer


class _DeadlineBackend(httpcore.NetworkBackend):
    def __init__(self) -> None:
        self._inner = httpcore.SyncBackend()

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        addresses = resolve(host, port, _left(timeout, httpcore.ConnectTimeout))
        failed: httpcore.ConnectError | httpcore.ConnectTimeout = httpcore.ConnectError(
            "no address to connect to"
        )
        for address in addresses:  # as socket.create_connection tries them
            left = _left(timeout, httpcore.ConnectTimeout)
            try:
                stream = self._inner.connect_tcp(address, port, left, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failed = error
                continue
            return _DeadlineStream(stream)
        raise failed

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        left = _left(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.connect_unix_socket(path, left, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class DeadlineTransport(httpx.HTTPTransport):
    """httpx's own transport (no proxy, nothing read from the environment) whose
    connections keep `request_deadline`. A few connections are enough: requests go
    one at a time to a handful of instances."""

    def __init__(self) -> None:
        super().__init__(trust_env=False)
        # httpx takes no network backend, and its pool is what handle_request and close
        # use: replacing it is the one way in (the trickle tests fail if it stops working).
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=10,
            max_keepalive_connections=10,
            keepalive_expiry=5.0,
            network_backend=_DeadlineBackend(),
        )
