"""[enrichment] Tweet links in the windows, resolved through Nitter when instances are configured."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources import AstrabotPathsResource, NitterResource
from astrabot_pipeline.enrichment import TweetCache, TwitterExtractor


@dg.asset(
    group_name="enrichment",
    kinds={"python", "parquet"},
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
    """Windows plus tweet_ids / tweet_status / tweet_text; unresolved when no instance answers."""
    cache = TweetCache(paths.sub("cache", "tweets.json"))
    with TwitterExtractor(
        nitter.instances,
        nitter.rate_limit_delay,
        timeout_seconds=nitter.timeout_seconds,
        cache=cache,
    ) as extractor:
        enriched = extractor.enhance_conversations(conversation_windows)
        requests = extractor.requests_made
    with_links = enriched[enriched["tweet_ids"].map(len) > 0]
    statuses = with_links["tweet_status"].value_counts().to_dict()
    if not nitter.instances:
        context.log.info("no Nitter instance configured: tweet links are kept as unresolved")
    yield dg.Output(
        enriched,
        metadata={
            "messages_with_tweet_links": len(with_links),
            "nitter_instances": len(nitter.instances),
            "nitter_requests": requests,
            **{f"status_{status}": int(count) for status, count in statuses.items()},
        },
    )
    yield dg.AssetCheckResult(
        check_name="every_tweet_link_has_a_status",
        passed=bool(with_links["tweet_status"].notna().all()),
        metadata={"messages_with_tweet_links": len(with_links)},
    )
