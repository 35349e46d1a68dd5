"""Tweet-link enrichment: find Twitter/X status links and resolve them through Nitter."""

from astrabot_pipeline.enrichment.cache import CachedTweet, CacheStatus, TweetCache
from astrabot_pipeline.enrichment.nitter import (
    LinkStatus,
    TweetResult,
    TweetStatus,
    TwitterExtractor,
)
from astrabot_pipeline.enrichment.parser import (
    PageKind,
    PageReason,
    ParsedPage,
    ParsedTweet,
    parse_status_page,
)
from astrabot_pipeline.enrichment.tweets import (
    TweetReference,
    count_tco_links,
    find_twitter_references,
    find_twitter_references_many,
    tweet_date_from_id,
)

__all__ = [
    "CacheStatus",
    "CachedTweet",
    "LinkStatus",
    "PageKind",
    "PageReason",
    "ParsedPage",
    "ParsedTweet",
    "TweetCache",
    "TweetReference",
    "TweetResult",
    "TweetStatus",
    "TwitterExtractor",
    "count_tco_links",
    "find_twitter_references",
    "find_twitter_references_many",
    "parse_status_page",
    "tweet_date_from_id",
]
