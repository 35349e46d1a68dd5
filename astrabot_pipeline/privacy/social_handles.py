"""Social-media handles people trade in chat: "add me on insta @x", "my snap is x".

An "@name" alone is most often someone addressed in a group ("@Sam look"), left to the
name recognizers; it is a handle when a platform is named in the message. Without an
"@", the handle is the word right after a platform and "is"/":" ("my snap is x",
"discord: x#1234") or after "add me on <platform>"; an English or stop word there is
what the person says about the account ("my insta is private"), not a handle.
"""

from __future__ import annotations

from dataclasses import dataclass

import regex
from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.privacy.english_words import english_lexicon
from astrabot_pipeline.privacy.recognizers import SpanRecognizer

SOCIAL_HANDLE = "SOCIAL_HANDLE"
_FLAGS = regex.IGNORECASE
_PLATFORM_NAMES = (
    "insta instagram ig snap snapchat sc twitter tiktok tt discord threads telegram tg "
    "bluesky bsky mastodon twitch youtube yt reddit github linkedin"
)
PLATFORM_NAMES = tuple(_PLATFORM_NAMES.split())
# Chat types fast: a platform named with two neighbouring letters swapped ("intsa",
# "isnta", "titkok") is still named. Only names of five letters or more: no such variant
# is an English word (unit/test_social_handles.py checks each against the dictionary).
MIN_TRANSPOSED_LETTERS = 5


def transpositions(word: str) -> list[str]:
    """`word` with each pair of neighbouring, different letters swapped."""
    return [
        word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        for i in range(len(word) - 1)
        if word[i] != word[i + 1]
    ]


MISTYPED_PLATFORM_NAMES = frozenset(
    variant
    for name in PLATFORM_NAMES
    if len(name) >= MIN_TRANSPOSED_LETTERS
    for variant in transpositions(name)
)
_SPELLINGS = sorted(
    {*PLATFORM_NAMES, *MISTYPED_PLATFORM_NAMES},
    key=lambda spelling: (-len(spelling), spelling),
)
PLATFORM = "(?:" + "|".join(_SPELLINGS) + ")"
# Every handle found holds an "@" or names a platform (the prefilter condition).
PLATFORM_OR_AT = regex.compile(rf"@|\b{PLATFORM}\b", _FLAGS)
_PLATFORM_NAMED = regex.compile(rf"\b{PLATFORM}\b", _FLAGS)
# Letters, digits, dots, underscores, and hyphens inside ("@van-dijk.anna").
_HANDLE = r"[\w.][\w.\-]{0,28}[\w.](?:#[0-9]{4})?"
_AT_HANDLE = regex.compile(rf"(?<![\w@.])@{_HANDLE}", _FLAGS)
_NAMED_HANDLE = regex.compile(
    rf"\b{PLATFORM}\b(?:[ \t]+(?:handle|username|user|name|id|acc(?:ount)?|@))?"
    rf"[ \t]*(?:is|:|=|-|–)[ \t]*(?P<handle>@?{_HANDLE})"
    rf"|\badd[ \t]+me[ \t]+on[ \t]+{PLATFORM}[ \t]*:?[ \t]+(?P<handle>@?{_HANDLE})",
    _FLAGS,
)


@dataclass(frozen=True)
class HandleSpan:
    start: int
    end: int


def _is_plain_word(handle: str) -> bool:
    word = handle.lstrip("@").rstrip(".").lower()
    return word in STOP_WORDS or word in english_lexicon()


def find_handles(text: str) -> list[HandleSpan]:
    """Handles in `text` (see the module's docstring), without a sentence's final dot."""
    spans: dict[int, int] = {}
    for match in _NAMED_HANDLE.finditer(text):
        start, end = match.span("handle")
        handle = match.group("handle")
        if handle.startswith("@") or not _is_plain_word(handle):
            spans[start] = end
    if _PLATFORM_NAMED.search(text):
        for match in _AT_HANDLE.finditer(text):
            spans.setdefault(match.start(), match.end())
    return [
        HandleSpan(start, end - (len(text[start:end]) - len(text[start:end].rstrip("."))))
        for start, end in sorted(spans.items())
    ]


class SocialHandleRecognizer(SpanRecognizer):
    """A social-media handle in a message that names the platform."""

    ENTITY = SOCIAL_HANDLE
    SCORE = 0.85

    def find(self, text: str) -> list[HandleSpan]:
        return find_handles(text)
