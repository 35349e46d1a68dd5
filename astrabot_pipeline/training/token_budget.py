"""Fit chat records into a token budget by trimming their context from the left.

Trainers truncate a too-long tokenized example at its end (TRL keeps the start), which
cuts off exactly the owner's reply a dialogue example exists to teach. Here a record
over `max_length` tokens loses its oldest context turns first (the system message
stays), then leading owner turns (a dialogue opens with the user), and as a last resort
the oldest part of the one context turn left, token by token; the reply being learned
is never cut. A record whose system message and reply alone exceed the budget cannot be
fitted without cutting the reply, so it is dropped and counted.

Training and evaluation both call `fit_to_token_budget`, so the tokens a stage learns
from are the tokens the evaluation scores. Only counts leave this module, never text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

# Re-encoding a left-trimmed text can merge or split a token at the cut; a few more
# attempts (each removing what is still over) always converge in practice.
_TRIM_ATTEMPTS = 4


@dataclass(frozen=True)
class BudgetFit:
    """Records that fit the budget, and what fitting them took (counts only)."""

    records: list[dict]
    max_length: int
    trimmed: int = 0  # records that lost context turns or the start of one
    turns_dropped: int = 0  # context turns dropped over all records
    dropped: int = 0  # records whose system message and reply alone were over budget

    def counts(self) -> dict[str, int]:
        payload = asdict(self)
        del payload["records"]
        return payload


def token_length(tokenizer, messages: list[dict], chat_template: str | None) -> int:
    return len(
        tokenizer.apply_chat_template(
            messages, chat_template=chat_template, tokenize=True, return_dict=False
        )
    )


def _drop_oldest_turn(messages: list[dict]) -> list[dict] | None:
    """`messages` without its oldest context turn (and then any leading owner turns).

    None when only the system message(s), one context turn and the reply are left.
    """
    head = [m for m in messages[:1] if m["role"] == "system"]
    body = messages[len(head) : -1]
    if len(body) <= 1:
        return None
    body = body[1:]
    while len(body) > 1 and body[0]["role"] == "assistant":
        body = body[1:]
    return [*head, *body, messages[-1]]


def fit_record(
    tokenizer, messages: list[dict], max_length: int, chat_template: str | None = None
) -> tuple[list[dict] | None, int]:
    """The record's messages within `max_length` tokens, and how many turns were dropped.

    None (with the count) when even the system message, one context turn cut to nothing
    and the reply do not fit: the reply would have to be cut.
    """
    turns = len(messages)
    length = token_length(tokenizer, messages, chat_template)
    while length > max_length:
        shorter = _drop_oldest_turn(messages)
        if shorter is None:
            break
        messages = shorter
        length = token_length(tokenizer, messages, chat_template)
    dropped = turns - len(messages)
    if length <= max_length:
        return messages, dropped
    context = len(messages) - 2
    if context < 0 or messages[context]["role"] == "system":
        return None, dropped
    return _cut_context_start(tokenizer, messages, context, max_length, chat_template), dropped


def _cut_context_start(
    tokenizer, messages: list[dict], index: int, max_length: int, chat_template: str | None
) -> list[dict] | None:
    """Cut the start of `messages[index]`'s content until the record fits `max_length`."""
    for _ in range(_TRIM_ATTEMPTS):
        over = token_length(tokenizer, messages, chat_template) - max_length
        if over <= 0:
            return messages
        ids = tokenizer(messages[index]["content"], add_special_tokens=False)["input_ids"]
        if over >= len(ids):
            return None
        content = tokenizer.decode(ids[over:], skip_special_tokens=False)
        messages = [
            *messages[:index],
            {**messages[index], "content": content},
            *messages[index + 1 :],
        ]
    return messages if token_length(tokenizer, messages, chat_template) <= max_length else None


def fit_to_token_budget(
    records: Sequence[Mapping[str, Any]],
    tokenizer,
    max_length: int,
    *,
    chat_template: str | None = None,
) -> BudgetFit:
    """Every record of `{"messages": [...]}` shape within `max_length` tokens (see module doc).

    Records within the budget come back with their messages unchanged, in order; the
    rest are trimmed from the left or, when only cutting the reply would do, dropped.
    """
    kept: list[dict] = []
    trimmed = turns_dropped = dropped = 0
    for record in records:
        messages = list(record["messages"])
        fitted, turns = fit_record(tokenizer, messages, max_length, chat_template)
        if fitted is None:
            dropped += 1
        elif fitted is messages:
            kept.append(dict(record))
        else:
            trimmed += 1
            turns_dropped += turns
            kept.append({**record, "messages": fitted})
    return BudgetFit(kept, max_length, trimmed, turns_dropped, dropped)
