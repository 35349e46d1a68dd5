"""The SQLite tweet cache: round trip, negative caching, retry-after, privacy, crash safety."""

import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from astrabot_pipeline.enrichment.cache import (
    FAILURE_BACKOFF_BASE_SECONDS,
    FAILURE_BACKOFF_CAP_SECONDS,
    CacheStatus,
    TweetCache,
    TweetCacheError,
    failure_backoff_seconds,
)
from astrabot_pipeline.enrichment.parser import ParsedTweet

TWEET = ParsedTweet(
    text="hello\nworld & 🎃",
    author="someone",
    date=datetime(2022, 10, 31, 16, 35, tzinfo=UTC),
    quoted_text="quoted",
    quoted_author="other",
)


def test_a_resolved_tweet_round_trips_and_is_never_fetched_again(tmp_path):
    path = tmp_path / "cache" / "tweets.sqlite"
    with TweetCache(path) as cache:
        assert cache.should_fetch("111") and cache.get("111") is None
        cache.put_resolved("111", TWEET, now=1000.0)
    with TweetCache(path) as cache:
        row = cache.get("111")
        assert row.status is CacheStatus.RESOLVED and row.reason is None
        assert (row.text, row.author, row.date) == (TWEET.text, TWEET.author, TWEET.date)
        assert (row.quoted_text, row.quoted_author) == ("quoted", "other")
        assert row.fetched_at == 1000.0 and row.retry_after is None
        assert not cache.should_fetch("111", now=1e12)
        assert cache.counts() == {"resolved": 1, "not_found": 0, "failed": 0}


def test_a_tweet_without_date_or_quote_round_trips(tmp_path):
    with TweetCache(tmp_path / "t.sqlite") as cache:
        cache.put_resolved("5", ParsedTweet("", "", None))
        row = cache.get("5")
    assert (row.text, row.author, row.date, row.quoted_text) == ("", "", None, None)


def test_not_found_is_cached_negatively_with_its_reason(tmp_path):
    with TweetCache(tmp_path / "t.sqlite") as cache:
        cache.put_not_found("222", "deleted")
        assert not cache.should_fetch("222", now=1e12)
        assert (cache.get("222").status, cache.get("222").reason) == ("not_found", "deleted")
        # A later transient failure does not undo a final verdict.
        assert cache.put_failure("222", "timeout") == float("inf")
        assert cache.get("222").status is CacheStatus.NOT_FOUND


def test_a_failure_is_retried_only_after_its_retry_after_which_backs_off(tmp_path):
    with TweetCache(tmp_path / "t.sqlite") as cache:
        first = cache.put_failure("333", "rate_limited", now=1000.0)
        assert first == 1000.0 + FAILURE_BACKOFF_BASE_SECONDS
        assert not cache.should_fetch("333", now=first - 1)
        assert cache.should_fetch("333", now=first)
        second = cache.put_failure("333", "challenge", now=first)
        assert second == first + 2 * FAILURE_BACKOFF_BASE_SECONDS
        row = cache.get("333")
        assert (row.status, row.reason, row.failures, row.retry_after) == (
            "failed",
            "challenge",
            2,
            second,
        )
        # A server's Retry-After later than the backoff wins.
        later = cache.put_failure("333", "rate_limited", retry_after=second + 1e6, now=second)
        assert later == second + 1e6
        # Success clears the failures.
        cache.put_resolved("333", TWEET)
        assert cache.get("333").failures == 0 and not cache.should_fetch("333", now=1e12)


def test_the_backoff_doubles_and_is_capped():
    assert [failure_backoff_seconds(n) for n in (1, 2, 3)] == [600.0, 1200.0, 2400.0]
    assert (
        failure_backoff_seconds(50)
        == failure_backoff_seconds(10_000)
        == FAILURE_BACKOFF_CAP_SECONDS
    )


def test_the_file_is_private_and_its_new_folder_too(tmp_path):
    path = tmp_path / "data" / "cache" / "tweets.sqlite"
    old_umask = os.umask(0o000)
    try:
        with TweetCache(path) as cache:
            cache.put_resolved("1", TWEET)
            sidecars = [p for p in path.parent.iterdir()]
            assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in sidecars), sidecars
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "data").stat().st_mode) == 0o700


def test_an_exception_mid_batch_keeps_what_was_committed_and_drops_the_batch(tmp_path):
    path = tmp_path / "t.sqlite"
    with TweetCache(path) as cache:
        cache.put_resolved("1", TWEET)
        with pytest.raises(RuntimeError), cache.transaction():
            cache.put_resolved("2", TWEET)
            cache.put_not_found("3", "deleted")
            raise RuntimeError("interrupted")
        cache.put_not_found("4", "suspended")
    with TweetCache(path) as cache:
        assert cache.moved_aside is None
        assert [cache.get(i) is not None for i in "1234"] == [True, False, False, True]


def test_a_writer_killed_mid_run_leaves_an_intact_cache(tmp_path):
    path = tmp_path / "t.sqlite"
    writer = textwrap.dedent(
        f"""
        import sys
        from astrabot_pipeline.enrichment.cache import TweetCache
        from astrabot_pipeline.enrichment.parser import ParsedTweet
        cache = TweetCache({str(path)!r})
        for i in range(10**7):
            cache.put_resolved(str(10**6 + i), ParsedTweet("t" * 500, "a", None))
            if i % 2 == 0:
                cache.put_failure(str(i), "timeout")
            if i == 200:
                print("ready", flush=True)
        """
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    process = subprocess.Popen([sys.executable, "-c", writer], stdout=subprocess.PIPE, env=env)
    try:
        assert process.stdout.readline().strip() == b"ready"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    with TweetCache(path) as cache:
        assert cache.moved_aside is None
        counts = cache.counts()
        assert counts["resolved"] > 200 and counts["failed"] > 100
        assert cache.get("1000000").text == "t" * 500
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


@pytest.mark.parametrize(
    "content",
    [
        b"\x00\xffgarbage that is not sqlite" * 100,
        b'{"123": {"status": "resolved", "text": "old json cache"}}',
        "foreign sqlite",
        "truncated cache",
    ],
)
def test_a_corrupt_or_foreign_file_is_moved_aside_with_a_warning(tmp_path, caplog, content):
    path = tmp_path / "tweets.sqlite"
    if content == "foreign sqlite":
        with sqlite3.connect(path) as conn:
            conn.execute("CREATE TABLE tweets (id INTEGER, secret TEXT)")
            conn.execute("INSERT INTO tweets VALUES (1, 'not ours')")
        conn.close()
    elif content == "truncated cache":
        with TweetCache(path) as cache:
            for i in range(2000):
                cache.put_resolved(str(i), ParsedTweet("x" * 200, "a", None))
        with open(path, "r+b") as handle:
            handle.truncate(path.stat().st_size // 2)
    else:
        path.write_bytes(content)
    original = path.read_bytes()
    with caplog.at_level("WARNING"), TweetCache(path) as cache:
        assert cache.moved_aside is not None
        assert cache.moved_aside.name.startswith("tweets.sqlite.corrupt-")
        assert cache.moved_aside.read_bytes() == original
        assert len(cache) == 0
        cache.put_resolved("1", TWEET)
    assert "moved aside" in caplog.text
    with TweetCache(path) as cache:
        assert cache.moved_aside is None and cache.get("1") is not None


def test_an_in_memory_cache_touches_no_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with TweetCache(None) as cache:
        cache.put_not_found("1", "not_found")
        assert cache.counts()["not_found"] == 1
    assert list(tmp_path.iterdir()) == []


def test_many_ids_are_looked_up_at_once(tmp_path):
    with TweetCache(tmp_path / "t.sqlite") as cache:
        with cache.transaction():
            for i in range(1200):
                cache.put_not_found(str(i), "deleted")
        found = cache.get_many([str(i) for i in range(0, 2400, 2)] + ["5", "5"])
    assert set(found) == {str(i) for i in range(0, 1200, 2)} | {"5"}
    assert found["5"].reason == "deleted"


def test_a_link_or_folder_at_the_path_is_moved_aside_never_followed(tmp_path):
    target = tmp_path / "elsewhere.txt"
    target.write_text("not ours")
    link = tmp_path / "tweets.sqlite"
    link.symlink_to(target)
    with TweetCache(link) as cache:
        assert cache.moved_aside is not None and cache.moved_aside.is_symlink()
        cache.put_not_found("1", "deleted")
    assert target.read_text() == "not ours" and not link.is_symlink()
    folder = tmp_path / "dir.sqlite"
    folder.mkdir()
    with TweetCache(folder) as cache:
        assert cache.moved_aside is not None and cache.moved_aside.is_dir()


def test_a_file_in_the_way_of_its_folder_is_a_typed_error(tmp_path):
    blocker = tmp_path / "data"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(TweetCacheError, match="cannot open the tweet cache") as raised:
        TweetCache(blocker / "cache" / "tweets.sqlite")
    assert isinstance(raised.value, OSError)
    assert blocker.read_text().startswith("a file")
