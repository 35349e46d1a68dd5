"""Who a message is addressed to, from the history's own signals (ids only, no text).

Signal records a mention as a row of the decoded `mentions` table (message, mentioned
recipient); `with_mentioned_ids` puts the first person each message mentions beside it
as `mentioned_id`, so the dataset stage can pick the context of a reply in a busy group
from what it answers (dataset/reply_context.py) after the text has been anonymized.
"""

from __future__ import annotations

import pandas as pd

MENTIONED_COLUMN = "mentioned_id"


def with_mentioned_ids(windows: pd.DataFrame, mentions: pd.DataFrame | None) -> pd.DataFrame:
    """`windows` with `mentioned_id` (nullable int64): the recipient a message's first
    mention (lowest `start`) names, missing where it mentions no one."""
    mentioned = pd.Series(pd.NA, index=windows.index, dtype="Int64")
    if mentions is not None and len(mentions) and "message_id" in windows.columns:
        first = (
            mentions.sort_values(["message_id", "start"], kind="stable")
            .drop_duplicates("message_id")
            .set_index("message_id")["recipient_id"]
        )
        mentioned = windows["message_id"].map(first).astype("Int64")
    return windows.assign(**{MENTIONED_COLUMN: mentioned})
