"""What a legacy backup's frames say, as typed events, and the fast decoding of their SQL
parameters (the hot path of a decode: most frames are statements).

The reader turns each frame into one of these events; the replayer and the inspector
consume them. Field numbers: docs/backup-formats.md §4.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from astrabot_pipeline.signal.legacy import protos

_DOUBLE = struct.Struct("<d")
_INT64_WRAP = 1 << 64
_INT64_MAX = (1 << 63) - 1

SqlValue = str | int | float | bytes | None
BlobKind = Literal["attachment", "avatar", "sticker"]


@dataclass(frozen=True)
class BackupHeader:
    """The plaintext header: backup format version, IV and salt (kept out of repr)."""

    version: int
    iv: bytes = field(repr=False)
    salt: bytes = field(repr=False)


@dataclass(frozen=True, slots=True)
class DatabaseVersionEvent:
    version: int


@dataclass(frozen=True, slots=True)
class StatementEvent:
    """One SQL statement with its positional parameters (integers already signed)."""

    sql: str
    params: tuple[SqlValue, ...]


@dataclass(frozen=True, slots=True)
class PreferenceEvent:
    file: str
    key: str
    value: str | bool | tuple[str, ...] | None


@dataclass(frozen=True, slots=True)
class KeyValueEvent:
    key: str
    value: str | int | float | bool | bytes | None


@dataclass(frozen=True, slots=True)
class BlobEvent:
    """An attachment/avatar/sticker blob; `path` is where it was written, or None if skipped."""

    kind: BlobKind
    length: int
    row_id: int | None = None
    attachment_id: int | None = None
    name: str | None = None
    path: Path | None = None


@dataclass(frozen=True, slots=True)
class EndEvent:
    pass


FrameEvent = (
    DatabaseVersionEvent | StatementEvent | PreferenceEvent | KeyValueEvent | BlobEvent | EndEvent
)


def _signed64(value: int) -> int:
    """Signal writes Java longs into a uint64 field: map 2**64 + n back to n."""
    return value - _INT64_WRAP if value > _INT64_MAX else value


def _param_value(param: protos.SqlParameter) -> SqlValue:
    fields = param.ListFields()
    if not fields:
        return None
    descriptor, value = fields[0]
    number = descriptor.number
    if number == 2:
        return _signed64(value)
    if number == 5:
        return None
    return value


_PARAM_CACHE_MAX = 1 << 16
_PARAM_CACHE_KEY_MAX = 16
NULL_AS_NAN = float("nan")
"""A float NaN binds as SQL NULL (SQLite stores a NaN double as NULL), and unlike None
Python's sqlite3 binds it without its per-value adaptation lookup, which costs about ten
times an integer's binding: a replay that asks for it gets its NULLs as this value."""


class _ParamCache(dict[bytes, SqlValue]):
    """Values of recently seen short encoded parameters (NULL, 0, 1, flags, short strings):
    most columns of a row repeat, so most parameters are one C-level dict lookup; a miss
    decodes the parameter (`__missing__`, no exception raised) and remembers short ones."""

    def __init__(self, null: SqlValue) -> None:
        super().__init__()
        self.null = null

    def __missing__(self, raw: bytes) -> SqlValue:
        value = _decode_param(raw)
        if value is None:
            value = self.null
        if len(raw) <= _PARAM_CACHE_KEY_MAX:
            if len(self) >= _PARAM_CACHE_MAX:
                self.clear()
            self[raw] = value
        return value


# One cache per value that stands for SQL NULL (see BackupReader's `null_as_nan`).
_PARAM_CACHES = {False: _ParamCache(None), True: _ParamCache(NULL_AS_NAN)}


def _decode_param(raw: bytes) -> SqlValue:
    """The value of one encoded SqlParameter, like `_param_value` of the parsed message.

    Canonical single-field encodings (tag, one-byte length where there is one) are read
    directly; anything else (several fields, unknown fields, long lengths, invalid
    UTF-8, truncation) goes through the protobuf class, which also raises DecodeError.
    """
    size = len(raw)
    if size >= 2:
        tag = raw[0]
        if tag == 0x0A:  # stringParamter
            if raw[1] == size - 2 < 0x80:
                try:
                    return raw[2:].decode()
                except UnicodeDecodeError:
                    pass
        elif tag == 0x10:  # integerParameter: varint uint64 carrying a Java long
            if size <= 11 and raw[-1] < 0x80:
                value = shift = 0
                for byte in raw[1:-1]:
                    if byte < 0x80:
                        break
                    value |= (byte & 0x7F) << shift
                    shift += 7
                else:
                    value |= raw[-1] << shift
                    if value <= _INT64_MAX:
                        return value
                    if value < _INT64_WRAP:
                        return value - _INT64_WRAP
        elif tag == 0x19:  # doubleParameter
            if size == 9:
                return _DOUBLE.unpack_from(raw, 1)[0]
        elif tag == 0x22:  # blobParameter
            if raw[1] == size - 2 < 0x80:
                return raw[2:]
        elif tag == 0x28 and size == 2 and raw[1] < 0x80:  # nullparameter
            return None
    return _param_value(protos.SqlParameter.FromString(raw))


def _statement_event(
    statement: protos.RawSqlStatement, *, null_as_nan: bool = False
) -> StatementEvent:
    """Build the event from a statement whose parameters are still encoded bytes; with
    `null_as_nan`, NULL parameters are NULL_AS_NAN instead of None.

    Raises DecodeError for a malformed parameter, as parsing SqlStatement would.
    """
    values = map(_PARAM_CACHES[null_as_nan].__getitem__, statement.parameters)
    return StatementEvent(statement.statement, tuple(values))


def _preference_event(preference: protos.SharedPreference) -> PreferenceEvent:
    if preference.isStringSetValue:
        value: str | bool | tuple[str, ...] | None = tuple(preference.stringSetValue)
    elif preference.HasField("booleanValue"):
        value = preference.booleanValue
    elif preference.HasField("value"):
        value = preference.value
    else:
        value = None
    return PreferenceEvent(preference.file, preference.key, value)


def _key_value_event(key_value: protos.KeyValue) -> KeyValueEvent:
    values = [value for descriptor, value in key_value.ListFields() if descriptor.number != 1]
    return KeyValueEvent(key_value.key, values[0] if values else None)
