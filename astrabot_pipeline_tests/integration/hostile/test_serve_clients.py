"""Clients of `astrabot serve` are outside the user's control (anything on the machine, or
the LAN with `--host`): slow or silent connections, bursts, deep JSON, out-of-range
fields, doubled headers, a full queue, a body or a reply that never ends. Each gets an
answer (or its connection closed) within its bound, and one log line without a byte of
the conversation. The official `openai` client works against it.

One server for the module, on a fake backend (no model), with the deadlines shortened so
that the code before this work fails each test by an assertion within seconds: every
socket has a timeout, and "no answer" is a value the assertions see, never a hang.
"""

from __future__ import annotations

import http.client
import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import openai
import pytest

from astrabot_pipeline.inference import ChatServer, Reply, ServeConfig

TOKEN = "test-token-0123456789abcdef"
SECRET = "meet me at the old lighthouse"  # the conversation: never in the log
HEAD_TIMEOUT = 0.5
REQUEST_TIMEOUT = 2.0
MAX_QUEUED = 2
MAX_CONNECTIONS = 48


class FakeBackend:
    """Answers "sure thing" in two pieces; can be held at a gate, or made to go on forever
    (with `piece` as each piece when it is set)."""

    def __init__(self) -> None:
        self.gate: threading.Event | None = None
        self.endless = False
        self.piece: str | None = None
        self.calls = 0

    def __call__(self, messages, settings, *, on_text=None, should_stop=None) -> Reply:
        self.calls += 1
        if self.gate is not None:
            while not self.gate.wait(0.01):
                if should_stop():
                    return Reply("", len(messages), 0, "cancelled")
        pieces = 0
        while self.endless or pieces < 2:
            if on_text is not None:
                on_text(self.piece or ("sure" if pieces == 0 else " thing"))
            pieces += 1
            if should_stop():
                return Reply("sure thing", len(messages), pieces, "cancelled")
            if self.endless:
                time.sleep(0.01)
        return Reply("sure thing", len(messages), 2, "stop")


@dataclass
class Served:
    host: str
    port: int
    url: str
    backend: FakeBackend
    log: io.StringIO


@pytest.fixture(scope="module")
def served() -> Iterator[Served]:
    backend, log = FakeBackend(), io.StringIO()
    config = ServeConfig(
        model_name="mine",
        port=0,
        token=TOKEN,
        max_connections=MAX_CONNECTIONS,
        max_queued=MAX_QUEUED,
        head_timeout=HEAD_TIMEOUT,
        request_timeout=REQUEST_TIMEOUT,
    )
    server = ChatServer(config, backend=backend, log=log)
    with server.serving_in_background() as url:
        host, port = url.removeprefix("http://").split("/")[0].rsplit(":", 1)
        yield Served(host, int(port), url, backend, log)


@pytest.fixture
def backend(served: Served) -> Iterator[FakeBackend]:
    yield served.backend
    served.backend.gate, served.backend.endless, served.backend.piece = None, False, None


# -- raw HTTP ----------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def error(self) -> dict:
        return json.loads(self.body)["error"]


def connect(served: Served, timeout: float = 5.0) -> socket.socket:
    return socket.create_connection((served.host, served.port), timeout=timeout)


def read_answer(sock: socket.socket) -> Answer | str:
    """The response on `sock`, or why there was none ("reset", "closed", "timeout")."""
    response = http.client.HTTPResponse(sock)
    try:
        response.begin()
        return Answer(response.status, response.headers, response.read())
    except ConnectionResetError:
        return "reset"
    except (http.client.RemoteDisconnected, http.client.IncompleteRead):
        return "closed"
    except TimeoutError:
        return "timeout"


def request_bytes(
    body: bytes | None = None,
    *,
    method: str = "POST",
    path: str = "/v1/chat/completions",
    token: str | None = TOKEN,
    extra: tuple[str, ...] = (),
) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
    if token:
        lines.append(f"Authorization: Bearer {token}")
    if body is not None:
        lines += ["Content-Type: application/json", f"Content-Length: {len(body)}"]
    lines += [*extra, "", ""]
    return "\r\n".join(lines).encode() + (body or b"")


def send(served: Served, raw: bytes, timeout: float = 5.0) -> Answer | str:
    with connect(served, timeout) as sock:
        try:
            sock.sendall(raw)
        except OSError:
            return "reset"
        return read_answer(sock)


def chat_body(**fields) -> bytes:
    return json.dumps({"messages": [{"role": "user", "content": SECRET}], **fields}).encode()


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server has closed `sock` (EOF or reset), waiting up to its timeout."""
    try:
        return sock.recv(1) == b""
    except ConnectionResetError:
        return True
    except TimeoutError:
        return False


def wait_for_lines(served: Served, text: str, count: int) -> bool:
    """Whether the log holds `count` lines with `text` within a second (a request's line
    is written just after its response is sent)."""
    deadline = time.monotonic() + 1.0
    while served.log.getvalue().count(text) < count:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


# -- connections ----------------------------------------------------------------------


def test_slow_headers_neither_lock_out_a_client_with_the_token_nor_stay_open(served: Served):
    """32 connections trickling their headers a byte at a time (the issue's lock-out):
    a client with the token is answered at once, and each trickler is cut at the head
    deadline however often it sends a byte."""
    tricklers = [connect(served, timeout=HEAD_TIMEOUT + 2) for _ in range(32)]
    stop = threading.Event()

    def trickle(sock: socket.socket) -> None:
        with sock:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            while not stop.wait(0.05):
                try:
                    sock.sendall(b"a")
                except OSError:
                    return

    threads = [threading.Thread(target=trickle, args=(sock,)) for sock in tricklers]
    for thread in threads:
        thread.start()
    try:
        time.sleep(0.1)
        started = time.monotonic()
        answer = send(served, request_bytes(method="GET", path="/v1/models"), timeout=3)
        assert isinstance(answer, Answer) and answer.status == 200, answer
        assert time.monotonic() - started < 1.0
        deadline = time.monotonic() + HEAD_TIMEOUT + 1.5
        cut = 0
        for sock in tricklers:
            sock.settimeout(max(0.01, deadline - time.monotonic()))
            cut += closed_by_server(sock)
        assert cut == 32
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    assert wait_for_lines(served, "no complete request head within 0.5 s", 32)


def test_a_connection_that_sends_nothing_is_closed_at_the_head_deadline(served: Served):
    with connect(served, timeout=HEAD_TIMEOUT + 1.5) as sock:
        started = time.monotonic()
        assert closed_by_server(sock)
        assert time.monotonic() - started < HEAD_TIMEOUT + 1.0


def test_twenty_simultaneous_requests_are_each_accepted_answered_and_logged(
    served: Served, backend: FakeBackend
):
    """With Python's listen backlog of 5, most of 20 connections opened at once had their
    handshake dropped (reset on the issue's machine; here the kernel retries after 1 s).
    Each is now accepted at once and gets an HTTP answer: a reply, or 503 with Retry-After
    once the generation queue is full."""
    lines_before = served.log.getvalue().count("POST /v1/chat/completions")
    barrier = threading.Barrier(20)

    def one(_: int) -> tuple[float, Answer | str]:
        barrier.wait(timeout=5)
        started = time.monotonic()
        with connect(served, timeout=10) as sock:
            connected = time.monotonic() - started
            sock.sendall(request_bytes(chat_body(max_tokens=4)))
            return connected, read_answer(sock)

    with ThreadPoolExecutor(20) as pool:
        results = list(pool.map(one, range(20)))
    assert max(seconds for seconds, _ in results) < 0.5  # a dropped handshake takes 1 s
    answers = [answer for _, answer in results]
    assert all(isinstance(a, Answer) for a in answers), [a for a in answers if isinstance(a, str)]
    statuses = sorted(a.status for a in answers if isinstance(a, Answer))
    assert set(statuses) <= {200, 503} and 200 in statuses, statuses
    busy = [a for a in answers if isinstance(a, Answer) and a.status == 503]
    assert all(int(a.headers["Retry-After"]) >= 1 for a in busy)
    assert wait_for_lines(served, "POST /v1/chat/completions", lines_before + 20)
    log = served.log.getvalue()
    assert SECRET not in log and TOKEN not in log


def test_past_the_connection_cap_a_client_reads_a_503_with_retry_after(served: Served):
    held = [connect(served) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.05)  # let the server accept them all
        answer = send(served, request_bytes(method="GET", path="/v1/models"))
        assert isinstance(answer, Answer) and answer.status == 503, answer
        assert answer.headers["Retry-After"] == "1"
        assert "connections open" in answer.error()["message"]
    finally:
        for sock in held:
            sock.close()


def test_a_full_generation_queue_answers_503_with_retry_after_at_once(
    served: Served, backend: FakeBackend
):
    backend.gate = threading.Event()
    with ThreadPoolExecutor(1 + MAX_QUEUED) as pool:
        waiting = [
            pool.submit(send, served, request_bytes(chat_body(max_tokens=4)), 10)
            for _ in range(1 + MAX_QUEUED)  # one generating, the others in the queue
        ]
        time.sleep(0.3)
        try:
            started = time.monotonic()
            answer = send(served, request_bytes(chat_body(max_tokens=4)), timeout=3)
            assert isinstance(answer, Answer) and answer.status == 503, answer
            assert time.monotonic() - started < 1.0
            assert int(answer.headers["Retry-After"]) >= 1
            assert answer.error()["type"] == "server_error"
        finally:
            backend.gate.set()
        assert [getattr(f.result(), "status", f.result()) for f in waiting] == [200] * 3


# -- what a request holds -------------------------------------------------------------


def test_json_nested_5000_deep_is_a_json_400(served: Served):
    body = b'{"messages": ' + b"[" * 5000 + b"]" * 5000 + b"}"
    answer = send(served, request_bytes(body))
    assert isinstance(answer, Answer) and answer.status == 400, answer
    assert "deeper than 200 levels" in answer.error()["message"]


@pytest.mark.parametrize("seed", [2**64, 2**63, -(2**63) - 1])
def test_a_seed_outside_64_bit_integers_is_a_400_naming_it(served: Served, seed: int):
    answer = send(served, request_bytes(chat_body(seed=seed)))
    assert isinstance(answer, Answer) and answer.status == 400, answer
    assert answer.error()["param"] == "seed"
    assert SECRET not in answer.error()["message"]


@pytest.mark.parametrize(
    "lengths",
    [("{n}", "5"), ("5", "{n}"), ("{n}", "{n}"), ("{n}, {n}",)],
    ids=["longer first", "shorter first", "equal", "listed twice"],
)
def test_a_head_with_more_than_one_content_length_is_a_json_400(served: Served, lengths):
    body = chat_body(max_tokens=4)
    extra = tuple(f"Content-Length: {value.format(n=len(body))}" for value in lengths)
    lines = ["POST /v1/chat/completions HTTP/1.1", "Host: 127.0.0.1"]
    lines += [f"Authorization: Bearer {TOKEN}", "Content-Type: application/json", *extra]
    answer = send(served, "\r\n".join([*lines, "", ""]).encode() + body)
    assert isinstance(answer, Answer) and answer.status == 400, answer
    assert "one Content-Length" in answer.error()["message"]


@pytest.mark.parametrize("whole", [True, False], ids=["whole", "still arriving"])
def test_a_request_head_over_16_kib_is_a_json_431(served: Served, whole: bool):
    head = request_bytes(method="GET", path="/v1/models", extra=("X-Big: " + "a" * 17_000,))
    answer = send(served, head if whole else head[:-4], timeout=3)
    assert isinstance(answer, Answer) and answer.status == 431, answer
    assert "larger than 16384 bytes" in answer.error()["message"]


def test_a_body_trickled_past_the_request_deadline_gets_408(served: Served):
    body = chat_body(max_tokens=4)
    with connect(served, timeout=REQUEST_TIMEOUT + 3) as sock:
        sock.sendall(request_bytes(body)[: -len(body)] + body[:1])
        started = time.monotonic()
        stop = threading.Event()

        def trickle() -> None:
            for byte in body[1:-1]:
                if stop.wait(0.05):
                    return
                try:
                    sock.sendall(bytes([byte]))
                except OSError:
                    return

        thread = threading.Thread(target=trickle)
        thread.start()
        try:
            answer = read_answer(sock)
        finally:
            stop.set()
            thread.join(timeout=5)
    assert isinstance(answer, Answer) and answer.status == 408, answer
    assert time.monotonic() - started < REQUEST_TIMEOUT + 1.0


@pytest.mark.parametrize("stream", [False, True])
def test_a_reply_that_would_never_end_is_cut_at_the_request_deadline(
    served: Served, backend: FakeBackend, stream: bool
):
    backend.endless = True
    started = time.monotonic()
    answer = send(served, request_bytes(chat_body(stream=stream)), timeout=REQUEST_TIMEOUT + 3)
    assert isinstance(answer, Answer) and answer.status == 200, answer
    assert time.monotonic() - started < REQUEST_TIMEOUT + 1.0
    if stream:
        events = [e.removeprefix("data: ") for e in answer.body.decode().split("\n\n") if e]
        assert events[-1] == "[DONE]"
        finish = json.loads(events[-2])["choices"][0]["finish_reason"]
    else:
        finish = json.loads(answer.body)["choices"][0]["finish_reason"]
    assert finish == "length"


def test_a_client_that_stops_reading_a_stream_is_cut_off_after_the_deadline(
    served: Served, backend: FakeBackend
):
    """A stream nobody reads fills the buffers; its connection is closed past the request
    deadline (and the grace for the app's own end) instead of held until it is read."""
    backend.endless, backend.piece = True, "y" * 100_000
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before the handshake
        sock.settimeout(5)
        sock.connect((served.host, served.port))
        sock.sendall(request_bytes(chat_body(stream=True)))
        time.sleep(REQUEST_TIMEOUT + 1.5)  # reads nothing until past the deadline and grace
        sock.settimeout(1.0)
        until = time.monotonic() + 3.0
        ended = False
        while not ended and time.monotonic() < until:
            try:
                ended = sock.recv(1 << 20) == b""
            except ConnectionResetError:
                ended = True
            except TimeoutError:
                break
    assert ended


# -- the official client ----------------------------------------------------------------


def client(served: Served, token: str | None = TOKEN) -> openai.OpenAI:
    # The client refuses to start without a key; "none" is what a user without one sends.
    return openai.OpenAI(base_url=served.url, api_key=token or "none", max_retries=0, timeout=10)


def test_the_openai_client_gets_a_completion_and_a_stream(served: Served, backend: FakeBackend):
    messages = [{"role": "user", "content": SECRET}]
    completion = client(served).chat.completions.create(
        model="anything", messages=messages, max_tokens=4
    )
    assert completion.choices[0].message.content == "sure thing"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.completion_tokens == 2

    chunks = list(
        client(served).chat.completions.create(
            model="anything",
            messages=messages,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "sure thing"
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens == 3
    assert [m.id for m in client(served).models.list()] == ["mine"]


def test_the_openai_client_without_the_token_gets_401(served: Served):
    with pytest.raises(openai.AuthenticationError) as refused:
        client(served, token=None).chat.completions.create(
            model="anything", messages=[{"role": "user", "content": SECRET}]
        )
    assert refused.value.status_code == 401
    assert refused.value.code == "invalid_api_key"
    assert SECRET not in served.log.getvalue()
