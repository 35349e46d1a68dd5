"""The chat records a stage trains on: their shape checked, and each fitted to the token
budget. Errors name a record's index and the problem, never its content."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from astrabot_pipeline.training.base_model import TrainingError
from astrabot_pipeline.training.token_budget import BudgetFit, fit_to_token_budget

CHAT_ROLES = frozenset({"system", "user", "assistant"})


class EmptyDatasetError(TrainingError, ValueError):
    """A stage was given no training (or no validation) examples."""


class InvalidRecordError(TrainingError, ValueError):
    """A chat record does not have the `{"messages": [{"role", "content"}, ...]}` shape."""


def record_ids(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each record's `example_id` (the dataset's), or its position where it has none."""
    return [
        str(record.get("example_id", i)) if isinstance(record, Mapping) else str(i)
        for i, record in enumerate(records)
    ]


def validate_chat_records(records: Sequence[Mapping[str, Any]], what: str) -> list[dict]:
    """Check the record shape and return plain `{"messages": [...]}` dicts.

    Errors name the record index and the problem, never the content.
    """
    if records is None or len(records) == 0:
        raise EmptyDatasetError(
            f"the {what} set is empty: build the dataset first (mixed_dataset) and check that "
            "the backup has enough conversations with the owner's replies"
        )
    clean: list[dict] = []
    for index, record in enumerate(records):
        messages = record.get("messages") if isinstance(record, Mapping) else None
        if messages is None or isinstance(messages, (str, bytes)) or len(messages) == 0:
            raise InvalidRecordError(f"{what} record {index} has no 'messages' list")
        turns = []
        for turn in messages:
            if not isinstance(turn, Mapping) or turn.get("role") not in CHAT_ROLES:
                raise InvalidRecordError(
                    f"{what} record {index}: every message needs a role in {sorted(CHAT_ROLES)}"
                )
            if not isinstance(turn.get("content"), str):
                raise InvalidRecordError(f"{what} record {index}: message content must be a string")
            turns.append({"role": turn["role"], "content": turn["content"]})
        if not any(t["role"] == "assistant" and t["content"] for t in turns):
            raise InvalidRecordError(
                f"{what} record {index} has no non-empty assistant message, so there is nothing "
                "to learn from it: drop it in the dataset stage"
            )
        clean.append({"messages": turns})
    return clean


def fit_records(records: list[dict], tokenizer, max_length: int, what: str) -> BudgetFit:
    """`records` fitted into `max_length` tokens (contexts trimmed from the left, so
    truncation never cuts a reply); `EmptyDatasetError` when not one of them fits."""
    fit = fit_to_token_budget(records, tokenizer, max_length)
    if not fit.records:
        raise EmptyDatasetError(
            f"no {what} example fits max_length={max_length} tokens even with its context "
            f"trimmed ({fit.dropped} replies alone are longer): raise max_length"
        )
    return fit
