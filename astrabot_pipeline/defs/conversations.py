"""[conversations] Messages grouped into conversation windows with timing and emoji features;
then, on anonymized windows only, a profile per window (topic, tone, timing) and the
relationship dynamics of each thread."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.conversations import ConversationProcessor, relationship
from astrabot_pipeline.conversations.addressing import with_mentioned_ids
from astrabot_pipeline.conversations.profiles import (
    build_window_profiles,
    label_counts,
    profile_distributions,
)
from astrabot_pipeline.conversations.tone import TONE_LABELS
from astrabot_pipeline.conversations.topic import TOPIC_LABELS
from astrabot_pipeline.conversations.windows import (
    DEFAULT_BURST_GAP_SECONDS,
    DEFAULT_MAX_WINDOW_MESSAGES,
    DEFAULT_MAX_WINDOW_MINUTES,
    DEFAULT_MIN_MESSAGES_PER_WINDOW,
    DEFAULT_WINDOW_SIZE_MINUTES,
)
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources.analytics import ConversationAnalyticsResource
from astrabot_pipeline.signal.tables import owner_ids


class WindowConfig(dg.Config):
    window_size_minutes: int = DEFAULT_WINDOW_SIZE_MINUTES
    min_messages_per_window: int = DEFAULT_MIN_MESSAGES_PER_WINDOW
    max_window_minutes: int = DEFAULT_MAX_WINDOW_MINUTES
    burst_gap_seconds: int = DEFAULT_BURST_GAP_SECONDS
    max_window_messages: int = DEFAULT_MAX_WINDOW_MESSAGES


@dg.asset(
    group_name="conversations",
    kinds={"pandas", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("windows_respect_gap_and_minimum", asset="conversation_windows")
    ],
)
@redact_failures
def conversation_windows(config: WindowConfig, decoded_backup: dict[str, pd.DataFrame]):
    """Per-thread sessions split at inactivity gaps, with bursts, reply timing and emoji counts."""
    processor = ConversationProcessor(
        window_size_minutes=config.window_size_minutes,
        min_messages_per_window=config.min_messages_per_window,
        max_window_minutes=config.max_window_minutes,
        burst_gap_seconds=config.burst_gap_seconds,
        max_window_messages=config.max_window_messages,
    )
    messages = decoded_backup["messages"]
    # Whose reactions are the owner's; none named: the sender of outgoing messages.
    owners = owner_ids(decoded_backup.get("recipients"))
    windows = processor.create_conversation_windows(
        messages, reactions=decoded_backup.get("reactions"), owner_id=owners[0] if owners else None
    )
    windows = with_mentioned_ids(windows, decoded_backup.get("mentions"))
    summary = processor.summarize(messages, windows)
    yield dg.Output(windows, metadata=summary.to_metadata())
    max_gap = windows["gap_seconds"].max() if len(windows) else 0.0
    smallest = windows["window_message_count"].min() if len(windows) else 0
    yield dg.AssetCheckResult(
        check_name="windows_respect_gap_and_minimum",
        passed=bool(
            len(windows) > 0
            and (pd.isna(max_gap) or max_gap <= config.window_size_minutes * 60)
            and smallest >= config.min_messages_per_window
        ),
        metadata={"largest_gap_seconds": float(max_gap or 0), "smallest_window": int(smallest)},
    )


def _label_table(counts: dict[str, int], heading: str) -> str:
    """Counts and shares per label as a Markdown table (labels come from fixed sets)."""
    total = sum(counts.values()) or 1
    rows = [f"| {label} | {n} | {n / total:.1%} |" for label, n in counts.items()]
    return "\n".join([f"| {heading} | count | share |", "|---|---:|---:|", *rows])


def _quantiles(column: pd.Series) -> dict[str, float]:
    values = pd.to_numeric(column, errors="coerce").dropna()
    if values.empty:
        return {}
    return {"median": float(values.median()), "p90": float(values.quantile(0.9))}


@dg.asset(
    group_name="conversations",
    kinds={"pandas", "parquet"},
    check_specs=[dg.AssetCheckSpec("one_profile_per_window", asset="window_profiles")],
)
@redact_failures
def window_profiles(analytics: ConversationAnalyticsResource, anonymized_windows: pd.DataFrame):
    """One row per anonymized window: size, span, participants, timing summary in the
    configured time zone, and its topic and tone labels (from fixed label sets, measured
    on anonymized text only)."""
    profiles = build_window_profiles(
        anonymized_windows, time_zone=analytics.time_zone, text_column="text"
    )
    distributions = profile_distributions(profiles)
    metadata: dict[str, dg.MetadataValue | float] = {
        "windows": len(profiles),
        "topics": dg.MetadataValue.md(_label_table(distributions["topic"], "topic")),
        "tones": dg.MetadataValue.md(_label_table(distributions["tone"], "tone")),
        **{f"topic_{label}": n for label, n in distributions["topic"].items()},
        **{f"tone_{label}": n for label, n in distributions["tone"].items()},
        **{f"messages_per_window_{k}": v for k, v in _quantiles(profiles["messages"]).items()},
        **{f"span_seconds_{k}": v for k, v in _quantiles(profiles["span_seconds"]).items()},
        "mean_tone_score": float(profiles["tone_score"].mean()) if len(profiles) else 0.0,
    }
    yield dg.Output(profiles, metadata=metadata)
    expected = set(anonymized_windows["window_id"].astype(str))
    profiled = profiles["window_id"].astype(str)
    unknown_topics = int((~profiles["topic"].isin(TOPIC_LABELS)).sum())
    unknown_tones = int((~profiles["tone"].isin(TONE_LABELS)).sum())
    yield dg.AssetCheckResult(
        check_name="one_profile_per_window",
        passed=bool(
            set(profiled) == expected
            and not profiled.duplicated().any()
            and unknown_topics == 0
            and unknown_tones == 0
            and profiles["tone_score"].between(-1, 1).all()
        ),
        metadata={
            "windows_without_profile": len(expected - set(profiled)),
            "duplicate_profiles": int(profiled.duplicated().sum()),
            "labels_outside_taxonomy": unknown_topics + unknown_tones,
        },
    )


@dg.asset(
    group_name="conversations",
    kinds={"pandas", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("one_row_per_thread_with_known_label", asset="relationship_dynamics")
    ],
)
@redact_failures
def relationship_dynamics(
    analytics: ConversationAnalyticsResource,
    anonymized_windows: pd.DataFrame,
    window_profiles: pd.DataFrame,
):
    """One row per in-scope thread: timing (reply latency per direction, hour and weekday
    profiles, initiation, double texts, burstiness), balance and reciprocity, emoji and
    reactions, the dominant topic and mean tone, and a relationship label from documented
    thresholds (see the relationship module)."""
    dynamics = relationship.relationship_dynamics(
        anonymized_windows, window_profiles, time_zone=analytics.time_zone, text_column="text"
    )
    labels = label_counts(dynamics["label"], relationship.RELATIONSHIP_LABELS)
    metadata: dict[str, dg.MetadataValue | float] = {
        "threads": len(dynamics),
        "labels": dg.MetadataValue.md(_label_table(labels, "relationship")),
        **{f"label_{label}": n for label, n in labels.items()},
    }
    for column in (
        "owner_reply_median_seconds",
        "contact_reply_median_seconds",
        "reply_reciprocity",
        "owner_initiation_share",
        "burstiness",
        "emoji_reciprocity",
    ):
        metadata.update({f"{column}_{k}": v for k, v in _quantiles(dynamics[column]).items()})
    yield dg.Output(dynamics, metadata=metadata)
    threads = set(anonymized_windows["thread_id"].astype("int64"))
    rows = dynamics["thread_id"].astype("int64")
    unknown = int((~dynamics["label"].isin(relationship.RELATIONSHIP_LABELS)).sum())
    yield dg.AssetCheckResult(
        check_name="one_row_per_thread_with_known_label",
        passed=bool(set(rows) == threads and not rows.duplicated().any() and unknown == 0),
        metadata={
            "threads_without_row": len(threads - set(rows)),
            "duplicate_rows": int(rows.duplicated().sum()),
            "labels_outside_set": unknown,
        },
    )
