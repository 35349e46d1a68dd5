"""Finding Twitter/X status links in message text."""

from __future__ import annotations

import re
from dataclasses import dataclass

# twitter.com, x.com, mobile./www. variants and fxtwitter/vxtwitter mirrors, then
# /<user>/status(es)/<numeric id>, ignoring any query string or trailing path.
TWEET_URL_PATTERN = re.compile(
    r"https?://(?:www\.|mobile\.|m\.)?(?:twitter\.com|x\.com|fxtwitter\.com|vxtwitter\.com)"
    r"/(?P<user>[A-Za-z0-9_]{1,15})/status(?:es)?/(?P<tweet_id>\d{5,25})"
    r"[^\s<>\"']*",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class TweetReference:
    url: str
    user: str
    tweet_id: str


def find_twitter_references(text: str | None) -> list[TweetReference]:
    """Every tweet status link in `text`, in order of appearance (duplicates kept once)."""
    if not isinstance(text, str) or "/status" not in text:
        return []
    seen: dict[str, TweetReference] = {}
    for match in TWEET_URL_PATTERN.finditer(text):
        tweet_id = match.group("tweet_id")
        seen.setdefault(tweet_id, TweetReference(match.group(0), match.group("user"), tweet_id))
    return list(seen.values())
