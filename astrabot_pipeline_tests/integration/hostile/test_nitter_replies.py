"""A Nitter instance is outside the user's control: a hostile one answers with compression
bombs, encodings stacked or unknown, or trickles its reply a byte at a time. Each such
reply is a failed request with its reason, the next instance is asked, and the lookup
stays within the byte cap (memory traced while it runs) and the request's deadline (the
server gives up trickling after `TRICKLE_FOR` seconds, so a client without a deadline fails
by the time assertion instead of hanging)."""

from __future__ import annotations

import gzip
import random
import socket
import threading
import time
import tracemalloc
import zlib
from functools import cache

import httpx
import pytest

from astrabot_pipeline.enrichment import TweetStatus, TwitterExtractor
from astrabot_pipeline_tests.nitter_server import (
    TRICKLE_FOR,
    NitterServer,
    Reply,
    page,
    serving,
)

CAP = 100_000  # max_response_bytes in these tests
BOMB = 32 << 20  # what a bomb decodes to: 320 times the cap
# The traced peak's bound: the good instance's page and parse included, an eighth of a bomb.
PEAK = 4 << 20
FAST = {"rate_limit_delay": 0.0, "backoff_base_seconds": 0.01, "max_attempts": 1}


def deflate(data: bytes, wbits: int = zlib.MAX_WBITS) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    return packer.compress(data) + packer.flush()


PACKERS = {
    "gzip": gzip.compress,
    "x-gzip": gzip.compress,
    "deflate": deflate,
    "raw deflate": lambda data: deflate(data, -zlib.MAX_WBITS),
}


def encoded(encoding: str, data: bytes) -> Reply:
    header = ("Content-Encoding", encoding.removeprefix("raw "))
    return Reply(200, PACKERS[encoding](data), (header,))


@cache
def bomb(encoding: str) -> Reply:
    return encoded(encoding, bytes(BOMB))


@cache
def stacked_bomb() -> bytes:
    return gzip.compress(bomb("gzip").body)


def lookup_through(bad: Reply, **settings: float) -> tuple[TwitterExtractor, float, int]:
    """One lookup, the hostile instance first and a good one second: the extractor, the
    seconds it took and the peak of memory traced meanwhile."""
    with (
        serving(NitterServer(default=bad)) as hostile,
        serving(NitterServer()) as good,
        TwitterExtractor(
            [hostile.url, good.url], rng=random.Random(0), **(FAST | settings)
        ) as client,
    ):
        tracemalloc.start()
        started = time.monotonic()
        try:
            result = client.fetch_tweet("42")
            seconds = time.monotonic() - started
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert result.status is TweetStatus.RESOLVED  # from the good instance
    assert len(good.requests) == 1
    return client, seconds, peak


@pytest.mark.parametrize("encoding", list(PACKERS))
def test_a_compressed_page_is_read_and_a_bomb_stops_at_the_cap(encoding):
    routes = {"1": encoded(encoding, page("single_tweet.html"))}
    with serving(NitterServer(routes=routes)) as server, TwitterExtractor([server.url]) as c:
        assert c.fetch_tweet("1").status is TweetStatus.RESOLVED
    assert server.requests[0].headers["accept-encoding"] == "gzip, deflate"
    assert len(bomb(encoding).body) < CAP  # as sent within the cap: only decoding can tell
    client, _, peak = lookup_through(bomb(encoding), max_response_bytes=CAP)
    assert client.stats.failed_requests == {"too_large": 1}
    assert peak < PEAK  # httpx decoded a whole received chunk: 32 MiB


@pytest.mark.parametrize(
    ("values", "body"),
    [
        (("gzip, gzip",), "stacked bomb"),
        (("gzip", "gzip"), "stacked bomb"),  # the same, as two header lines
        (("deflate, gzip",), "stacked bomb"),
        (("br",), "page"),  # not asked for (brotli is not installed: httpx passed it raw)
        (("compress",), "page"),
    ],
)
def test_stacked_and_unknown_encodings_are_refused(values, body):
    packed = stacked_bomb() if body == "stacked bomb" else b"\x1f\x8b"
    bad = Reply(200, packed, tuple(("Content-Encoding", v) for v in values))
    client, _, peak = lookup_through(bad, max_response_bytes=CAP)
    assert client.stats.failed_requests == {"unsupported_encoding": 1}
    assert peak < PEAK


@pytest.mark.parametrize(
    "body",
    [b"<html>not gzip at all</html>", gzip.compress(page("single_tweet.html"))[:-30]],
    ids=["not gzip", "cut gzip"],
)
def test_a_body_that_is_not_the_encoding_it_names_is_a_failed_request(body):
    try:
        client, _, _ = lookup_through(Reply(200, body, (("Content-Encoding", "gzip"),)))
    except httpx.HTTPError as error:  # escaping the client, it failed the whole asset
        pytest.fail(f"the lookup raised {type(error).__name__}")
    assert client.stats.failed_requests == {"corrupt_encoding": 1}


@pytest.mark.parametrize(
    "bad",
    [
        Reply(trickle=0.05, trickled="head"),
        Reply(200, page("single_tweet.html"), trickle=0.05, trickled="body"),
        Reply(trickle=0.05, trickled="chunks"),  # a slow-loris that never finishes
    ],
    ids=["headers trickled", "body trickled", "endless chunked body"],
)
def test_a_trickled_reply_is_cut_at_the_request_deadline(bad):
    client, seconds, _ = lookup_through(bad, timeout_seconds=0.5)
    assert client.stats.failed_requests == {"timeout": 1}
    assert seconds < 1.5 < TRICKLE_FOR  # each byte renewed a 0.5 s timeout: 3 s


def test_a_name_lookup_that_never_answers_is_cut_at_the_request_deadline(monkeypatch):
    """An instance's own name server can stall its lookup: Python's resolver takes no
    timeout, so the lookup waits beside the request, which ends at its deadline and asks
    the next instance. (This stub answers after TRICKLE_FOR seconds: without the deadline
    the lookup fails by the time assertion, not by hanging.)"""
    resolve, released = socket.getaddrinfo, threading.Event()

    def stalled(host, *args, **kwargs):
        if host == "nitter.stalled.test":
            released.wait(TRICKLE_FOR)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        return resolve(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", stalled)
    with (
        serving(NitterServer()) as good,
        TwitterExtractor(
            ["http://nitter.stalled.test", good.url],
            rng=random.Random(0),
            timeout_seconds=0.5,
            **FAST,
        ) as client,
    ):
        started = time.monotonic()
        result = client.fetch_tweet("42")
        seconds = time.monotonic() - started
    released.set()
    assert result.status is TweetStatus.RESOLVED  # from the good instance
    assert client.stats.failed_requests == {"timeout": 1}
    assert seconds < 1.5 < TRICKLE_FOR


def test_a_host_is_connected_at_each_address_it_resolves_to_in_turn(monkeypatch):
    """The lookup's addresses are tried in order, as the socket layer would: one that
    refuses the connection (nothing listens on 127.0.0.2) is passed over for the next."""
    resolve = socket.getaddrinfo
    with serving(NitterServer()) as good:
        port = int(good.url.rsplit(":", 1)[1])
        answers = [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
            for address in ("127.0.0.2", "127.0.0.1")
        ]
        monkeypatch.setattr(
            socket,
            "getaddrinfo",
            lambda host, *a, **k: answers if host == "nitter.two.test" else resolve(host, *a, **k),
        )
        with TwitterExtractor([f"http://nitter.two.test:{port}"], **FAST) as client:
            result = client.fetch_tweet("42")
    assert result.status is TweetStatus.RESOLVED
    assert good.requests[0].headers["host"] == f"nitter.two.test:{port}"


def test_the_run_budget_cuts_a_request_that_is_still_going():
    trickled = Reply(200, page("single_tweet.html"), trickle=0.05, trickled="body")
    with (
        serving(NitterServer(default=trickled)) as server,
        TwitterExtractor(
            [server.url], timeout_seconds=5.0, time_budget_seconds=0.5, **FAST
        ) as client,
    ):
        started = time.monotonic()
        result = client.fetch_tweet("42")
        seconds = time.monotonic() - started
    assert (result.status, result.reason) == (TweetStatus.UNRESOLVED, "budget")
    assert seconds < 1.2 < TRICKLE_FOR  # the budget was checked only between requests: 3 s
