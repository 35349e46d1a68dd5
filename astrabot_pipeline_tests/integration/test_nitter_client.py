"""The Nitter client against a real HTTP server on 127.0.0.1 (not mocks of our own client):
status pages, 404s, 429 with Retry-After, 5xx, slow and oversized answers, challenge pages
served with 200, malformed HTML and redirects. Runs finish in bounded time with the right
counts per reason, the SQLite cache survives a failure mid-run, and no request goes to a
host outside the configured list (checked at the server and at the transport)."""

from __future__ import annotations

import random
import re
import time

import pandas as pd
import pytest

from astrabot_pipeline.enrichment import (
    LinkStatus,
    TweetCache,
    TweetStatus,
    TwitterExtractor,
    parse_status_page,
)
from astrabot_pipeline.enrichment.nitter import USER_AGENT
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline_tests.nitter_server import (
    ANUBIS,
    MALFORMED,
    NOT_FOUND,
    THREAD,
    TWEET,
    NitterServer,
    RecordingTransport,
    Reply,
    page,
    rate_limited,
    refused_url,
    serving,
)

FAST = {"rate_limit_delay": 0.0, "timeout_seconds": 2.0, "backoff_base_seconds": 0.01}


def extractor(*instances: str, cache=None, transport=None, **options) -> TwitterExtractor:
    settings = FAST | options
    return TwitterExtractor(
        instances, cache=cache, transport=transport, rng=random.Random(0), **settings
    )


def windows(*bodies: str) -> pd.DataFrame:
    return pd.DataFrame({"message_id": range(len(bodies)), "body": list(bodies)})


def test_the_linked_tweet_is_resolved_from_a_thread_page_with_only_its_id_sent():
    with serving(NitterServer(default=THREAD)) as server:
        transport = RecordingTransport()
        with extractor(server.url, transport=transport) as client:
            frame = client.enhance_conversations(
                windows(
                    "look https://x.com/someone/status/1790000000000000003?s=20).",
                    "and https://twitter.com/i/status/1790000000000000003 again",
                    "no link here, only https://t.co/abc123",
                    None,
                )
            )
    expected = parse_status_page(page("thread.html").decode(), "1790000000000000003").tweet
    assert frame["tweet_text"].iloc[0] == expected.text  # the main tweet, not an earlier one
    assert frame["tweet_author"].iloc[0] == expected.author
    assert frame["tweet_status"].tolist()[:2] == ["resolved", "resolved"]
    assert frame["tweet_status"].iloc[2:].isna().all()  # no tweet link: no status
    assert frame["tco_links"].tolist() == [0, 0, 1, 0]
    assert frame["tweet_date"].iloc[0].year == 2024  # from the id, no request needed
    assert server.paths() == ["/i/status/1790000000000000003"]  # one request, the id only
    headers = server.requests[0].headers
    assert headers["user-agent"] == USER_AGENT and "referer" not in headers
    assert set(transport.hosts) == {server.url.removeprefix("http://")}
    assert client.stats.to_metadata()["resolved"] == 1


def test_cookies_are_never_sent_back_and_a_second_run_asks_for_nothing_known(tmp_path):
    routes = {"1": TWEET, "2": NOT_FOUND}
    with serving(NitterServer(routes=routes)) as server:
        with TweetCache(tmp_path / "tweets.sqlite") as cache:
            for _ in range(2):
                with extractor(server.url, cache=cache) as client:
                    first = client.fetch_tweet("1"), client.fetch_tweet("2")
            second = client
        assert all("cookie" not in r.headers for r in server.requests)
    assert [r.status for r in first] == [TweetStatus.RESOLVED, TweetStatus.NOT_FOUND]
    assert server.paths() == ["/i/status/1", "/i/status/2"]  # the second run: 0 requests
    assert second.stats.from_cache == 2 and second.stats.requests == 0


def test_retry_after_is_honoured_before_the_next_request():
    routes = {"7": [rate_limited("1"), TWEET]}
    with serving(NitterServer(routes=routes)) as server, extractor(server.url) as client:
        result = client.fetch_tweet("7")
    assert result.status is TweetStatus.RESOLVED
    first, second = server.requests
    assert second.at - first.at >= 0.95
    assert client.stats.failed_requests["rate_limited"] == 1


def test_server_errors_are_retried_with_backoff_then_given_up_with_the_reason(tmp_path):
    routes = {"5": [Reply(503), Reply(502), TWEET], "6": Reply(500)}
    with (
        serving(NitterServer(routes=routes)) as server,
        TweetCache(tmp_path / "t.sqlite") as cache,
        extractor(server.url, cache=cache) as c,
    ):
        assert c.fetch_tweet("5").status is TweetStatus.RESOLVED
        failed = c.fetch_tweet("6")
        assert (failed.status, failed.reason) == (TweetStatus.UNRESOLVED, "server_error")
        assert not cache.should_fetch("6")  # stored with a time to retry, not refetched
        assert c.fetch_tweet("6").reason == "retry_later"
    assert server.paths().count("/i/status/6") == 3  # max_attempts, then no more


def test_the_healthy_instance_is_preferred_and_a_failing_one_rested():
    dead = refused_url()
    dead_host = dead.removeprefix("http://")
    with serving(NitterServer()) as server:
        transport = RecordingTransport()
        with extractor(dead, server.url, transport=transport) as client:
            results = [client.fetch_tweet(str(n)) for n in range(11, 21)]
    assert all(r.status is TweetStatus.RESOLVED for r in results)
    # the first lookup tried it (max_attempts times); then the healthy one came first
    assert transport.hosts.count(dead_host) == 3
    assert set(transport.hosts) == {dead_host, server.url.removeprefix("http://")}
    transport = RecordingTransport()
    with extractor(dead, transport=transport) as alone:
        results = [alone.fetch_tweet(str(n)) for n in range(11, 16)]
    # three failed lookups in a row rest it: the last two ask nothing
    assert transport.hosts.count(dead_host) == 3 * 3
    assert [r.reason for r in results] == ["connect_error"] * 3 + ["instances_resting"] * 2


@pytest.mark.parametrize(
    ("reply", "reason"),
    [
        (ANUBIS, "challenge_anubis"),
        (MALFORMED, "unknown_layout_unrecognized"),
        (Reply(200, b"x" * 3_000_000), "too_large"),
        (Reply(302, b"", (("Location", "https://x.com/i/status/9"),)), "redirect"),
        (Reply(200, page("single_tweet.html"), delay=1.5), "timeout"),
    ],
)
def test_each_bad_answer_is_named_and_the_next_instance_tried(reply, reason):
    transport = RecordingTransport()
    with (
        serving(NitterServer(default=reply)) as bad,
        serving(NitterServer()) as good,
        extractor(
            bad.url, good.url, timeout_seconds=0.5, max_attempts=1, transport=transport
        ) as client,
    ):
        result = client.fetch_tweet("42")
    assert result.status is TweetStatus.RESOLVED
    assert client.stats.failed_requests == {reason: 1}
    # only the two configured hosts were contacted: no redirect followed to x.com
    configured = {bad.url.removeprefix("http://"), good.url.removeprefix("http://")}
    assert set(transport.hosts) == configured and len(transport.hosts) == 2
    assert len(good.requests) == 1


def test_the_time_budget_bounds_the_run_and_leaves_the_rest_unresolved():
    slow = Reply(200, page("single_tweet.html"), delay=0.3)
    with serving(NitterServer(default=slow)) as server:
        started = time.monotonic()
        with extractor(server.url, time_budget_seconds=1.0) as client:
            frame = client.enhance_conversations(
                windows(*(f"https://x.com/a/status/{n}" for n in range(100, 120)))
            )
        elapsed = time.monotonic() - started
    assert elapsed < 2.0
    stats = client.stats
    assert 1 <= stats.resolved <= 4 and stats.reasons["budget"] == 20 - stats.resolved
    assert set(frame["tweet_status"]) == {"resolved", "unresolved"}


def test_the_cache_keeps_what_was_resolved_when_the_run_dies_mid_way(tmp_path):
    links = windows(*(f"https://x.com/a/status/{n}" for n in range(101, 107)))
    with serving(NitterServer()) as server:
        with TweetCache(tmp_path / "tweets.sqlite") as cache:
            transport = RecordingTransport(fail_after=3)
            with (
                pytest.raises(RuntimeError, match="injected"),
                extractor(server.url, cache=cache, transport=transport) as client,
            ):
                client.enhance_conversations(links)
        with TweetCache(tmp_path / "tweets.sqlite") as cache:
            assert cache.counts()["resolved"] == 3
            with extractor(server.url, cache=cache) as client:
                frame = client.enhance_conversations(links)
    assert (frame["tweet_status"] == LinkStatus.RESOLVED).all()
    assert client.stats.from_cache == 3 and client.stats.requests == 3
    assert sorted(server.paths()) == sorted(f"/i/status/{n}" for n in range(101, 107))


def test_off_by_default_nothing_is_contacted_and_links_stay_unresolved():
    with serving(NitterServer()) as server, TwitterExtractor([]) as client:
        frame = client.enhance_conversations(windows("https://x.com/a/status/123"))
    assert server.requests == []
    assert frame["tweet_status"].tolist() == ["unresolved"]
    assert client.stats.reasons == {"disabled": 1}


@pytest.mark.parametrize(
    "url", ["ftp://nitter.example", "https://user:pw@nitter.example", "http://n.example/?q=1"]
)
def test_an_instance_url_outside_the_rules_is_refused(url):
    with pytest.raises(SettingError, match=re.escape(url)):
        TwitterExtractor([url])


def test_a_proxy_from_the_environment_is_never_used(monkeypatch):
    """Only the configured instance hears of the tweet id: not a proxy the environment names."""
    with (
        serving(NitterServer(default=TWEET)) as proxy,
        serving(NitterServer(default=TWEET)) as server,
    ):
        for name in (
            "HTTP_PROXY",
            "http_proxy",
            "HTTPS_PROXY",
            "https_proxy",
            "ALL_PROXY",
            "all_proxy",
        ):
            monkeypatch.setenv(name, proxy.url)
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.delenv(name, raising=False)
        with extractor(server.url) as client:
            frame = client.enhance_conversations(
                windows("https://x.com/someone/status/1790000000000000003")
            )
    assert frame["tweet_status"].tolist() == ["resolved"]
    assert server.paths() == ["/i/status/1790000000000000003"]
    assert proxy.requests == []
