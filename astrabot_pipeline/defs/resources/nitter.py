"""Settings of the tweet enrichment through Nitter."""

import dagster as dg


class NitterResource(dg.ConfigurableResource):
    """Tweet enrichment through Nitter: off, and nothing contacted, unless `enabled` and
    instances are given (from ASTRABOT_NITTER_ENABLED / ASTRABOT_NITTER_INSTANCES, or this
    resource's config in the launchpad)."""

    enabled: bool = False
    instances: list[str] = []  # base URLs, e.g. ["http://127.0.0.1:8080"] (self-hosted)
    rate_limit_delay: float = 2.0  # seconds between two requests to one host
    timeout_seconds: float = 10.0  # the most one request takes: connect, headers and body
    time_budget_seconds: float = 600.0  # the rest stays unresolved after this, per run
