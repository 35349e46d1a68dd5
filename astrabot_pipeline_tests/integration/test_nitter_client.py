"""The Nitter client against a real HTTP server on loopback."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pandas as pd
import pytest

from astrabot_pipeline.enrichment import TweetCache, TweetStatus, TwitterExtractor

TWEET_PAGE = (
    '<html><div class="tweet-content media-body" dir="auto">Nitter says hi &amp; bye</div></html>'
)


class _Handler(BaseHTTPRequestHandler):
    requests: list[dict] = []

    def do_GET(self):  # noqa: N802 (http.server naming)
        _Handler.requests.append({"path": self.path, "headers": dict(self.headers)})
        if self.path.endswith("/404404404"):
            self.send_response(404)
            self.end_headers()
            return
        body = TWEET_PAGE.encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Set-Cookie", "tracker=1")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def nitter_server():
    _Handler.requests = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _windows(bodies):
    return pd.DataFrame({"message_id": range(len(bodies)), "body": bodies})


def test_tweets_resolve_through_a_reachable_instance_with_only_the_id_sent(nitter_server, tmp_path):
    windows = _windows(["see https://x.com/someone/status/123456789 ok", "no link", None])
    with TwitterExtractor(
        [nitter_server], rate_limit_delay=0, cache=TweetCache(tmp_path / "c.json")
    ) as ex:
        enriched = ex.enhance_conversations(windows)
    assert enriched["tweet_status"].fillna("-").tolist() == ["resolved", "-", "-"]
    assert enriched["tweet_text"].iloc[0] == "Nitter says hi & bye"
    assert [r["path"] for r in _Handler.requests] == ["/i/status/123456789"]
    headers = {k.lower() for k in _Handler.requests[0]["headers"]}
    assert "cookie" not in headers and "referer" not in headers


def test_second_run_uses_the_cache_and_cookies_are_never_sent_back(nitter_server, tmp_path):
    cache_path = tmp_path / "c.json"
    windows = _windows(["https://x.com/a/status/111111", "https://x.com/a/status/222222"])
    with TwitterExtractor([nitter_server], rate_limit_delay=0, cache=TweetCache(cache_path)) as ex:
        ex.enhance_conversations(windows)
    assert all("cookie" not in {k.lower() for k in r["headers"]} for r in _Handler.requests)
    with TwitterExtractor([nitter_server], rate_limit_delay=0, cache=TweetCache(cache_path)) as ex:
        again = ex.enhance_conversations(windows)
        assert ex.requests_made == 0
    assert again["tweet_status"].tolist() == ["resolved", "resolved"]


def test_a_deleted_tweet_is_not_found_and_an_unreachable_instance_is_unresolved(nitter_server):
    with TwitterExtractor(
        ["http://127.0.0.1:9", nitter_server], rate_limit_delay=0, timeout_seconds=2
    ) as ex:
        assert ex.fetch_tweet("404404404").status is TweetStatus.NOT_FOUND
    with TwitterExtractor(["http://127.0.0.1:9"], rate_limit_delay=0, timeout_seconds=2) as ex:
        assert ex.fetch_tweet("5555555").status is TweetStatus.UNRESOLVED


def test_with_no_instance_configured_nothing_is_contacted_and_links_stay_unresolved():
    with TwitterExtractor([]) as ex:
        enriched = ex.enhance_conversations(_windows(["https://twitter.com/a/status/999999"]))
        assert ex.requests_made == 0
    assert enriched["tweet_status"].tolist() == ["unresolved"]
    assert enriched["tweet_ids"].iloc[0] == ["999999"]
