"""Resolving tweet ids to their text through configured Nitter instances.

Privacy: only the configured hosts are contacted, only with a tweet id; no cookies are
kept, no referrer or identifying headers are sent. With no instance configured (the
default) or none reachable, every tweet is reported `unresolved` and the caller goes on.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

import httpx
import pandas as pd

from astrabot_pipeline.enrichment.cache import TweetCache
from astrabot_pipeline.enrichment.tweets import find_twitter_references

_TWEET_CONTENT = re.compile(
    r'<div class="tweet-content[^"]*"[^>]*>(?P<content>.*?)</div>', re.DOTALL | re.IGNORECASE
)
_TAG = re.compile(r"<[^>]+>")
_REQUEST_HEADERS = {"User-Agent": "astrabot-pipeline", "Accept": "text/html"}


class TweetStatus(StrEnum):
    RESOLVED = "resolved"
    UNRESOLVED = "unresolved"  # no instance configured, or none reachable
    NOT_FOUND = "not_found"  # an instance answered 404: the tweet is gone


@dataclass(frozen=True)
class TweetResult:
    tweet_id: str
    status: TweetStatus
    text: str | None = None


def parse_nitter_status_page(page: str) -> str | None:
    """The main tweet's text from a Nitter status page, or None if the page has none."""
    match = _TWEET_CONTENT.search(page)
    if match is None:
        return None
    text = _TAG.sub("", match.group("content").replace("<br>", "\n"))
    return html.unescape(text).strip() or None


class TwitterExtractor:
    """Finds tweet links in messages and fetches their text from Nitter instances."""

    def __init__(
        self,
        nitter_instances: Iterable[str] = (),
        rate_limit_delay: float = 2.0,
        *,
        timeout_seconds: float = 10.0,
        cache: TweetCache | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.instances = [instance.rstrip("/") for instance in nitter_instances if instance]
        self.rate_limit_delay = rate_limit_delay
        self.cache = cache if cache is not None else TweetCache(None)
        self.requests_made = 0
        self._last_request_at = 0.0
        self._client = (
            httpx.Client(
                timeout=httpx.Timeout(timeout_seconds),
                headers=_REQUEST_HEADERS,
                follow_redirects=False,
                trust_env=False,
                transport=transport,
            )
            if self.instances
            else None
        )

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> TwitterExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def fetch_tweet(self, tweet_id: str) -> TweetResult:
        cached = self.cache.get(tweet_id)
        if cached is not None:
            return TweetResult(tweet_id, TweetStatus(cached["status"]), cached.get("text"))
        for instance in self.instances:
            result = self._fetch_from(instance, tweet_id)
            if result is not None:
                if result.status is not TweetStatus.UNRESOLVED:
                    self.cache.put(tweet_id, {"status": result.status.value, "text": result.text})
                return result
        return TweetResult(tweet_id, TweetStatus.UNRESOLVED)

    def _fetch_from(self, instance: str, tweet_id: str) -> TweetResult | None:
        assert self._client is not None
        self._respect_rate_limit()
        try:
            response = self._client.get(f"{instance}/i/status/{tweet_id}")
        except httpx.HTTPError:
            return None  # unreachable instance: try the next one
        finally:
            self._client.cookies.clear()
            self.requests_made += 1
        if response.status_code == 404:
            return TweetResult(tweet_id, TweetStatus.NOT_FOUND)
        if response.status_code != 200:
            return None
        text = parse_nitter_status_page(response.text)
        return TweetResult(tweet_id, TweetStatus.RESOLVED, text) if text else None

    def _respect_rate_limit(self) -> None:
        wait = self._last_request_at + self.rate_limit_delay - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self._last_request_at = time.monotonic()

    def enhance_conversations(self, windows: pd.DataFrame) -> pd.DataFrame:
        """Add tweet_ids, tweet_status and tweet_text columns to windowed messages.

        tweet_status is None for messages without links; tweet_text joins resolved texts.
        """
        references = windows["body"].map(find_twitter_references)
        results: dict[str, TweetResult] = {}
        for refs in references:
            for ref in refs:
                if ref.tweet_id not in results:
                    results[ref.tweet_id] = self.fetch_tweet(ref.tweet_id)
        self.cache.save()
        enriched = windows.copy()
        enriched["tweet_ids"] = references.map(lambda refs: [ref.tweet_id for ref in refs])
        enriched["tweet_status"] = references.map(lambda refs: _combined_status(refs, results))
        enriched["tweet_text"] = references.map(lambda refs: _combined_text(refs, results))
        return enriched


def _combined_status(refs, results: dict[str, TweetResult]) -> str | None:
    if not refs:
        return None
    statuses = {results[ref.tweet_id].status for ref in refs}
    if statuses == {TweetStatus.RESOLVED}:
        return TweetStatus.RESOLVED.value
    if TweetStatus.UNRESOLVED in statuses:
        return TweetStatus.UNRESOLVED.value
    return TweetStatus.NOT_FOUND.value if TweetStatus.RESOLVED not in statuses else "partial"


def _combined_text(refs, results: dict[str, TweetResult]) -> str | None:
    texts = [results[ref.tweet_id].text for ref in refs if results[ref.tweet_id].text]
    return "\n".join(texts) if texts else None
