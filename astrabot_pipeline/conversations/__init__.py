"""Conversation analytics: windows (sessions), bursts, timing, emoji, topic, tone, window
profiles and relationship dynamics."""

from astrabot_pipeline.conversations.emoji_analysis import EmojiAnalyzer, EmojiScan, split_emoji
from astrabot_pipeline.conversations.profiles import PROFILE_COLUMNS, build_window_profiles
from astrabot_pipeline.conversations.relationship import (
    LABEL_RULES,
    RELATIONSHIP_COLUMNS,
    RELATIONSHIP_LABELS,
    MissingTextColumnError,
    one_to_one_threads,
    relationship_dynamics,
)
from astrabot_pipeline.conversations.timing import (
    TIMING_COLUMNS,
    UnknownTimeZoneError,
    resolve_time_zone,
    thread_timing,
)
from astrabot_pipeline.conversations.windows import (
    WINDOW_COLUMNS,
    ConversationProcessor,
    WindowSummary,
)

__all__ = [
    "LABEL_RULES",
    "PROFILE_COLUMNS",
    "RELATIONSHIP_COLUMNS",
    "RELATIONSHIP_LABELS",
    "TIMING_COLUMNS",
    "WINDOW_COLUMNS",
    "ConversationProcessor",
    "EmojiAnalyzer",
    "EmojiScan",
    "MissingTextColumnError",
    "UnknownTimeZoneError",
    "WindowSummary",
    "build_window_profiles",
    "one_to_one_threads",
    "relationship_dynamics",
    "resolve_time_zone",
    "split_emoji",
    "thread_timing",
]
