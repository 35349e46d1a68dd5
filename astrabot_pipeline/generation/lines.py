"""The line rules of a reply: at most `max_lines` non-blank lines, and no line identical to
the one before it.

A reply of the burst family holds one line per message of a burst, so a reply that goes on
line after line, or says the same line again ("ok / ok / ok"), is a reply no person sends.
The rules cut the text where the first of them is broken; `LineCut.ended` tells the
generation loop that nothing it could generate next would be kept, so it stops there
(compute saved, and the same text as cutting a full generation afterwards).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass


def count_lines(text: str) -> int:
    """Non-blank lines of `text` (what the cap counts; one per message of a burst)."""
    return sum(1 for line in text.split("\n") if line.strip())


def percentile_90(counts: Iterable[int]) -> int | None:
    """The 90th percentile (nearest rank) of `counts`; None when there are none."""
    ordered = sorted(counts)
    if not ordered:
        return None
    return ordered[max(0, math.ceil(0.9 * len(ordered)) - 1)]


@dataclass(frozen=True)
class LineCut:
    """The text generated so far with the line rules applied.

    `ended`: a rule was broken or the cap reached, so the reply is complete. `settled`: how
    many leading characters of `text` no later token can take back (a streaming caller
    shows only those; a line that may still turn into a repeat of the previous one waits).
    """

    text: str
    ended: bool
    settled: int


def cut_lines(text: str, max_lines: int | None, *, distinct: bool, final: bool) -> LineCut:
    """Apply the line rules to `text`. Before `final`, the last line may still grow: it is
    judged only once a newline completes it."""
    lines = text.split("\n")
    kept: list[str] = []
    previous: str | None = None
    count = 0
    for index, line in enumerate(lines):
        complete = final or index < len(lines) - 1
        content = line.strip()
        if content and complete:
            if distinct and content == previous:
                cut = "\n".join(kept).rstrip()
                return LineCut(cut, True, len(cut))
            count += 1
            if max_lines is not None and count >= max_lines:
                cut = "\n".join([*kept, line]).rstrip()
                return LineCut(cut, True, len(cut))
            previous = content
        kept.append(line)
    if final:
        return LineCut(text, False, len(text))
    partial = lines[-1].strip()
    if distinct and previous is not None and previous.startswith(partial):
        # The last line could still become the previous one: hold it and its newline.
        return LineCut(text, False, max(0, text.rfind("\n")))
    return LineCut(text, False, len(text))


__all__ = ["LineCut", "count_lines", "cut_lines", "percentile_90"]
