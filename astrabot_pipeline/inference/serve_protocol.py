"""`astrabot serve`'s HTTP/1.1 connections: uvicorn's h11 protocol with the bounds it lacks.

uvicorn 0.55's h11 protocol arms no timer when a connection opens, and cancels its
keep-alive timer on every byte received: a client that sends nothing, or trickles its
request line and headers, holds its connection forever, before any middleware can look
at a token. This subclass adds, per connection:

- a deadline for the request head: the request line and headers must be complete within
  `head_timeout` of the connection opening (or, on a kept-alive connection, of the next
  request's first byte), else the connection is closed;
- a deadline for the whole request: a response not sent within `request_timeout` (plus a
  grace for the app's own answer at that deadline) of the head is cut by closing the
  connection, so a client that stops reading cannot hold it;
- a cap on open connections: one over `max_connections` is answered 503 with
  `Retry-After` at once and closed once the client has read it (never a reset);
- a JSON body (and the right status: 400, or 431 for an oversized head) for requests h11
  refuses, instead of uvicorn's plain text; 431 for a head over `max_head_bytes` that
  arrives whole (h11 bounds only one still incomplete), and 400 for a head with more than
  one `Content-Length` (h11 refuses differing values but merges equal ones);
- an ASGI extension, `scope["extensions"][ABORT_EXTENSION]`, that closes the connection
  (a stream that breaks half-way must not end like a complete one).

Every closed or refused connection is one log line; none holds a byte of the request.
docs/hostile-input.md ("`astrabot serve` clients") has the figures behind each bound.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from astrabot_pipeline.inference import openai_api

ABORT_EXTENSION = "astrabot.abort"
# A head line naming Content-Length; a value holding a comma lists several lengths.
_CONTENT_LENGTH_LINE = re.compile(rb"^content-length[ \t]*:(?P<value>[^\n]*)$", re.I | re.M)
_HEAD_END = re.compile(rb"\n\r?\n")


@dataclass(frozen=True)
class ConnectionLimits:
    """The per-connection bounds (seconds, counts, bytes)."""

    head_timeout: float
    request_timeout: float
    response_grace: float
    max_connections: int
    max_head_bytes: int
    retry_after: int = 1


@dataclass(frozen=True)
class _Guard:
    limits: ConnectionLimits
    log: Callable[[str], None]


def _json_response(
    status: int, reason: str, message: str, headers: dict[str, str] | None = None
) -> bytes:
    """A whole response written by the protocol itself (no app runs): JSON, then close."""
    kind = "server_error" if status >= 500 else "invalid_request_error"
    body = json.dumps(openai_api.error_body(message, kind)).encode()
    lines = [f"HTTP/1.1 {status} {reason}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
    lines += [f"Content-Length: {len(body)}", "Connection: close", "", ""]
    return "\r\n".join(lines).encode() + body


class _RecordingConnection(h11.Connection):
    """h11's server connection, keeping the protocol error it raised (for the status)."""

    last_error: h11.RemoteProtocolError | None = None

    def next_event(self) -> Any:
        try:
            return super().next_event()
        except h11.RemoteProtocolError as error:
            self.last_error = error
            raise


def guarded_protocol(limits: ConnectionLimits, log: Callable[[str], None]) -> type[H11Protocol]:
    """The protocol class to give uvicorn's `Config(http=...)`: bound to `limits`, logging
    one line per closed or refused connection through `log`."""

    class GuardedH11Protocol(_GuardedH11Protocol):
        guard = _Guard(limits, log)

    return GuardedH11Protocol


class _GuardedH11Protocol(H11Protocol):
    guard: _Guard

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = self.guard.limits
        self.log = self.guard.log
        self.conn: _RecordingConnection = _RecordingConnection(
            h11.SERVER, self.limits.max_head_bytes
        )
        self._head_timer: asyncio.TimerHandle | None = None
        self._request_timer: asyncio.TimerHandle | None = None
        self._head = b""  # the bytes of a head still arriving (to count Content-Length lines)
        self._searched = 0  # how much of `_head` is known to hold no blank line
        self._refused = False

    # -- connection life ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        if len(self.connections) >= self.limits.max_connections:
            self._refuse(transport)
            return
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        if self._refused:
            return
        super().connection_lost(exc)

    def _refuse(self, transport: asyncio.Transport) -> None:
        """Over the cap: the 503 goes out at once, then only the client's FIN is awaited
        (closing with its request unread would reset the connection and lose the 503)."""
        self._refused = True
        self.transport = transport
        transport.write(
            _json_response(
                503,
                "Service Unavailable",
                f"the server has {self.limits.max_connections} connections open; try again",
                {"Retry-After": str(self.limits.retry_after)},
            )
        )
        if transport.can_write_eof():
            transport.write_eof()
        self._head_timer = self.loop.call_later(self.limits.head_timeout, transport.close)
        self.log(f"connection refused: {self.limits.max_connections} connections open (503)")

    def _cancel_timers(self) -> None:
        for timer in (self._head_timer, self._request_timer):
            if timer is not None:
                timer.cancel()
        self._head_timer = self._request_timer = None

    # -- the head deadline -------------------------------------------------------------

    def _arm_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
        self._head_timer = self.loop.call_later(self.limits.head_timeout, self._head_too_slow)

    def _head_too_slow(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or self.conn.their_state is not h11.IDLE:
            return
        received = " (nothing received)" if not self._head else ""
        self.transport.close()
        self.log(
            f"connection closed: no complete request head within "
            f"{self.limits.head_timeout:g} s{received}"
        )

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the request of a refused connection is not read
        if self.conn.their_state is h11.IDLE and len(self._head) <= self.limits.max_head_bytes:
            if self._head_timer is None and self.cycle is not None:
                self._arm_head_timer()  # the first byte of a keep-alive connection's next request
            self._head += data  # past the bound h11 refuses the head (431) by itself
            end = _HEAD_END.search(self._head, max(0, self._searched - 2))
            self._searched = len(self._head)
            if end is not None:
                head, self._head, self._searched = self._head[: end.end()], b"", 0
                if len(head) > self.limits.max_head_bytes:
                    # h11 bounds only a head still incomplete: one that arrives whole in a
                    # read (up to 256 KiB) would pass.
                    self._answer_bad_head(*self._head_too_large())
                    return
                if self._content_lengths(head) > 1:
                    self._answer_bad_head(400, "Bad Request", "give one Content-Length header")
                    return
        super().data_received(data)

    def _head_too_large(self) -> tuple[int, str, str]:
        message = f"the request head is larger than {self.limits.max_head_bytes} bytes"
        return 431, "Request Header Fields Too Large", message

    @staticmethod
    def _content_lengths(head: bytes) -> int:
        found = _CONTENT_LENGTH_LINE.findall(head)
        return len(found) + sum(value.count(b",") for value in found)

    # -- one request -------------------------------------------------------------------

    def handle_events(self) -> None:
        cycle = self.cycle
        super().handle_events()
        if self.cycle is not cycle and self.cycle is not None:  # a request head completed
            if self._head_timer is not None:
                self._head_timer.cancel()
                self._head_timer = None
            self._request_timer = self.loop.call_later(
                self.limits.request_timeout + self.limits.response_grace, self._request_too_slow
            )
            # The request's task has been created but has not run yet: it sees this.
            extensions: dict[str, Any] = self.cycle.scope.setdefault("extensions", {})
            extensions[ABORT_EXTENSION] = self._abort

    def _abort(self, *, discard: bool = False) -> None:
        """Close the connection without ending the response: what was sent is flushed
        first, unless `discard` (a client that stopped reading would never take it)."""
        if self.cycle is not None:
            # What connection_lost will record (the transport closes on the next turn of
            # the loop): the app's remaining sends are dropped, its return is not an error.
            self.cycle.disconnected = True
        if discard:
            self.transport.abort()
        elif not self.transport.is_closing():
            self.transport.close()

    def _request_too_slow(self) -> None:
        """The app answers at its deadline; a response still unsent past the grace is a
        client that stopped reading: its connection is closed (the app logs the request)."""
        self._request_timer = None
        if self.cycle is not None and not self.cycle.response_complete:
            self._abort(discard=True)

    def on_response_complete(self) -> None:
        # An idle keep-alive connection is closed by uvicorn's keep-alive timer; the head
        # deadline of the next request starts at its first byte (`data_received`).
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None
        super().on_response_complete()

    # -- requests h11 refuses ----------------------------------------------------------

    def send_400_response(self, msg: str) -> None:
        error = self.conn.last_error
        if error is not None and error.error_status_hint == 431:
            self._answer_bad_head(*self._head_too_large())
        else:
            self._answer_bad_head(400, "Bad Request", "malformed HTTP request")

    def _answer_bad_head(self, status: int, reason: str, message: str) -> None:
        self._cancel_timers()
        self.transport.write(_json_response(status, reason, message))
        self.transport.close()
        self.log(f"(other) (other) {status} 0.00s ({message})")
