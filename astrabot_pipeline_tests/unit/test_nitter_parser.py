"""The Nitter status-page parser on pages shaped like Nitter's own templates (fixtures/nitter)."""

import random
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from astrabot_pipeline.enrichment.parser import (
    MAX_NESTING_DEPTH,
    PageKind,
    PageReason,
    parse_status_page,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "nitter"


def _parse(name, tweet_id="1587121163637616640"):
    return parse_status_page((FIXTURES / name).read_bytes().decode("utf-8", "replace"), tweet_id)


def test_a_single_tweet_gives_its_text_author_and_date():
    page = _parse("single_tweet.html")
    assert page.kind is PageKind.TWEET and page.reason is None
    assert page.tweet.text == (
        "Halloween thread & a test of <markup> 🎃👻\n"
        "line two with a example.org/path link, #hashtag and @someone\n\n"
        "“quotes” & café 😀"
    )
    assert page.tweet.author == "spooky_author"
    assert page.tweet.date == datetime(2022, 10, 31, 16, 35, tzinfo=UTC)
    assert page.tweet.quoted_text is None and page.tweet.quoted_author is None


def test_on_a_thread_page_the_main_tweet_is_read_never_an_earlier_one_or_a_reply():
    page = _parse("thread.html", "1790000000000000003")
    assert page.kind is PageKind.TWEET
    assert page.tweet.text == "MAIN tweet: the linked one\nwith a second line"
    assert page.tweet.date == datetime(2024, 5, 13, 9, 10, tzinfo=UTC)
    for other in ("EARLIER", "AFTER", "REPLY", "earlier replies"):
        assert other not in page.tweet.text
    assert page.tweet.author == "threader"


def test_a_quoted_tweet_is_read_apart_from_the_main_one():
    page = _parse("quote_tweet.html", "1700000000000000002")
    assert page.tweet.text == "My comment on this"
    assert page.tweet.author == "quoter"
    assert page.tweet.quoted_text == "The QUOTED text\nover two lines & more"
    assert page.tweet.quoted_author == "quoted_user"


def test_an_unavailable_quote_leaves_the_quote_empty():
    page = _parse("quote_unavailable.html", "1700000000000000010")
    assert page.kind is PageKind.TWEET and page.tweet.text == "Look at this"
    assert page.tweet.quoted_text is None and page.tweet.quoted_author is None


@pytest.mark.parametrize(
    ("fixture", "kind", "reason"),
    [
        ("not_found.html", PageKind.NOT_FOUND, PageReason.NOT_FOUND),
        ("deleted.html", PageKind.NOT_FOUND, PageReason.DELETED),
        ("suspended.html", PageKind.NOT_FOUND, PageReason.SUSPENDED),
        ("protected.html", PageKind.NOT_FOUND, PageReason.PROTECTED),
        ("invalid_id.html", PageKind.NOT_FOUND, PageReason.INVALID_ID),
        ("tombstone_main.html", PageKind.NOT_FOUND, PageReason.DELETED),
        ("rate_limited.html", PageKind.ERROR_PANEL, PageReason.RATE_LIMITED),
        ("no_sessions.html", PageKind.ERROR_PANEL, PageReason.RATE_LIMITED),
        ("instance_error.html", PageKind.ERROR_PANEL, PageReason.INSTANCE_ERROR),
        ("network_error.html", PageKind.ERROR_PANEL, PageReason.INSTANCE_ERROR),
        ("anubis_challenge.html", PageKind.CHALLENGE, PageReason.ANUBIS),
        ("cloudflare_challenge.html", PageKind.CHALLENGE, PageReason.CLOUDFLARE),
        ("js_required.html", PageKind.CHALLENGE, PageReason.JAVASCRIPT),
        ("main_tweet_no_content.html", PageKind.UNKNOWN_LAYOUT, PageReason.NO_TWEET_CONTENT),
        ("malformed.html", PageKind.UNKNOWN_LAYOUT, PageReason.UNRECOGNIZED),
        ("garbage.html", PageKind.UNKNOWN_LAYOUT, PageReason.UNRECOGNIZED),
    ],
)
def test_pages_that_are_not_a_tweet_are_classified(fixture, kind, reason):
    page = _parse(fixture)
    assert (page.kind, page.reason, page.tweet) == (kind, reason, None)


def test_every_fixture_is_covered_by_a_test():
    tested = {
        "single_tweet.html", "thread.html", "quote_tweet.html", "quote_unavailable.html",
        "not_found.html", "deleted.html", "suspended.html", "protected.html", "invalid_id.html",
        "tombstone_main.html", "rate_limited.html", "no_sessions.html", "instance_error.html",
        "network_error.html", "anubis_challenge.html", "cloudflare_challenge.html",
        "js_required.html", "main_tweet_no_content.html", "malformed.html", "garbage.html",
    }  # fmt: skip
    assert {path.name for path in FIXTURES.glob("*.html")} == tested


def test_a_tweet_that_mentions_a_challenge_stays_a_tweet():
    html = (
        (FIXTURES / "single_tweet.html")
        .read_text(encoding="utf-8")
        .replace(
            "Halloween thread", "Just a moment... Making sure you're not a bot anubis_challenge"
        )
    )
    page = parse_status_page(html, "1587121163637616640")
    assert page.kind is PageKind.TWEET and page.tweet.text.startswith("Just a moment")


def test_without_a_date_on_the_page_the_id_dates_the_tweet():
    html = (FIXTURES / "single_tweet.html").read_text(encoding="utf-8")
    html = html.replace('title="Oct 31, 2022 · 4:35 PM UTC"', 'title="sometime"')
    page = parse_status_page(html, "1587121163637616640")
    assert page.tweet.date == datetime(2022, 10, 31, 16, 35, 47, 353000, tzinfo=UTC)
    assert parse_status_page(html, "20").tweet.date is None


@pytest.mark.parametrize("page", ["", "   ", None, b"<html>".decode(), "\x00" * 1000, "<" * 5000])
def test_empty_and_degenerate_input_fails_soft(page):
    assert parse_status_page(page, "1").kind is PageKind.UNKNOWN_LAYOUT


def test_random_bytes_never_raise():
    rng = random.Random(12)
    for _ in range(30):
        blob = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
        assert (
            parse_status_page(blob.decode("utf-8", "replace"), "1").kind is PageKind.UNKNOWN_LAYOUT
        )
    single = (FIXTURES / "single_tweet.html").read_text(encoding="utf-8")
    for cut in range(0, len(single), 97):  # every truncation of a real page
        assert parse_status_page(single[:cut], "1").kind in set(PageKind)


@pytest.mark.parametrize("tag", ["div", "span", "b", "table"])
def test_a_one_megabyte_nesting_bomb_is_refused_in_bounded_time(tag):
    bomb = f"<{tag}>" * (1_000_000 // (len(tag) + 2))
    started = time.perf_counter()
    page = parse_status_page(bomb, "1")
    assert time.perf_counter() - started < 1.0
    assert (page.kind, page.reason) == (PageKind.UNKNOWN_LAYOUT, PageReason.TOO_DEEP)


ORDINARY_MARKUP = "<p>x</p>"  # a page of many small elements: what parsing costs per byte
LINEAR_COST_FACTOR = 6


@pytest.mark.parametrize(
    "hostile",
    [
        "<a" * 500_000,  # a tag that never ends: its name runs to the end of the page
        '<div x="' * 125_000,  # an attribute value that never ends
        "<!--" * 250_000,
        "<script>" + "<div>" * 200_000,  # raw text: not tags
        "< div" * 200_000,
        "".join(f"<font color={i}>" for i in range(1000)) + "<p>x</p>" * 100_000,
    ],
)
def test_hostile_megabyte_pages_are_read_in_bounded_time(hostile):
    # Bounded means linear: a hostile page costs at most a few times an ordinary page of
    # its size, never the super-linear blow-up deep nesting gives Lexbor (73 s for 1 MB).
    # Both are timed in this process's CPU time, in this test, so a loaded machine slows
    # them alike (a 1.5 s wall-clock bound failed on a busy CI runner at 1.53 s for a page
    # that parses in 0.6 s alone). The reference is a quarter of the size, scaled by 4.
    reference = ORDINARY_MARKUP * (len(hostile) // (4 * len(ORDINARY_MARKUP)))
    started = time.process_time()
    parse_status_page(reference, "1")
    linear_cost = 4 * (time.process_time() - started)
    started = time.process_time()
    page = parse_status_page(hostile, "1")
    cost = time.process_time() - started
    # Measured: the worst page here (1,000 open formatting elements) costs 2.2 times the
    # linear cost; doubling it doubles its time. A quadratic path costs thousands of times.
    assert cost < LINEAR_COST_FACTOR * linear_cost, (cost, linear_cost)
    assert page.kind is PageKind.UNKNOWN_LAYOUT


@pytest.mark.parametrize(
    "bomb",
    ['<div x="<">' * 100_000, "<div><!-- x -->" * 100_000, "<div><script></script>" * 50_000],
)
def test_quoted_angles_comments_and_scripts_do_not_hide_nesting(bomb):
    assert parse_status_page(bomb, "1").reason is PageReason.TOO_DEEP


def test_closing_tags_without_an_opener_do_not_hide_nesting():
    bomb = "<div></span>" * 100_000
    started = time.perf_counter()
    assert parse_status_page(bomb, "1").reason is PageReason.TOO_DEEP
    assert time.perf_counter() - started < 1.0


def test_a_real_page_with_many_replies_is_not_taken_for_a_bomb():
    html = (FIXTURES / "thread.html").read_text(encoding="utf-8")
    start, end = html.index('<div class="reply thread'), html.index('<div class="top-ref">')
    replies = html[start : html.index("</div></div>", end - 20)]
    many = html[:start] + replies * 60 + html[start:]
    assert many.count("<") > MAX_NESTING_DEPTH
    page = parse_status_page(many, "1790000000000000003")
    assert page.kind is PageKind.TWEET and page.tweet.text.startswith("MAIN tweet")


def test_literal_newlines_and_spaces_inside_the_text_are_kept():
    # Nitter's .media-body is `white-space: pre-wrap`: newlines may come as text, not <br>.
    html = (FIXTURES / "single_tweet.html").read_text(encoding="utf-8")
    start = html.index('<div class="tweet-content media-body" dir="auto">') + 49
    end = html.index("</div>", start)
    html = html[:start] + "\n  first\nsecond  line  \n\n" + html[end:]
    assert parse_status_page(html, "1").tweet.text == "first\nsecond  line"


@pytest.mark.parametrize(
    ("message", "kind", "reason"),
    [
        ("This Post is unavailable.", PageKind.NOT_FOUND, PageReason.UNAVAILABLE),
        (
            "This Post is from an account that no longer exists.",
            PageKind.NOT_FOUND,
            PageReason.DELETED,
        ),
        (
            "This Post violated the X Rules and was withheld",
            PageKind.NOT_FOUND,
            PageReason.WITHHELD,
        ),
        ('User "someone" has been suspended', PageKind.NOT_FOUND, PageReason.SUSPENDED),
        # Only the tweet's own fate is final: an instance in trouble is transient.
        ("Service temporarily unavailable", PageKind.ERROR_PANEL, PageReason.INSTANCE_ERROR),
        ("Page not found", PageKind.ERROR_PANEL, PageReason.INSTANCE_ERROR),
        ("Too Many Requests", PageKind.ERROR_PANEL, PageReason.RATE_LIMITED),
    ],
)
def test_error_panel_messages_are_told_apart(message, kind, reason):
    html = (FIXTURES / "not_found.html").read_text(encoding="utf-8")
    page = parse_status_page(html.replace("Tweet not found", message), "1")
    assert (page.kind, page.reason) == (kind, reason)
