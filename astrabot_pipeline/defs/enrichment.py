"""[enrichment] Tweet links in the windows, resolved through Nitter when it is switched on."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.data_layout import CACHE, TWEET_CACHE_FILE
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources.nitter import NitterResource
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.enrichment import LinkStatus, TweetCache, TwitterExtractor


@dg.asset(
    group_name="enrichment",
    kinds={"python", "parquet", "sqlite"},
    check_specs=[
        dg.AssetCheckSpec("every_tweet_link_has_a_status", asset="nitter_enriched_windows")
    ],
)
@redact_failures
def nitter_enriched_windows(
    context: dg.AssetExecutionContext,
    conversation_windows: pd.DataFrame,
    nitter: NitterResource,
    paths: AstrabotPathsResource,
):
    """Windows plus the tweets their links point to (text, author, quoted tweet, date from
    the id) and t.co counts; links stay unresolved, with a reason, when enrichment is off
    or no instance answers."""
    instances = nitter.instances if nitter.enabled else []
    if nitter.enabled and not nitter.instances:
        context.log.warning(
            "tweet enrichment is on but no Nitter instance is configured: set "
            "ASTRABOT_NITTER_INSTANCES or the nitter resource's instances"
        )
    elif not nitter.enabled:
        context.log.info("tweet enrichment is off: links are kept, unresolved")
    with (
        TweetCache(paths.sub(CACHE, TWEET_CACHE_FILE)) as cache,
        TwitterExtractor(
            instances,
            nitter.rate_limit_delay,
            timeout_seconds=nitter.timeout_seconds,
            time_budget_seconds=nitter.time_budget_seconds,
            cache=cache,
        ) as extractor,
    ):
        enriched = extractor.enhance_conversations(conversation_windows)
        stats = extractor.stats
        cached = cache.counts()
    if cache.moved_aside:
        context.log.warning("the tweet cache was unreadable and was moved aside; started anew")
    yield dg.Output(
        enriched,
        metadata={
            "nitter_enabled": bool(instances),
            "nitter_instances": len(instances),
            **stats.to_metadata(),
            **{f"cache_{status}": count for status, count in cached.items()},
        },
    )
    with_links = enriched["tweet_ids"].map(len) > 0
    statuses = enriched.loc[with_links, "tweet_status"]
    yield dg.AssetCheckResult(
        check_name="every_tweet_link_has_a_status",
        passed=bool(statuses.isin([s.value for s in LinkStatus]).all()),
        metadata={"messages_with_tweet_links": int(with_links.sum())},
    )
