"""Which earlier message a reply answers, where the history says so.

In a busy group chat the turns just before the owner's reply are often someone else's
side conversation. Three signals in the history name what a reply answers, tried in
this order:

1. a quote: the reply quotes an earlier message (`quote_message_id`);
2. a mention: the reply mentions someone (`mentioned_id`, from the `mentions` table), so
   it answers that person's latest message;
3. an address: the reply starts with a participant's name, "name: …", "name, …" or
   "@name …" (the pseudonym the anonymized text and `sender_pseudonym` share), so it
   answers that person's latest message.

Without any of them the context is the turns just before the reply, as in a quiet chat.
Only ids and the participants' pseudonyms are compared; nothing is logged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Line:
    """One message of a window, as the dataset builder sees it."""

    text: str  # as the example shows it (other people's lines prefixed in a group)
    is_owner: bool
    burst: object = None
    message_id: int | None = None
    sender_id: int | None = None
    sender: str | None = None  # the sender's pseudonym (None for the owner)
    quote_id: int | None = None
    mentioned_id: int | None = None
    body: str = ""  # the message text without the sender prefix


def addressed_sender(body: str, senders: Sequence[str]) -> str | None:
    """The participant `body` opens by addressing ("name: …", "name, …", "@name …")."""
    opening = body.lstrip().casefold()
    for name in sorted({s for s in senders if s}, key=len, reverse=True):
        folded = name.casefold()
        after = opening[len(folded) + 1 : len(folded) + 2]
        if opening.startswith("@" + folded) and not after.isalnum():
            return name
        if opening.startswith(folded) and opening[len(folded) : len(folded) + 1] in (":", ","):
            return name
    return None


def _latest(earlier: Sequence[Line], matches) -> int | None:
    for position in range(len(earlier) - 1, -1, -1):
        if matches(earlier[position]):
            return position
    return None


def answered_position(reply: Line, earlier: Sequence[Line]) -> int | None:
    """The index in `earlier` (the window's messages before `reply`) of the message the
    reply answers (see the module docstring), or None when the history does not say."""
    if reply.quote_id is not None:
        found = _latest(earlier, lambda line: line.message_id == reply.quote_id)
        if found is not None:
            return found
    if reply.mentioned_id is not None:
        found = _latest(
            earlier, lambda line: not line.is_owner and line.sender_id == reply.mentioned_id
        )
        if found is not None:
            return found
    name = addressed_sender(reply.body, [line.sender for line in earlier if line.sender])
    if name is not None:
        return _latest(earlier, lambda line: line.sender == name)
    return None
