"""Finding tweet links, counting t.co links and dating tweet ids, all without a request."""

from datetime import UTC, datetime

import pandas as pd
import pyarrow as pa
import pytest

from astrabot_pipeline.enrichment import find_twitter_references
from astrabot_pipeline.enrichment.tweets import (
    count_tco_links,
    count_tco_links_many,
    find_twitter_references_many,
    tweet_date_from_id,
)


def _ids(text, **kwargs):
    return [ref.tweet_id for ref in find_twitter_references(text, **kwargs)]


def test_twitter_and_x_status_links_are_found_with_their_ids():
    text = (
        "lol https://twitter.com/some_user/status/1790000000000000001?s=20 and "
        "https://x.com/Other/status/1790000000000000002/photo/1, also https://mobile.twitter.com/a/statuses/12345678"
    )
    refs = find_twitter_references(text)
    assert [r.tweet_id for r in refs] == ["1790000000000000001", "1790000000000000002", "12345678"]
    assert refs[1].user == "Other"


@pytest.mark.parametrize(
    ("text", "url", "user", "tweet_id"),
    [
        (
            "https://www.twitter.com/u/status/111111",
            "https://www.twitter.com/u/status/111111",
            "u",
            "111111",
        ),
        (
            "http://m.twitter.com/u_2/status/222222",
            "http://m.twitter.com/u_2/status/222222",
            "u_2",
            "222222",
        ),
        (
            "https://mobile.x.com/u/status/333333",
            "https://mobile.x.com/u/status/333333",
            "u",
            "333333",
        ),
        (
            "https://fxtwitter.com/u/status/444444",
            "https://fxtwitter.com/u/status/444444",
            "u",
            "444444",
        ),
        (
            "https://vxtwitter.com/u/status/555555",
            "https://vxtwitter.com/u/status/555555",
            "u",
            "555555",
        ),
        ("https://fixupx.com/u/status/666666", "https://fixupx.com/u/status/666666", "u", "666666"),
        ("https://fixvx.com/u/status/777777", "https://fixvx.com/u/status/777777", "u", "777777"),
        (
            "https://nitter.net/u/status/888888#m",
            "https://nitter.net/u/status/888888#m",
            "u",
            "888888",
        ),
        (
            "https://nitter.poast.org/u/status/999999",
            "https://nitter.poast.org/u/status/999999",
            "u",
            "999999",
        ),
        (
            "http://my-nitter.lan:8080/u/status/121212",
            "http://my-nitter.lan:8080/u/status/121212",
            "u",
            "121212",
        ),
        ("https://x.com/i/status/131313", "https://x.com/i/status/131313", "", "131313"),
        (
            "https://twitter.com/i/web/status/141414",
            "https://twitter.com/i/web/status/141414",
            "",
            "141414",
        ),
        ("x.com/a/status/151515 no scheme", "x.com/a/status/151515", "a", "151515"),
        ("HTTPS://X.COM/Big/STATUS/161616", "HTTPS://X.COM/Big/STATUS/161616", "Big", "161616"),
        ("(see https://x.com/u/status/171717).", "https://x.com/u/status/171717", "u", "171717"),
        ("wow https://x.com/u/status/181818!?", "https://x.com/u/status/181818", "u", "181818"),
        ("“https://x.com/u/status/191919”", "https://x.com/u/status/191919", "u", "191919"),
        ('"https://x.com/u/status/202020",', "https://x.com/u/status/202020", "u", "202020"),
        ("[https://x.com/u/status/212121]", "https://x.com/u/status/212121", "u", "212121"),
        (
            "https://twitter.com/u/status/222333?s=20&t=AbC-d_e#frag, ok",
            "https://twitter.com/u/status/222333?s=20&t=AbC-d_e#frag",
            "u",
            "222333",
        ),
        ("<https://x.com/u/status/232323>", "https://x.com/u/status/232323", "u", "232323"),
        (
            "max id x.com/u/status/9223372036854775807",
            "x.com/u/status/9223372036854775807",
            "u",
            "9223372036854775807",
        ),
    ],
)
def test_every_link_form_gives_its_id_user_and_the_url_without_trailing_punctuation(
    text, url, user, tweet_id
):
    (ref,) = find_twitter_references(text)
    assert (ref.url, ref.user, ref.tweet_id) == (url, user, tweet_id)


@pytest.mark.parametrize(
    "text",
    [
        "see https://twitter.com/some_user and x.com",
        "https://twitter.com/home",
        "https://x.com/someone",
        "https://x.com/someone/likes",
        "https://notx.com/a/status/123456",
        "https://nottwitter.com/a/status/123456",
        "mail me@x.com/a/status/123456",
        "https://evil.example/x.com/a/status/123456",
        "https://x.com.evil.example/a/status/123456",
        "https://example.org/a/status/123456",
        "https://x.com/a/status/",
        "https://x.com/a/status/abc",
        "https://x.com/a/status/123abc",
        "https://x.com/a/status/7",  # too short: no tweet id has one digit
        "https://x.com/a/status/0123456",  # ids have no leading zero
        "https://x.com/a/status/12345678901234567890",  # 20 digits: longer than any id
        "https://x.com/a/status/9223372036854775808",  # past the signed 64-bit range
        "https://x.com/this_name_is_too_long/status/123456",  # usernames have 1 to 15 chars
        "the status of x.com is fine",
    ],
)
def test_things_that_are_not_status_links_give_nothing(text):
    assert find_twitter_references(text) == []


def test_missing_bodies_give_nothing():
    assert find_twitter_references(None) == []
    assert find_twitter_references(float("nan")) == []


def test_configured_instances_are_recognized_only_when_named():
    text = "https://xcancel.com/u/status/555555 and http://10.0.0.5:8080/u/status/666666"
    assert _ids(text) == []
    hosts = ["https://xcancel.com/", "10.0.0.5:8080"]
    assert _ids(text, extra_hosts=hosts) == ["555555", "666666"]
    assert _ids("http://10.0.0.5:9999/u/status/666666", extra_hosts=hosts) == []


def test_the_same_tweet_linked_twice_is_reported_once():
    text = "https://x.com/a/status/111111 https://twitter.com/a/status/111111"
    assert len(find_twitter_references(text)) == 1


def test_the_vectorized_scan_agrees_with_the_per_message_one():
    bodies = [
        "https://x.com/a/status/111111",
        None,
        "nothing here",
        "two: x.com/b/status/222222 https://nitter.net/c/status/333333).",
        "STATUS in capitals https://X.COM/d/STATUS/444444",
        "t.co/abcdef and https://t.co/XyZ12345",
    ] * 50
    expected = [find_twitter_references(body) for body in bodies]
    assert find_twitter_references_many(bodies) == expected
    assert find_twitter_references_many(pd.Series(bodies)) == expected
    assert find_twitter_references_many(pa.chunked_array([bodies[:7], bodies[7:]])) == expected
    tco = [count_tco_links(body) for body in bodies]
    assert count_tco_links_many(bodies) == count_tco_links_many(pa.array(bodies)) == tco
    assert sum(tco) == 100


def test_tco_links_are_counted_never_resolved():
    text = "a https://t.co/AbCd123 and t.co/xyz12, T.CO/Q1w2E3r4 but not notat.co/abcde or t.co/"
    assert count_tco_links(text) == 3
    assert count_tco_links(None) == 0
    assert count_tco_links("https://x.com/a/status/111111") == 0
    # A t.co link is not a status link: its target is unknown without asking X.
    assert find_twitter_references("https://t.co/AbCd123") == []


def test_a_known_tweet_is_dated_from_its_id():
    date = tweet_date_from_id("1587121163637616640")
    assert date == datetime(2022, 10, 31, 16, 35, 47, 353000, tzinfo=UTC)
    assert tweet_date_from_id(1587121163637616640) == date


@pytest.mark.parametrize(
    "tweet_id",
    ["20", "29700859247", "-5", "abc", None, str(2**63), "9223372036854775807"],
)
def test_ids_before_snowflakes_or_absurd_have_no_date(tweet_id):
    # 20 is the first tweet (2006); 29700859247 the last sequential id (Nov 2010); the
    # largest 64-bit id would date from the 2080s.
    assert tweet_date_from_id(tweet_id) is None


def test_the_first_snowflake_ids_are_dated_november_2010():
    date = tweet_date_from_id("29700859248")
    assert date is not None and date.date() == datetime(2010, 11, 4).date()


def test_pathological_text_is_scanned_in_bounded_time():
    import time

    hostile = (
        ("a." * 20000)
        + "nitter-" * 5000
        + "nitter." * 5000
        + "x"
        + "/u/status/123456 "
        + "x.com/" * 20000
        + "status" * 20000
    )
    started = time.perf_counter()
    find_twitter_references(hostile)
    count_tco_links("t.co/" * 50000)
    assert time.perf_counter() - started < 2.0
