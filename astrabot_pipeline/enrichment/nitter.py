"""Resolving tweet ids through configured Nitter instances, politely and within a budget.

The network is hostile here: public instances are mostly gone, live ones answer 429 or
serve anti-bot challenge pages with status 200, and a self-hosted one can fail like any
server. So every request is bounded and every failure has a reason:

- Only the configured hosts are contacted (http or https, no credentials, no query), only
  at `/i/status/<digits>`, with no cookies (a jar that stores none), no referrer, a
  generic browser user agent, no proxy from the environment, and no redirect followed (a
  redirect is a failure reason).
- Per host: at least `rate_limit_delay` seconds between two requests, and a `Retry-After`
  (seconds or an HTTP date) is honoured before the next one.
- A transient failure (429, 5xx, timeout, connection error) is retried on the same
  instance with exponential backoff and full jitter, up to `max_attempts`; an instance
  that keeps failing (`REST_AFTER_FAILURES` in a row) is rested for a growing time and
  skipped meanwhile; the healthiest instance is tried first.
- One request, connect, headers and body together, ends within `timeout_seconds` and
  within what is left of the run's budget, however slowly the server trickles bytes
  (`request_deadline`).
- A body is read from the raw stream and decoded by `reply_body`: at most
  `max_response_bytes` as sent and decoded (then: too_large), one layer of gzip or deflate
  (stacked or other encodings: unsupported_encoding; a broken stream: corrupt_encoding).
  Only a 200 or 404 answer's body is read at all. A page is classified by
  `parser.parse_status_page` (tweet, not found, challenge, error panel, unknown layout),
  and anything but a tweet or a final "not found" sends the lookup to the next instance.
- A run has a total time budget: when it is spent, the remaining tweets stay unresolved
  with reason `budget`, before any request that could not finish in time, and a request
  still going is cut.
- The SQLite cache (`cache.TweetCache`) is consulted first: a resolved or gone tweet is
  never fetched again; a transient failure is stored with the earliest time to retry.

With enrichment off or no instance configured, no client is created and nothing is
contacted: every tweet is unresolved with reason `disabled`.
"""

from __future__ import annotations

import email.utils
import math
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

import httpx
import pandas as pd

from astrabot_pipeline.enrichment.cache import CacheStatus, TweetCache
from astrabot_pipeline.enrichment.columns import (
    TWEET_AUTHOR_COLUMN,
    TWEET_QUOTED_TEXT_COLUMN,
    TWEET_TEXT_COLUMN,
)
from astrabot_pipeline.enrichment.errors import NitterReplyError
from astrabot_pipeline.enrichment.parser import PageKind, PageReason, ParsedTweet, parse_status_page
from astrabot_pipeline.enrichment.reply_body import ACCEPT_ENCODING, read_body
from astrabot_pipeline.enrichment.request_deadline import DeadlineTransport, request_deadline
from astrabot_pipeline.enrichment.tweets import (
    TweetReference,
    count_tco_links_many,
    find_twitter_references,
    find_twitter_references_many,
    tweet_date_from_id,
)
from astrabot_pipeline.errors import SettingError

__all__ = [
    "LinkStatus",
    "TweetResult",
    "TweetStatus",
    "TwitterExtractor",
    "find_twitter_references",
]

# A current desktop Firefox: the most common generic browser string, nothing that names us.
USER_AGENT = "Mozilla/5.0 (X11; Linux x86_64; rv:140.0) Gecko/20100101 Firefox/140.0"
_HEADERS = {
    "User-Agent": USER_AGENT,
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "Accept-Language": "en-US,en;q=0.5",
    "Accept-Encoding": ACCEPT_ENCODING,  # what reply_body decodes (httpx would add br, zstd)
}
DEFAULT_MAX_RESPONSE_BYTES = 2_000_000
DEFAULT_MAX_ATTEMPTS = 3  # per tweet and instance, for transient failures
DEFAULT_TIME_BUDGET_SECONDS = 600.0
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 30.0
MAX_RETRY_AFTER_SECONDS = 3_600.0  # a longer Retry-After is read as this
REST_AFTER_FAILURES = 3  # consecutive failed lookups before an instance is rested
REST_BASE_SECONDS = 60.0  # first rest; doubles each time, capped
REST_CAP_SECONDS = 3_600.0
_TWEET_ID = re.compile(r"[1-9][0-9]{0,18}")


class TweetStatus(StrEnum):
    """One tweet's outcome."""

    RESOLVED = "resolved"
    NOT_FOUND = "not_found"  # gone for good (deleted, suspended, protected...): see reason
    UNRESOLVED = "unresolved"  # not looked up (disabled, budget) or failed: see reason


class LinkStatus(StrEnum):
    """A message's outcome over the tweets it links (`tweet_status`; None: no link)."""

    RESOLVED = "resolved"  # every linked tweet resolved
    PARTIAL = "partial"  # some resolved, some not
    NOT_FOUND = "not_found"  # none resolved, every one gone for good
    UNRESOLVED = "unresolved"  # none resolved, at least one could not be looked up


# Failure reasons besides the parser's page reasons.
DISABLED, BUDGET, RETRY_LATER = "disabled", "budget", "retry_later"
RATE_LIMITED, SERVER_ERROR, TIMEOUT = "rate_limited", "server_error", "timeout"
CONNECT_ERROR, REDIRECT = "connect_error", "redirect"
HTTP_ERROR, INSTANCES_RESTING = "http_error", "instances_resting"


@dataclass(frozen=True)
class TweetResult:
    tweet_id: str
    status: TweetStatus
    reason: str | None = None
    tweet: ParsedTweet | None = None
    from_cache: bool = False


@dataclass
class _Instance:
    base: str  # scheme://host[:port][/prefix], no trailing slash
    next_request_at: float = 0.0  # monotonic: rate limit and Retry-After
    failures_in_a_row: int = 0
    rests: int = 0
    rested_until: float = 0.0

    def resting(self, now: float) -> bool:
        return now < self.rested_until


@dataclass
class _Attempt:
    """What one request told: a final result, or a failure reason (and its Retry-After)."""

    result: TweetResult | None = None
    reason: str | None = None
    retry_after: float | None = None
    transient: bool = False  # retry on the same instance after a backoff


@dataclass
class EnrichmentStats:
    """Counts for the asset's metadata: never a tweet's text or a URL."""

    messages_with_links: int = 0
    links_found: int = 0
    distinct_tweets: int = 0
    tco_links: int = 0
    resolved: int = 0
    not_found: int = 0
    unresolved: int = 0
    from_cache: int = 0
    requests: int = 0
    reasons: Counter[str] = field(default_factory=Counter)  # why tweets ended unresolved/gone
    failed_requests: Counter[str] = field(default_factory=Counter)  # why requests failed

    def to_metadata(self) -> dict[str, int]:
        counts = {k: v for k, v in self.__dict__.items() if isinstance(v, int)}
        counts |= {f"reason_{reason}": n for reason, n in sorted(self.reasons.items())}
        return counts | {f"failed_{why}": n for why, n in sorted(self.failed_requests.items())}


def validate_instance(url: str) -> str:
    """An instance's base URL, normalized; raises SettingError for anything else."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise SettingError(
            f"Nitter instance {url!r} is not an http(s) URL: give its base URL, e.g. "
            "http://127.0.0.1:8080"
        )
    if parts.username or parts.password or parts.query or parts.fragment:
        raise SettingError(
            f"Nitter instance {url!r} carries credentials, a query or a fragment: give only "
            "scheme, host, port and an optional path prefix"
        )
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class _NoCookies(DefaultCookiePolicy):
    def set_ok(self, cookie, request) -> bool:  # noqa: ANN001 - the stdlib's signature
        return False

    def return_ok(self, cookie, request) -> bool:  # noqa: ANN001
        return False


class TwitterExtractor:
    """Finds tweet links in messages and looks their tweets up on Nitter instances."""

    def __init__(
        self,
        nitter_instances: Iterable[str] = (),
        rate_limit_delay: float = 2.0,
        *,
        timeout_seconds: float = 10.0,
        time_budget_seconds: float = DEFAULT_TIME_BUDGET_SECONDS,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        backoff_base_seconds: float = BACKOFF_BASE_SECONDS,
        cache: TweetCache | None = None,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        if rate_limit_delay < 0 or timeout_seconds <= 0 or time_budget_seconds < 0:
            raise SettingError(
                "rate_limit_delay and time_budget_seconds must not be negative, "
                "timeout_seconds must be positive"
            )
        if max_attempts < 1 or max_response_bytes < 1:
            raise SettingError("max_attempts and max_response_bytes must be at least 1")
        bases = [validate_instance(url) for url in nitter_instances if url and url.strip()]
        self.instances = [_Instance(base) for base in dict.fromkeys(bases)]
        self.rate_limit_delay = rate_limit_delay
        self.time_budget_seconds = time_budget_seconds
        self.max_attempts = max_attempts
        self.max_response_bytes = max_response_bytes
        self.timeout_seconds = timeout_seconds
        self.backoff_base_seconds = backoff_base_seconds
        self.cache = cache if cache is not None else TweetCache(None)
        self.stats = EnrichmentStats()
        self._clock, self._sleep = clock, sleep
        self._rng = rng or random.Random()
        self._started = clock()
        self._client = (
            httpx.Client(
                timeout=httpx.Timeout(timeout_seconds),
                headers=_HEADERS,
                cookies=CookieJar(policy=_NoCookies()),
                follow_redirects=False,
                trust_env=False,
                transport=transport if transport is not None else DeadlineTransport(),
            )
            if self.instances
            else None
        )

    # -- lifecycle -----------------------------------------------------------------------

    def close(self) -> None:
        if self._client is not None:
            self._client.close()

    def __enter__(self) -> TwitterExtractor:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # -- one tweet -----------------------------------------------------------------------

    def fetch_tweet(self, tweet_id: str) -> TweetResult:
        """The tweet from the cache, else from the instances (see the module docstring)."""
        tweet_id = str(tweet_id)
        result = self._fetch(tweet_id)
        self._count(result)
        return result

    def _fetch(self, tweet_id: str) -> TweetResult:
        if not _TWEET_ID.fullmatch(tweet_id):
            return TweetResult(tweet_id, TweetStatus.NOT_FOUND, PageReason.INVALID_ID.value)
        known = self.cache.get(tweet_id)
        if known is not None and known.status is CacheStatus.RESOLVED:
            tweet = ParsedTweet(
                known.text or "",
                known.author or "",
                known.date,
                known.quoted_text,
                known.quoted_author,
            )
            return TweetResult(tweet_id, TweetStatus.RESOLVED, None, tweet, from_cache=True)
        if known is not None and known.status is CacheStatus.NOT_FOUND:
            return TweetResult(tweet_id, TweetStatus.NOT_FOUND, known.reason, from_cache=True)
        if self._client is None:
            return TweetResult(tweet_id, TweetStatus.UNRESOLVED, DISABLED)
        if not self.cache.should_fetch(tweet_id):
            return TweetResult(tweet_id, TweetStatus.UNRESOLVED, RETRY_LATER, from_cache=True)
        if self._budget_left() <= 0:
            return TweetResult(tweet_id, TweetStatus.UNRESOLVED, BUDGET)
        return self._lookup(tweet_id)

    def _lookup(self, tweet_id: str) -> TweetResult:
        reason, retry_after = INSTANCES_RESTING, None
        for instance in self._by_health():
            attempt = self._try_instance(instance, tweet_id)
            if attempt.result is not None:
                return attempt.result
            reason, retry_after = attempt.reason or HTTP_ERROR, attempt.retry_after
            if reason == BUDGET:
                return TweetResult(tweet_id, TweetStatus.UNRESOLVED, BUDGET)
        wall_retry = time.time() + retry_after if retry_after is not None else None
        self.cache.put_failure(tweet_id, reason, wall_retry)
        return TweetResult(tweet_id, TweetStatus.UNRESOLVED, reason)

    def _by_health(self) -> list[_Instance]:
        now = self._clock()
        ready = [i for i in self.instances if not i.resting(now)]
        return sorted(ready, key=lambda i: (i.failures_in_a_row, i.next_request_at))

    def _try_instance(self, instance: _Instance, tweet_id: str) -> _Attempt:
        """Up to max_attempts requests to one instance: a transient failure is retried after
        its Retry-After (when the instance gives a short one) or an exponential backoff with
        full jitter; anything else, or a long Retry-After, moves on to the next instance."""
        attempt = _Attempt(reason=HTTP_ERROR)
        for number in range(self.max_attempts):
            if number and attempt.retry_after is None:
                ceiling = min(BACKOFF_CAP_SECONDS, self.backoff_base_seconds * 2 ** (number - 1))
                if not self._wait(self._rng.uniform(0, ceiling)):
                    return _Attempt(reason=BUDGET)
            if not self._wait_for(instance):
                return _Attempt(reason=BUDGET)
            attempt = self._request(instance, tweet_id)
            if attempt.result is not None:
                instance.failures_in_a_row = 0
                instance.rests = 0
                return attempt
            self.stats.failed_requests[attempt.reason or HTTP_ERROR] += 1
            if attempt.reason == BUDGET:
                return attempt  # the run's time is up, through no fault of the instance
            if attempt.retry_after is not None:
                retry = min(attempt.retry_after, MAX_RETRY_AFTER_SECONDS)
                instance.next_request_at = max(instance.next_request_at, self._clock() + retry)
                if retry > BACKOFF_CAP_SECONDS:
                    break  # come back much later: another instance may answer now
            if not attempt.transient:
                break
        self._failed(instance)
        return attempt

    def _failed(self, instance: _Instance) -> None:
        instance.failures_in_a_row += 1
        if instance.failures_in_a_row >= REST_AFTER_FAILURES:
            rest = min(REST_CAP_SECONDS, REST_BASE_SECONDS * 2**instance.rests)
            instance.rested_until = self._clock() + rest
            instance.rests += 1
            instance.failures_in_a_row = 0

    def _request(self, instance: _Instance, tweet_id: str) -> _Attempt:
        assert self._client is not None
        url = f"{instance.base}/i/status/{tweet_id}"
        seconds = min(self.timeout_seconds, self._budget_left())
        self.stats.requests += 1
        instance.next_request_at = self._clock() + self.rate_limit_delay
        try:
            with request_deadline(seconds), self._client.stream("GET", url) as response:
                status, headers = response.status_code, response.headers
                # Only a page is read: a redirect, 429 or 5xx is told by its status line.
                page = read_body(response, self.max_response_bytes) if status in (200, 404) else b""
        except httpx.TimeoutException:
            if self._budget_left() <= 0:  # the request was cut by the run's budget
                return _Attempt(reason=BUDGET)
            return _Attempt(reason=TIMEOUT, transient=True)
        except httpx.TransportError:
            return _Attempt(reason=CONNECT_ERROR, transient=True)
        except NitterReplyError as error:
            return _Attempt(reason=error.reason)
        finally:
            self._client.cookies.clear()
        if 300 <= status < 400:
            return _Attempt(reason=REDIRECT)
        retry_after = _retry_after_seconds(headers.get("retry-after"))
        if status == 429:
            return _Attempt(reason=RATE_LIMITED, retry_after=retry_after, transient=True)
        if status >= 500:
            return _Attempt(reason=SERVER_ERROR, retry_after=retry_after, transient=True)
        if status not in (200, 404):
            return _Attempt(reason=HTTP_ERROR)
        return self._classify(tweet_id, page.decode("utf-8", errors="replace"), retry_after)

    def _classify(self, tweet_id: str, page: str, retry_after: float | None) -> _Attempt:
        parsed = parse_status_page(page, tweet_id)
        if parsed.kind is PageKind.TWEET and parsed.tweet is not None:
            self.cache.put_resolved(tweet_id, parsed.tweet)
            return _Attempt(TweetResult(tweet_id, TweetStatus.RESOLVED, None, parsed.tweet))
        reason = parsed.reason.value if parsed.reason is not None else HTTP_ERROR
        if parsed.kind is PageKind.NOT_FOUND:
            self.cache.put_not_found(tweet_id, reason)
            return _Attempt(TweetResult(tweet_id, TweetStatus.NOT_FOUND, reason))
        if parsed.kind is PageKind.ERROR_PANEL:
            return _Attempt(reason=reason, retry_after=retry_after, transient=True)
        if parsed.kind is PageKind.CHALLENGE:
            return _Attempt(reason=f"challenge_{reason}")
        return _Attempt(reason=f"unknown_layout_{reason}")

    # -- time ----------------------------------------------------------------------------

    def _budget_left(self) -> float:
        return self.time_budget_seconds - (self._clock() - self._started)

    def _wait(self, seconds: float) -> bool:
        """Sleep `seconds` unless that would spend the budget (then False, no sleep)."""
        if seconds <= 0:
            return self._budget_left() > 0
        if seconds >= self._budget_left():
            return False
        self._sleep(seconds)
        return True

    def _wait_for(self, instance: _Instance) -> bool:
        return self._wait(instance.next_request_at - self._clock())

    def _count(self, result: TweetResult) -> None:
        stats = self.stats
        stats.from_cache += result.from_cache
        if result.status is TweetStatus.RESOLVED:
            stats.resolved += 1
        elif result.status is TweetStatus.NOT_FOUND:
            stats.not_found += 1
            stats.reasons[result.reason or "not_found"] += 1
        else:
            stats.unresolved += 1
            stats.reasons[result.reason or HTTP_ERROR] += 1

    # -- a windows frame -----------------------------------------------------------------

    def enhance_conversations(self, windows: pd.DataFrame) -> pd.DataFrame:
        """Windowed messages plus, per message: `tweet_ids` (list), `tweet_status`
        (LinkStatus, None without a link), `tweet_text`, `tweet_author`,
        `tweet_quoted_text` (resolved tweets' fields, one line per tweet), `tweet_date`
        (the first linked tweet's time, from its id: no request) and `tco_links`."""
        bodies = windows["body"].tolist()
        hosts = [i.base for i in self.instances]
        references = find_twitter_references_many(bodies, extra_hosts=hosts)
        results: dict[str, TweetResult] = {}
        for refs in references:
            for ref in refs:
                if ref.tweet_id not in results:
                    results[ref.tweet_id] = self.fetch_tweet(ref.tweet_id)
        stats = self.stats
        stats.messages_with_links = sum(1 for refs in references if refs)
        stats.links_found = sum(len(refs) for refs in references)
        stats.distinct_tweets = len(results)
        tco = count_tco_links_many(bodies)
        stats.tco_links = sum(tco)
        enriched = windows.copy()
        enriched["tweet_ids"] = [[ref.tweet_id for ref in refs] for refs in references]
        enriched["tweet_status"] = [_link_status(refs, results) for refs in references]
        for column, part in (
            (TWEET_TEXT_COLUMN, "text"),
            (TWEET_AUTHOR_COLUMN, "author"),
            (TWEET_QUOTED_TEXT_COLUMN, "quoted_text"),
        ):
            enriched[column] = [_joined(refs, results, part) for refs in references]
        enriched["tweet_date"] = pd.to_datetime(
            [tweet_date_from_id(refs[0].tweet_id) if refs else None for refs in references],
            utc=True,
        )
        enriched["tco_links"] = pd.Series(tco, index=enriched.index, dtype="int32")
        return enriched


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds from now: delta-seconds or an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment is None or moment.tzinfo is None:
        return None
    seconds = moment.timestamp() - time.time()
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _link_status(refs: list[TweetReference], results: dict[str, TweetResult]) -> str | None:
    if not refs:
        return None
    statuses = {results[ref.tweet_id].status for ref in refs}
    if statuses == {TweetStatus.RESOLVED}:
        return LinkStatus.RESOLVED.value
    if TweetStatus.RESOLVED in statuses:
        return LinkStatus.PARTIAL.value
    if statuses == {TweetStatus.NOT_FOUND}:
        return LinkStatus.NOT_FOUND.value
    return LinkStatus.UNRESOLVED.value


def _joined(refs: list[TweetReference], results: dict[str, TweetResult], part: str) -> str | None:
    values = []
    for ref in refs:
        tweet = results[ref.tweet_id].tweet
        value = getattr(tweet, part) if tweet is not None else None
        if value:
            values.append(value)
    return "\n".join(values) if values else None
