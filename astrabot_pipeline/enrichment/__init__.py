"""Tweet-link enrichment: find Twitter/X status links and resolve them through Nitter."""

from astrabot_pipeline.enrichment.cache import TweetCache
from astrabot_pipeline.enrichment.nitter import TweetResult, TweetStatus, TwitterExtractor
from astrabot_pipeline.enrichment.tweets import TweetReference, find_twitter_references

__all__ = [
    "TweetCache",
    "TweetReference",
    "TweetResult",
    "TweetStatus",
    "TwitterExtractor",
    "find_twitter_references",
]
