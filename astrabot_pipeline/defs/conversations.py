"""[conversations] Messages grouped into conversation windows with timing and emoji features."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.conversations import ConversationProcessor
from astrabot_pipeline.defs.errors import redact_failures


class WindowConfig(dg.Config):
    window_size_minutes: int = 30
    min_messages_per_window: int = 3
    max_window_minutes: int = 720
    burst_gap_seconds: int = 120


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
    )
    messages = decoded_backup["messages"]
    windows = processor.create_conversation_windows(messages)
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
