"""Conversation analytics: windows (sessions), bursts, timing, emoji and relationship dynamics."""

from astrabot_pipeline.conversations.emoji_analysis import EmojiAnalyzer
from astrabot_pipeline.conversations.windows import ConversationProcessor, WindowSummary

__all__ = ["ConversationProcessor", "EmojiAnalyzer", "WindowSummary"]
