"""Hostile clients of `astrabot serve`: the cases of issue 22, against a server with the
default limits (unless a case says otherwise) and a fake backend that takes `--reply-s`
seconds per reply (no model is loaded, so only the server is measured).

Printed per case: what the clients got (statuses, or why there was no answer), how long
it took, and how many log lines the server wrote. `--trickle-for S` is how long the slow
clients keep sending (60 s by default; the issue's server renewed a 60 s timeout on every
byte, so it would hold them as long as they sent).
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astrabot_pipeline.inference import ChatServer, Reply, ServeConfig  # noqa: E402

TOKEN = "bench-token-0123456789abcdef"


def fake_backend(reply_seconds: float) -> Callable[..., Reply]:
    def backend(messages, settings, *, on_text=None, should_stop=None) -> Reply:
        end = time.monotonic() + reply_seconds
        while time.monotonic() < end and not should_stop():
            time.sleep(0.01)
        if on_text is not None:
            on_text("ok")
        return Reply("ok", len(messages), 1, "stop")

    return backend


@contextmanager
def serving(reply_seconds: float, log: io.StringIO, **limits) -> Iterator[tuple[str, int]]:
    config = ServeConfig(model_name="bench", port=0, token=TOKEN, **limits)
    server = ChatServer(config, backend=fake_backend(reply_seconds), log=log)
    with server.serving_in_background():
        yield server.server_name, int(server.server_port)


def request(body: bytes | None = None, *, path: str = "/v1/chat/completions", extra=()) -> bytes:
    method = "POST" if body is not None else "GET"
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {TOKEN}"]
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    return "\r\n".join([*lines, *extra, "", ""]).encode() + (body or b"")


def chat(**fields) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": "hi"}], **fields}).encode()


def answer(sock: socket.socket) -> str:
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        response.read()
    except ConnectionResetError:
        return "reset"
    except (http.client.RemoteDisconnected, http.client.IncompleteRead):
        return "closed without an answer"
    except TimeoutError:
        return "no answer (timeout)"
    retry = response.headers.get("Retry-After")
    return f"{response.status}" + (f" (Retry-After {retry})" if retry else "")


def exchange(address: tuple[str, int], raw: bytes, timeout: float = 60) -> str:
    try:
        with socket.create_connection(address, timeout=timeout) as sock:
            sock.sendall(raw)
            return answer(sock)
    except OSError as error:
        return type(error).__name__


def burst(address: tuple[str, int], count: int) -> str:
    barrier = threading.Barrier(count)

    def one(_: int) -> tuple[float, str]:
        barrier.wait()
        started = time.monotonic()
        try:
            sock = socket.create_connection(address, timeout=60)
        except OSError as error:
            return time.monotonic() - started, type(error).__name__
        with sock:
            connected = time.monotonic() - started
            sock.sendall(request(chat(max_tokens=4)))
            return connected, answer(sock)

    started = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        results = list(pool.map(one, range(count)))
    seconds = time.monotonic() - started
    slowest = max(connected for connected, _ in results)
    counts = Counter(outcome for _, outcome in results)
    return f"{dict(counts)}; slowest handshake {slowest:.2f} s; all done in {seconds:.1f} s"


def slow_heads(address: tuple[str, int], count: int, trickle_for: float) -> str:
    """`count` connections sending a header byte every 0.5 s; then a client with the token."""
    closed_at: list[float] = []
    stop = threading.Event()
    started = time.monotonic()

    def trickle(sock: socket.socket) -> None:
        with sock:
            try:
                sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-A: ")
                while not stop.wait(0.5) and time.monotonic() - started < trickle_for:
                    sock.sendall(b"a")
                    sock.settimeout(0.001)
                    try:
                        if sock.recv(1) == b"":
                            raise ConnectionResetError
                    except TimeoutError:
                        pass
            except OSError:
                closed_at.append(time.monotonic() - started)

    # Connected one after the other: each is open before the next (none waits in a backlog).
    socks = [socket.create_connection(address, timeout=5) for _ in range(count)]
    threads = [threading.Thread(target=trickle, args=(sock,)) for sock in socks]
    for thread in threads:
        thread.start()
    time.sleep(1.0)
    asked = time.monotonic()
    got = exchange(address, request(path="/v1/models"), timeout=trickle_for)
    waited = time.monotonic() - asked
    for thread in threads:
        thread.join()
    held = count - len(closed_at)
    cut = f"all {count} cut by {max(closed_at):.1f} s" if not held else f"{held} still open"
    return (
        f"client with the token: {got} after {waited:.2f} s; tricklers after "
        f"{trickle_for:.0f} s of trickling: {cut}"
    )


def trickled_body(address: tuple[str, int], trickle_for: float) -> str:
    """A body of 10,000 bytes sent a byte every 0.5 s (for at most `trickle_for`)."""
    body = chat(max_tokens=4, pad="x" * 9950)
    started = time.monotonic()
    with socket.create_connection(address, timeout=trickle_for + 5) as sock:
        sock.sendall(request(body)[: -len(body)])
        for byte in body:
            if time.monotonic() - started > trickle_for:
                break
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(0.5)
            try:
                if sock.recv(1, socket.MSG_PEEK):
                    break
            except TimeoutError:
                pass
        sock.settimeout(trickle_for + 5)
        got = answer(sock)
    return f"{got} after {time.monotonic() - started:.1f} s"


def queue_full(address: tuple[str, int], count: int) -> str:
    started = time.monotonic()
    with ThreadPoolExecutor(count) as pool:
        outcomes = list(
            pool.map(lambda _: exchange(address, request(chat(max_tokens=4)), 600), range(count))
        )
    return f"{dict(Counter(outcomes))} in {time.monotonic() - started:.1f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--reply-s", type=float, default=0.05)
    parser.add_argument("--trickle-for", type=float, default=60.0)
    parser.add_argument("--only", default="", help="run the cases whose name holds this text")
    args = parser.parse_args()
    log = io.StringIO()

    def lines(before: int) -> str:
        return f"{log.getvalue().count(chr(10)) - before} log lines"

    Case = tuple[str, float, dict, Callable[[tuple[str, int]], str]]
    quick = args.reply_s
    cases: list[Case] = [
        ("20 requests at once", quick, {}, lambda a: burst(a, 20)),
        ("100 requests at once", quick, {}, lambda a: burst(a, 100)),
        ("32 slow heads", quick, {}, lambda a: slow_heads(a, 32, args.trickle_for)),
        (
            "body trickled (request deadline 20 s)",
            quick,
            {"request_timeout": 20.0},
            lambda a: trickled_body(a, args.trickle_for),
        ),
        (
            "JSON nested 5,000 deep",
            quick,
            {},
            lambda a: exchange(a, request(b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}")),
        ),
        ("seed 2**64", quick, {}, lambda a: exchange(a, request(chat(seed=2**64)))),
        (
            "two Content-Length (right, then 5)",
            quick,
            {},
            lambda a: exchange(a, request(chat(), extra=("Content-Length: 5",))),
        ),
        ("20 requests, 2 s per reply", 2.0, {}, lambda a: queue_full(a, 20)),
    ]
    for name, reply_seconds, limits, case in cases:
        if args.only not in name:
            continue
        before = log.getvalue().count("\n")
        with serving(reply_seconds, log, **limits) as address:
            outcome = case(address)
            time.sleep(0.2)  # the last log lines
        print(f"{name}: {outcome}; {lines(before)}", flush=True)


if __name__ == "__main__":
    main()
