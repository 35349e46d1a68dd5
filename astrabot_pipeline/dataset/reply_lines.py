"""The owner's burst length in lines, measured on the training split: generation caps a
reply's lines at its 90th percentile (`GenerationSettings.max_lines`), so a tuned model
writes bursts as long as the owner's usual ones, never a run of dozens of lines."""

from __future__ import annotations

import pandas as pd

from astrabot_pipeline.generation.lines import count_lines, percentile_90


def reply_line_cap(examples: pd.DataFrame) -> int | None:
    """The 90th percentile of the line count of each training example's reply (its last
    assistant message), all families together; None when the split holds no reply."""
    counts = []
    for messages in examples.loc[examples["split"] == "train", "messages"]:
        replies = [m["content"] for m in messages if m["role"] == "assistant"]
        if replies:
            counts.append(max(1, count_lines(replies[-1])))
    return percentile_90(counts)


__all__ = ["reply_line_cap"]
