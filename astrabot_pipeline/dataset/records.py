"""Converting between example DataFrames and the chat records trainers consume."""

from __future__ import annotations

import pandas as pd


def records_from_frame(
    examples: pd.DataFrame, *, with_window: bool = False, with_id: bool = False
) -> list[dict]:
    """`{"messages": [{"role", "content"}, ...]}` records from an examples frame.

    Parquet round-trips the `messages` column as arrays of dicts; trainers want lists.
    `with_window` keeps each record's `window_id` (the evaluation's ranking draws
    distractors from other windows); `with_id` its `example_id` (training records which
    examples it consumed, for the membership audit).
    """
    windows = examples["window_id"] if with_window else [None] * len(examples)
    ids = examples["example_id"] if with_id else [None] * len(examples)
    records = []
    for messages, window, example_id in zip(examples["messages"], windows, ids, strict=True):
        record: dict = {
            "messages": [{"role": m["role"], "content": m["content"]} for m in messages]
        }
        if with_window:
            record["window_id"] = window
        if with_id:
            record["example_id"] = str(example_id)
        records.append(record)
    return records
