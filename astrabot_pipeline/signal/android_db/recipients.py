"""Recipients of an Android-schema database: one contract row per recipient (which name is
shown, group or person) and every name form a recipient carries (`recipient_names`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import pandas as pd

from astrabot_pipeline.signal.tables import stripped_text, to_int

RECIPIENT_FIELDS = [
    "recipient_id",
    "is_self",
    "is_group",
    "display_name",
    "given_name",
    "family_name",
    "nickname",
    "e164",
    "email",
    "username",
    "aci",
    "group_title",
]

# Recipient columns that hold a person's name, by the role the name plays.
NAME_SOURCES = (
    "system_joined",
    "system_given",
    "system_family",
    "given_name",
    "family_name",
    "profile_joined",
    "nickname_joined",
    "nickname_given",
    "nickname_family",
    "username",
)


def recipient_name_forms(raw: pd.DataFrame) -> pd.DataFrame:
    """One row per (recipient, source column, name) for every non-empty name column."""
    present = [source for source in NAME_SOURCES if source in raw.columns]
    long = raw.melt(
        id_vars=["recipient_id"], value_vars=present, var_name="source", value_name="name"
    )
    long["name"] = long["name"].map(stripped_text)
    long["recipient_id"] = to_int(long["recipient_id"])
    long = long.dropna(subset=["recipient_id", "name"])
    return long.sort_values(["recipient_id", "source"]).reset_index(drop=True)


class RawRecipientRow(Protocol):
    """One `itertuples()` row of the raw recipient query (cells of any type, NaN for none)."""

    @property
    def recipient_id(self) -> object: ...
    @property
    def type(self) -> object: ...
    @property
    def group_id(self) -> object: ...
    @property
    def nickname_joined(self) -> object: ...
    @property
    def nickname_given(self) -> object: ...
    @property
    def nickname_family(self) -> object: ...
    @property
    def system_joined(self) -> object: ...
    @property
    def system_given(self) -> object: ...
    @property
    def system_family(self) -> object: ...
    @property
    def profile_joined(self) -> object: ...
    @property
    def given_name(self) -> object: ...
    @property
    def family_name(self) -> object: ...
    @property
    def e164(self) -> object: ...
    @property
    def email(self) -> object: ...
    @property
    def username(self) -> object: ...
    @property
    def aci(self) -> object: ...


def _joined(*parts: object) -> str | None:
    return stripped_text(" ".join(p for p in (stripped_text(part) for part in parts) if p))


def _first(*values: object) -> str | None:
    return next((text for text in map(stripped_text, values) if text), None)


def _int_or_none(value: Any) -> int | None:
    """`int(value)` for any cell (str, float, numpy scalar), None where int() refuses it."""
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def recipient_record(row: RawRecipientRow, titles: Mapping[int, str]) -> tuple[object, ...]:
    """One `recipients` row (is_self still False) from a raw recipient row and group titles."""
    recipient_id = _int_or_none(row.recipient_id)
    group_title = stripped_text(titles.get(recipient_id)) if recipient_id is not None else None
    is_group = bool(_int_or_none(row.type)) or stripped_text(row.group_id) is not None
    nickname = _first(row.nickname_joined, _joined(row.nickname_given, row.nickname_family))
    system_name = _first(row.system_joined, _joined(row.system_given, row.system_family))
    profile_name = _first(row.profile_joined, _joined(row.given_name, row.family_name))
    display_name = _first(
        group_title if is_group else None,
        nickname,
        system_name,
        profile_name,
        row.e164,
        row.username,
    )
    return (
        recipient_id,
        False,
        is_group,
        display_name,
        stripped_text(row.given_name),
        stripped_text(row.family_name),
        nickname,
        stripped_text(row.e164),
        stripped_text(row.email),
        stripped_text(row.username),
        stripped_text(row.aci),
        group_title,
    )
