"""Converting between example DataFrames and the chat records trainers consume."""

from __future__ import annotations

import pandas as pd


def records_from_frame(examples: pd.DataFrame) -> list[dict]:
    """`{"messages": [{"role", "content"}, ...]}` records from an examples frame.

    Parquet round-trips the `messages` column as arrays of dicts; trainers want lists.
    """
    return [
        {"messages": [{"role": m["role"], "content": m["content"]} for m in messages]}
        for messages in examples["messages"]
    ]
