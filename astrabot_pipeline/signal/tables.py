"""The decoded-table data contract (docs/architecture.md §2), written down once.

Every input kind (legacy backup, backup v2, Desktop, CSV) normalizes to these tables
(`NormalizedBackup`); `conform` checks and casts a DataFrame at the edge so nothing
downstream guesses. `to_int`, `to_timestamp` and `stripped_text` read a cell the same way
for every normalizer.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd
import pyarrow as pa

from astrabot_pipeline.errors import AstrabotError

TIMESTAMP = pa.timestamp("ms", tz="UTC")

SCHEMAS: dict[str, pa.Schema] = {
    "messages": pa.schema(
        [
            pa.field("message_id", pa.int64(), nullable=False),
            pa.field("thread_id", pa.int64(), nullable=False),
            pa.field("sender_id", pa.int64(), nullable=False),
            pa.field("is_outgoing", pa.bool_(), nullable=False),
            pa.field("sent_at", TIMESTAMP, nullable=False),
            pa.field("received_at", TIMESTAMP),
            pa.field("body", pa.string()),
            pa.field("quote_message_id", pa.int64()),
            pa.field("attachment_count", pa.int32(), nullable=False),
            pa.field("edited", pa.bool_(), nullable=False),
        ]
    ),
    "recipients": pa.schema(
        [
            pa.field("recipient_id", pa.int64(), nullable=False),
            pa.field("is_self", pa.bool_(), nullable=False),
            pa.field("is_group", pa.bool_(), nullable=False),
            pa.field("display_name", pa.string()),
            pa.field("given_name", pa.string()),
            pa.field("family_name", pa.string()),
            pa.field("nickname", pa.string()),
            pa.field("e164", pa.string()),
            pa.field("email", pa.string()),
            pa.field("username", pa.string()),
            pa.field("aci", pa.string()),
            pa.field("group_title", pa.string()),
        ]
    ),
    "threads": pa.schema(
        [
            pa.field("thread_id", pa.int64(), nullable=False),
            pa.field("recipient_id", pa.int64(), nullable=False),
            pa.field("is_group", pa.bool_(), nullable=False),
            pa.field("title", pa.string()),
        ]
    ),
    "reactions": pa.schema(
        [
            pa.field("message_id", pa.int64(), nullable=False),
            pa.field("author_id", pa.int64(), nullable=False),
            pa.field("emoji", pa.string()),
            pa.field("sent_at", TIMESTAMP),
        ]
    ),
    "mentions": pa.schema(
        [
            pa.field("message_id", pa.int64(), nullable=False),
            pa.field("recipient_id", pa.int64(), nullable=False),
            pa.field("start", pa.int32(), nullable=False),
            pa.field("length", pa.int32(), nullable=False),
        ]
    ),
    "attachments": pa.schema(
        [
            pa.field("attachment_id", pa.int64(), nullable=False),
            pa.field("message_id", pa.int64(), nullable=False),
            pa.field("content_type", pa.string()),
            pa.field("file_name", pa.string()),
            pa.field("size", pa.int64()),
            pa.field("path", pa.string()),
        ]
    ),
    # Beyond the six core tables: every name form a recipient row carries (system,
    # profile, nickname, username), so the privacy stage knows all of a contact's names
    # while `recipients` keeps one display/given/family triple.
    "recipient_names": pa.schema(
        [
            pa.field("recipient_id", pa.int64(), nullable=False),
            pa.field("source", pa.string(), nullable=False),
            pa.field("name", pa.string(), nullable=False),
        ]
    ),
}

TABLE_NAMES = tuple(SCHEMAS)


# -- our side tables ------------------------------------------------------------------------
# A replayed legacy backup keeps its key-values, preferences and blob list beside Signal's
# own tables, under a prefix a backup's SQL may not create or write (sqlite_guard); the
# Android normalizer reads them back to find the owner, and Desktop's conversion writes
# the key-values it knows.
SIDE_TABLE_PREFIX = "astrabot_"
KEY_VALUE_TABLE = "astrabot_key_value"
PREFERENCE_TABLE = "astrabot_preference"
BLOB_TABLE = "astrabot_blob"

SIDE_TABLES = (
    f"CREATE TABLE {KEY_VALUE_TABLE} (key TEXT PRIMARY KEY, value, value_type TEXT NOT NULL)",
    f"CREATE TABLE {PREFERENCE_TABLE} (file TEXT NOT NULL, key TEXT NOT NULL, value, "
    "value_type TEXT NOT NULL, PRIMARY KEY (file, key))",
    f"CREATE TABLE {BLOB_TABLE} (kind TEXT NOT NULL, row_id INTEGER, attachment_id INTEGER, "
    "name TEXT, length INTEGER NOT NULL, path TEXT)",
)


class SchemaMismatchError(AstrabotError, ValueError):
    """A table does not match the data contract (missing columns or uncastable values)."""


def empty_table(name: str) -> pd.DataFrame:
    return SCHEMAS[name].empty_table().to_pandas()


def conform(name: str, frame: pd.DataFrame) -> pd.DataFrame:
    """Return `frame` with exactly the contract's columns, in order, cast to its types.

    Raises SchemaMismatchError naming the missing columns (never the values).
    """
    schema = SCHEMAS[name]
    missing = [field.name for field in schema if field.name not in frame.columns]
    if missing:
        raise SchemaMismatchError(f"table {name!r} lacks contract columns {missing}")
    selected = frame[[field.name for field in schema]]
    try:
        table = pa.Table.from_pandas(selected, schema=schema, preserve_index=False, safe=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as error:
        raise SchemaMismatchError(
            f"table {name!r} has values outside its contract types"
        ) from error
    return table.to_pandas()


@dataclass
class NormalizedBackup:
    """The contract tables, the owner's recipient id and non-fatal warnings."""

    tables: dict[str, pd.DataFrame]
    self_id: int | None
    database_version: int
    warnings: list[str] = field(default_factory=list)


# -- cell values, as every normalizer reads them -------------------------------------------


def to_int(series: pd.Series) -> pd.Series:
    """Nullable Int64 from a column SQLite may have filled with ints, floats or digit strings."""
    return pd.to_numeric(series, errors="coerce").round().astype("Int64")


def to_timestamp(series: pd.Series) -> pd.Series:
    """Unix milliseconds -> UTC timestamps; 0 and missing become NaT."""
    millis = to_int(series)
    millis = millis.where(millis != 0)
    return pd.to_datetime(millis, unit="ms", utc=True, errors="coerce")


def stripped_text(value: object) -> str | None:
    """Any cell or field value as stripped text; None for a missing value (None, NaN, pd.NA)
    or one that is blank. Shared by the Android, Desktop and backup-v2 normalizers."""
    if value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value)):
        return None
    text = str(value).strip()
    return text or None


def owner_ids(recipients: pd.DataFrame | None) -> list[int]:
    """The recipient ids the backup marks as its owner (`is_self`), in table order: one in
    a well-formed backup; none when the table or its columns are missing."""
    if recipients is None or not {"is_self", "recipient_id"} <= set(recipients.columns):
        return []
    owner = recipients["is_self"].fillna(False).astype(bool)
    return [int(recipient_id) for recipient_id in recipients.loc[owner, "recipient_id"]]
