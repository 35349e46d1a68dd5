"""Finding Twitter/X status links in message text, counting t.co links, dating tweet ids.

Nothing here touches the network: t.co short links are only counted (resolving one would
contact X), and a tweet's date comes from its snowflake id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from urllib.parse import urlsplit

import pyarrow as pa
import pyarrow.compute as pc

# Hosts whose /<user>/status/<id> paths are tweets: X itself (www./mobile./m.) and the
# embed-fixing mirrors, which keep X's paths.
TWITTER_HOSTS = (
    "twitter.com",
    "x.com",
    "fxtwitter.com",
    "vxtwitter.com",
    "fixupx.com",
    "fixvx.com",
)
# Any host with "nitter" in its name is taken as a Nitter instance (nitter.net, nitter.poast.org,
# my-nitter.lan:8080); instances named otherwise come in through `extra_hosts`.
_NITTER_HOST = r"(?:[a-z0-9-]+\.)*[a-z0-9-]*nitter[a-z0-9-]*(?:\.[a-z0-9-]+)+(?::\d{1,5})?"
_TWITTER_HOST = r"(?:(?:www|mobile|m)\.)?(?:" + "|".join(map(re.escape, TWITTER_HOSTS)) + r")"

# A link starts at a scheme or where no host/path character precedes it, so "notx.com",
# "me@x.com" and "evil.com/x.com/..." are not links to x.com.
_START = r"(?:\bhttps?://|(?<![\w.@/:%+-]))"
# The largest tweet id is a signed 64-bit integer: at most 19 digits, no leading zero.
MAX_TWEET_ID = 2**63 - 1
_PATH = (
    r"/(?:i(?:/web)?|(?P<user>[a-z0-9_]{1,15}))/status(?:es)?/"
    r"(?P<tweet_id>[1-9][0-9]{1,18})(?![\w])"
    # A query string, fragment or further path (/photo/1) belongs to the link...
    r"(?:[/?#][^\s<>\"'\u201c\u201d\u2018\u2019\u00ab\u00bb]*)?"
)
# ...but trailing sentence punctuation and closing quotes/brackets do not.
_TRAILING = ").,!?;:'\"]}>\u2019\u201d\u00bb"

_CO_TAILS = (".co/", ".CO/", ".Co/", ".cO/")  # prefilter: cheaper than lowercasing
TCO_PATTERN = re.compile(
    r"(?:\bhttps?://|(?<![\w.@/:%+-]))t\.co/[a-z0-9]{4,16}(?![a-z0-9])", re.IGNORECASE
)

# The last tweet id handed out before snowflake ids (Nov 4, 2010). Ids at or below it were
# sequential, so their bits hold no time: they get no date. Snowflake ids above it decode to at
# least 7 s after Twitter's epoch.
LAST_SEQUENTIAL_TWEET_ID = 29_700_859_247
TWITTER_EPOCH_MS = 1_288_834_974_657


@dataclass(frozen=True)
class TweetReference:
    """One status link: the URL as written (trailing punctuation dropped), the username in
    its path ("" for /i/status/<id> links) and the numeric tweet id as a string."""

    url: str
    user: str
    tweet_id: str


@lru_cache(maxsize=32)
def _status_pattern(extra_hosts: tuple[str, ...]) -> re.Pattern[str]:
    hosts = [_TWITTER_HOST, _NITTER_HOST, *(re.escape(host) for host in extra_hosts)]
    return re.compile(_START + r"(?:" + "|".join(hosts) + r")" + _PATH, re.IGNORECASE)


def _host_of(instance: str) -> str:
    """`https://nitter.example:8080/` or `nitter.example:8080` -> `nitter.example:8080`."""
    instance = instance.strip()
    netloc = urlsplit(instance if "//" in instance else f"//{instance}").netloc
    return netloc.rsplit("@", 1)[-1].lower()


def normalize_hosts(extra_hosts: Iterable[str]) -> tuple[str, ...]:
    """Configured instance URLs or hosts as the host[:port] strings links are matched on."""
    return tuple(sorted({host for host in map(_host_of, extra_hosts) if host}))


def _might_hold_status(text: str) -> bool:
    # Cheap prefilter before the regex: every status link has "status" in it.
    return "tatus" in text or "TATUS" in text


def find_twitter_references(
    text: str | None, extra_hosts: Iterable[str] = ()
) -> list[TweetReference]:
    """Every tweet status link in `text`, in order of appearance (each tweet id once).

    Recognized: twitter.com, x.com (also www./mobile./m.), fxtwitter, vxtwitter, fixupx,
    fixvx, any host with "nitter" in its name and the hosts in `extra_hosts` (configured
    instances, as URLs or host[:port]); paths /<user>/status/<id>, /<user>/statuses/<id>,
    /i/status/<id> and /i/web/status/<id>; with or without a scheme, any letter case of
    the host (the word "status" in lower or upper case).
    """
    if not isinstance(text, str) or not _might_hold_status(text):
        return []
    return _references(text, _status_pattern(normalize_hosts(extra_hosts)))


def _references(text: str, pattern: re.Pattern[str]) -> list[TweetReference]:
    seen: dict[str, TweetReference] = {}
    for match in pattern.finditer(text):
        tweet_id = match.group("tweet_id")
        if int(tweet_id) > MAX_TWEET_ID or tweet_id in seen:
            continue
        url = match.group(0).rstrip(_TRAILING)
        seen[tweet_id] = TweetReference(url, match.group("user") or "", tweet_id)
    return list(seen.values())


def find_twitter_references_many(
    texts: Iterable[str | None] | pa.Array | pa.ChunkedArray, extra_hosts: Iterable[str] = ()
) -> list[list[TweetReference]]:
    """`find_twitter_references` for each text (a list, pandas Series or arrow array).

    Only texts that pass a substring prefilter run the regex: arrow input is prefiltered
    vectorized (`match_substring`), other input with Python's `in` (converting it to arrow
    would cost more than it saves: 0.34 s per million messages).
    """
    pattern = _status_pattern(normalize_hosts(extra_hosts))
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        result: list[list[TweetReference]] = [[] for _ in range(len(texts))]
        candidates = pc.fill_null(pc.match_substring(texts, "tatus", ignore_case=True), False)
        for index in pc.indices_nonzero(candidates).to_pylist():
            text = texts[index].as_py()
            if _might_hold_status(text):
                result[index] = _references(text, pattern)
        return result
    return [
        _references(text, pattern) if isinstance(text, str) and _might_hold_status(text) else []
        for text in texts
    ]


def count_tco_links(text: str | None) -> int:
    """How many t.co short links `text` holds. They are never resolved: that contacts X."""
    if not isinstance(text, str) or not any(tail in text for tail in _CO_TAILS):
        return 0
    return sum(1 for _ in TCO_PATTERN.finditer(text))


def count_tco_links_many(texts: Iterable[str | None] | pa.Array | pa.ChunkedArray) -> list[int]:
    """`count_tco_links` for each text (a list, pandas Series or arrow array)."""
    if isinstance(texts, pa.ChunkedArray):
        texts = texts.combine_chunks()
    if isinstance(texts, pa.Array):
        counts = [0] * len(texts)
        candidates = pc.fill_null(pc.match_substring(texts, "t.co/", ignore_case=True), False)
        for index in pc.indices_nonzero(candidates).to_pylist():
            counts[index] = count_tco_links(texts[index].as_py())
        return counts
    return [count_tco_links(text) for text in texts]


def tweet_date_from_id(tweet_id: str | int, *, now: datetime | None = None) -> datetime | None:
    """When the tweet was posted (UTC, millisecond precision), read from its snowflake id.

    None for ids from before snowflakes (<= LAST_SEQUENTIAL_TWEET_ID, before Nov 2010: their
    bits hold no time), for ids that are not 64-bit integers, and for ids that would date
    more than a day after `now` (absurd values).
    """
    try:
        value = int(tweet_id)
    except (TypeError, ValueError):
        return None
    if value <= LAST_SEQUENTIAL_TWEET_ID or value > MAX_TWEET_ID:
        return None
    date = datetime.fromtimestamp(((value >> 22) + TWITTER_EPOCH_MS) / 1000, tz=UTC)
    if date > (now or datetime.now(UTC)) + timedelta(days=1):
        return None
    return date
