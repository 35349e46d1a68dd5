"""One reply's text as its tokens arrive: stop tokens, stop strings and the line rules.

A `ReplyText` collects a row's new tokens, decides when the row is finished, and hands
each piece of settled text to `on_text` (what a terminal or a streamed response shows),
so that what was shown is always a prefix of the final text. The text is decoded only
when something needs it (a stop string, a streaming caller, a token with a newline for
the line rules), which keeps batched generation as fast as without the rules.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from astrabot_pipeline.generation.lines import cut_lines
from astrabot_pipeline.generation.settings import GenerationSettings

FINISH_STOP, FINISH_LENGTH, FINISH_CANCELLED = "stop", "length", "cancelled"

TextCallback = Callable[[str], None]


@dataclass(frozen=True)
class Completion:
    """A generated reply: its text (rules applied, surrounding whitespace stripped), every
    new token generated (`token_ids`, a stop token included), those before the stop token
    (`reply_token_ids`), why it ended (`FINISH_*`) and whether a line rule ended it."""

    text: str = field(repr=False)
    token_ids: list[int] = field(repr=False)
    reply_token_ids: list[int] = field(repr=False)
    finish_reason: str
    line_rule_ended: bool = False


def _held_back(text: str, stops: Sequence[str]) -> int:
    """How many trailing characters of `text` could still become a stop string."""
    keep = 0
    for stop in stops:
        for size in range(min(len(stop) - 1, len(text)), keep, -1):
            if text.endswith(stop[:size]):
                keep = size
                break
    return keep


class TokenPieces:
    """Each token id's own decoded text, cached (to tell which tokens hold a newline)."""

    def __init__(self, tokenizer) -> None:
        self.tokenizer = tokenizer
        self.newline: dict[int, bool] = {}

    def has_newline(self, token: int) -> bool:
        known = self.newline.get(token)
        if known is None:
            known = "\n" in self.tokenizer.decode([token], skip_special_tokens=True)
            self.newline[token] = known
        return known


def decode_text(tokenizer, ids: Sequence[int]) -> str:
    """Token ids as text, special tokens dropped (the one decoding every path uses)."""
    return tokenizer.decode(list(ids), skip_special_tokens=True, clean_up_tokenization_spaces=False)


class ReplyText:
    """The text of one row being generated, and whether it is finished."""

    def __init__(
        self,
        tokenizer,
        settings: GenerationSettings,
        stop_ids: Sequence[int],
        pieces: TokenPieces,
        on_text: TextCallback | None = None,
    ) -> None:
        self.tokenizer = tokenizer
        self.settings = settings
        self.stop_ids = set(stop_ids)
        self.pieces = pieces
        self.on_text = on_text
        self.generated: list[int] = []
        self.kept: list[int] = []
        self.text = ""
        self.emitted = 0
        self.finish_reason: str | None = None
        self.line_rule_ended = False
        self.watch_text = bool(settings.stop) or on_text is not None

    @property
    def finished(self) -> bool:
        return self.finish_reason is not None

    def add(self, token: int) -> bool:
        """Take the row's next token; True when the row is finished."""
        self.generated.append(token)
        if token in self.stop_ids:
            self.finish_reason = FINISH_STOP
            return True
        self.kept.append(token)
        if self.watch_text or (self.settings.shapes_lines and self.pieces.has_newline(token)):
            self._advance(final=False)
        return self.finished

    def cancel(self) -> None:
        if not self.finished:
            self.finish_reason = FINISH_CANCELLED

    def completion(self) -> Completion:
        """The finished reply (a row still open ran out of new tokens)."""
        self._advance(final=True)
        return Completion(
            text=self.text,
            token_ids=list(self.generated),
            reply_token_ids=list(self.kept),
            finish_reason=self.finish_reason or FINISH_LENGTH,
            line_rule_ended=self.line_rule_ended,
        )

    def _advance(self, *, final: bool) -> None:
        text = decode_text(self.tokenizer, self.kept)
        ended = False
        stops = self.settings.stop
        cut = min((i for i in (text.find(s) for s in stops) if i >= 0), default=-1)
        if cut >= 0:
            text, ended = text[:cut], True
        lines = cut_lines(
            text,
            self.settings.max_lines,
            distinct=self.settings.distinct_lines,
            final=final or ended,
        )
        if lines.ended and not ended:
            self.line_rule_ended = True
        ended = ended or lines.ended
        text = lines.text.lstrip()
        settled = lines.settled - (len(lines.text) - len(text))
        if final or ended:
            text = text.rstrip()
            settled = len(text)
        else:
            if text.endswith("\ufffd"):  # a character split across tokens: wait for the rest
                settled = min(settled, len(text) - 1)
            settled = min(settled, len(text) - _held_back(text, stops), len(text.rstrip()))
        self.text = text
        if ended and not self.finished:
            self.finish_reason = FINISH_STOP
        if settled > self.emitted:
            piece, self.emitted = text[self.emitted : settled], settled
            if self.on_text is not None:
                self.on_text(piece)


__all__ = [
    "FINISH_CANCELLED",
    "FINISH_LENGTH",
    "FINISH_STOP",
    "Completion",
    "ReplyText",
    "TextCallback",
    "TokenPieces",
    "decode_text",
]
