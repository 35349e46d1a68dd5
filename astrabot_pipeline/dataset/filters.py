"""Quality filters on built examples: what the owner's reply must be for the model to learn.

- link-only replies (nothing but links) are dropped: the model cannot learn a URL;
- trivial replies ("ok", "lol", "👍", and their near forms "ok!", "okkk", "ok ok",
  "hahahaha", a burst of "ok" lines) are capped per family, so the model does not learn
  that every answer is "ok": after the cap they are at most `trivial_cap` of the family;
- identical examples (same messages) are kept once per family.
Empty and attachment-only replies never become examples (the builder skips messages
without text). Counts, never text, describe what was dropped.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

import pandas as pd

_LINK = re.compile(r"(?:https?://|www\.)\S+|<URL>", re.IGNORECASE)
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Replies that carry no style of their own: acknowledgements and laughter.
TRIVIAL_REPLIES = frozenset(
    {
        "ok", "okay", "k", "kk", "okey", "yes", "yeah", "yep", "yup", "no", "nope", "sure",
        "lol", "lmao", "haha", "hahaha", "hah", "ha", "thanks", "thx", "ty", "cool", "nice",
        "np", "yw", "hm", "hmm", "ah", "oh", "mhm",
    }
)  # fmt: skip
DEFAULT_TRIVIAL_CAP = 0.05  # trivial replies may be at most this share of a family
# Laughter of any length ("hahahaha", "hehe", "looool", "lmaooo"), which a word list
# cannot enumerate.
_LAUGHTER = re.compile(r"(?:a?h+a+)+h*|(?:h+e+){2,}|l+o+l+|l+m+f*a+o+|x+d+", re.IGNORECASE)
_REPEATS = re.compile(r"(\w)\1+")


def _squeezed(word: str) -> str:
    """`word` with every run of one letter cut to one: "okkk" -> "ok", "yesss" -> "yes"."""
    return _REPEATS.sub(r"\1", word)


_TRIVIAL_SQUEEZED = frozenset(_squeezed(word) for word in TRIVIAL_REPLIES)


@dataclass
class FilterCounts:
    """How many examples each filter dropped, per family (counts only)."""

    link_only: dict[str, int] = field(default_factory=dict)
    trivial_capped: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)

    def total(self) -> int:
        return sum(
            sum(counts.values())
            for counts in (self.link_only, self.trivial_capped, self.duplicates)
        )


def _reply(messages: Iterable[Mapping[str, object]]) -> str:
    return str(list(messages)[-1]["content"])


def is_link_only(text: str) -> bool:
    return bool(_LINK.search(text)) and not _LINK.sub(" ", text).strip()


def is_trivial_word(word: str) -> bool:
    """A word from TRIVIAL_REPLIES, stretched ("okkk", "okayyy") or not, or laughter."""
    word = word.lower()
    return (
        word in TRIVIAL_REPLIES
        or _squeezed(word) in _TRIVIAL_SQUEEZED
        or bool(_LAUGHTER.fullmatch(word))
    )


def is_trivial(text: str) -> bool:
    """No words at all (emoji, punctuation), or only trivial words (`is_trivial_word`),
    on one line or several ("ok!", "ok ok", "ok\nok\nlol")."""
    return all(is_trivial_word(word) for word in _WORD.findall(text))


def opens_trivially(text: str) -> bool:
    """The reply's first word is a trivial one ("ok see you then")."""
    words = _WORD.findall(text)
    return bool(words) and is_trivial_word(words[0])


def trivial_shares(examples: pd.DataFrame) -> dict[str, dict[str, float]]:
    """Per family: the share of trivial replies, of replies opening with a trivial word, and
    of the most common first word (a number, never the word). Shares, never text."""
    shares: dict[str, dict[str, float]] = {}
    for kind, family in examples.groupby("kind", sort=True):
        replies = family["messages"].map(_reply)
        first_words = replies.map(lambda text: (_WORD.findall(text.lower()) or [""])[0])
        shares[str(kind)] = {
            "trivial": round(float(replies.map(is_trivial).mean()), 4),
            "opens_trivially": round(float(replies.map(opens_trivially).mean()), 4),
            "top_first_word": round(float(first_words.value_counts(normalize=True).iloc[0]), 4),
        }
    return shares


def _fingerprint(messages: Iterable[Mapping[str, object]]) -> str:
    plain = [{"role": m["role"], "content": m["content"]} for m in messages]
    return hashlib.sha256(json.dumps(plain, ensure_ascii=False).encode()).hexdigest()


def filter_examples(
    examples: pd.DataFrame, *, trivial_cap: float = DEFAULT_TRIVIAL_CAP, seed: int = 0
) -> tuple[pd.DataFrame, FilterCounts]:
    """Examples that pass the filters, and how many each filter dropped per family."""
    counts = FilterCounts()
    if examples.empty:
        return examples, counts
    replies = examples["messages"].map(_reply)
    link_only = replies.map(is_link_only)
    counts.link_only = _per_kind(examples[link_only])
    kept = examples[~link_only]

    duplicated = kept.assign(_fp=kept["messages"].map(_fingerprint)).duplicated(["kind", "_fp"])
    counts.duplicates = _per_kind(kept[duplicated])
    kept = kept[~duplicated]

    trivial = kept["messages"].map(_reply).map(is_trivial)
    drop = pd.Series(False, index=kept.index)
    for kind, group in kept[trivial].groupby("kind", sort=True):
        # At most `trivial_cap` of what the family keeps: t / (t + rest) <= cap.
        rest = int((kept["kind"] == kind).sum()) - len(group)
        allowed = int(trivial_cap * rest / (1 - trivial_cap)) if trivial_cap < 1 else len(group)
        if len(group) > allowed:
            # Which ones stay is decided by a seeded hash, not by position in the history.
            order = group["example_id"].map(
                lambda example_id: hashlib.sha256(f"{seed}:{example_id}".encode()).hexdigest()
            )
            drop[order.sort_values().index[allowed:]] = True
    counts.trivial_capped = _per_kind(kept[drop])
    return kept[~drop], counts


def _per_kind(frame: pd.DataFrame) -> dict[str, int]:
    return {str(kind): int(n) for kind, n in frame.groupby("kind").size().items()}


def textless_owner_messages(windows: pd.DataFrame, text_column: str = "text") -> dict[str, int]:
    """Owner messages that can never be a reply to learn: empty, or attachments only."""
    owner = windows[windows["is_outgoing"].astype(bool)]
    empty = owner[text_column].fillna("").str.strip().eq("")
    attachments = (
        owner["attachment_count"].fillna(0).astype(int) > 0
        if "attachment_count" in owner.columns
        else pd.Series(False, index=owner.index)
    )
    return {
        "empty": int((empty & ~attachments).sum()),
        "attachment_only": int((empty & attachments).sum()),
    }
