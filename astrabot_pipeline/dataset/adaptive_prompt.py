"""The adaptive family's system prompt: who the owner is talking to and how they write there.

Built per window from two measured tables, never from message text: the thread's row of
`relationship_dynamics` (its relationship label, whether it is a group, how fast, how
long and how emoji-heavy the owner's replies are there) and the window's row of
`window_profiles` (its topic and tone labels). Every phrase comes from a fixed vocabulary
below, so a prompt holds no word a message contained; the only message-derived characters
are the owner's most used emoji in the thread.

The window's topic and tone are measured over the whole window, the owner's reply
included: they act as control codes ("a cheerful chat about food"), which a user can also
set when chatting with the model; they are not a prediction from the context alone.
"""

from __future__ import annotations

import math

import pandas as pd

DEFAULT_SYSTEM_PROMPT = "You are chatting with friends on Signal. Reply the way you always do."

# How the relationship labels of `relationship_dynamics` are put into words.
RELATIONSHIP_PHRASES = {
    "close_friend": "a close friend",
    "family_like": "someone as close as family",
    "coordination": "someone you mostly make plans with",
    "acquaintance": "an acquaintance",
    "group": "a group of people",
}
TOPIC_PHRASES = {
    "plans_logistics": "plans and logistics",
    "work_school": "work or school",
    "family": "family",
    "food_drink": "food and drink",
    "travel": "travel",
    "media_links": "something shared (a link, a video, a show)",
    "feelings": "how you are feeling",
    "health": "health",
    "money": "money",
    "hobbies_sport": "hobbies and sport",
    "tech": "tech",
}  # small talk (no topic signal) is left unsaid
TONE_PHRASES = {"positive": "upbeat", "negative": "tense or low", "neutral": "matter-of-fact"}

# Thresholds that turn the owner's measured habits in a thread into words.
QUICK_REPLY_SECONDS = 60  # median reply below this: "within a minute"
PROMPT_REPLY_SECONDS = 10 * 60  # below this: "within a few minutes"; above: "after a while"
SHORT_MESSAGE_CHARS = 40  # mean characters per owner message below this: "short messages"
FREQUENT_EMOJI_RATE = 0.3  # emoji per owner message at or above this: "often with emoji"
OCCASIONAL_EMOJI_RATE = 0.05  # at or above this: "sometimes with emoji"; below: "rarely"


def adaptive_prompts(dynamics: pd.DataFrame, profiles: pd.DataFrame) -> dict[str, str]:
    """The system prompt of every window in `profiles`, keyed by window id.

    A window whose thread has no row in `dynamics` gets the default prompt plus what its
    own profile says (topic, tone).
    """
    threads = {int(row.thread_id): row for row in dynamics.itertuples(index=False)}
    prompts = {}
    for window in profiles.itertuples(index=False):
        prompts[str(window.window_id)] = describe(threads.get(int(window.thread_id)), window)
    return prompts


def describe(thread, window) -> str:
    """One prompt from a thread's dynamics row and a window's profile row (either may be None)."""
    if thread is None and window is None:
        return DEFAULT_SYSTEM_PROMPT
    sentences = [_who(thread)]
    about = _about(window)
    if about:
        sentences.append(about)
    habits = _habits(thread)
    if habits:
        sentences.append(habits)
    sentences.append("Reply the way you always do.")
    return " ".join(sentences)


def _who(thread) -> str:
    if thread is None:
        return "You are chatting on Signal."
    group = bool(getattr(thread, "is_group", False))
    label = str(getattr(thread, "label", "") or "")
    if group:
        return "You are chatting in a group chat on Signal."
    person = RELATIONSHIP_PHRASES.get(label, "someone you know")
    return f"You are chatting one-to-one with {person} on Signal."


def _about(window) -> str:
    if window is None:
        return ""
    topic = TOPIC_PHRASES.get(str(getattr(window, "topic", "")))
    tone = TONE_PHRASES.get(str(getattr(window, "tone", "")))
    if topic and tone:
        return f"The conversation is about {topic}, and its mood is {tone}."
    if topic:
        return f"The conversation is about {topic}."
    if tone:
        return f"The mood of the conversation is {tone}."
    return ""


def _habits(thread) -> str:
    """ "Here you usually reply within a minute, in short messages, rarely with emoji." """
    if thread is None:
        return ""
    reply = _number(getattr(thread, "owner_reply_median_seconds", None))
    if reply is None:
        verb = "write"
    elif reply < QUICK_REPLY_SECONDS:
        verb = "reply within a minute"
    elif reply < PROMPT_REPLY_SECONDS:
        verb = "reply within a few minutes"
    else:
        verb = "reply after a while"
    parts = []
    length = _number(getattr(thread, "owner_mean_message_chars", None))
    if length is not None:
        parts.append("in short messages" if length < SHORT_MESSAGE_CHARS else "in longer messages")
    emoji_rate = _number(getattr(thread, "owner_emoji_per_message", None))
    if emoji_rate is not None:
        parts.append(_emoji_habit(emoji_rate, str(getattr(thread, "owner_top_emoji", "") or "")))
    if verb == "write":
        # "you usually write in short messages", not "write, in short messages"
        return f"Here you usually write {', '.join(parts)}." if parts else ""
    return "Here you usually " + ", ".join([verb, *parts]) + "."


def _emoji_habit(rate: float, top: str) -> str:
    if rate >= FREQUENT_EMOJI_RATE:
        return f"often with emoji ({top})" if top else "often with emoji"
    if rate >= OCCASIONAL_EMOJI_RATE:
        return "sometimes with emoji"
    return "rarely with emoji"


def _number(value) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number
