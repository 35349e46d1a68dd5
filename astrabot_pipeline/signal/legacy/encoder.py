"""Our own encoder of legacy Signal `.backup` files: the exact inverse of `reader`.

Used by the demo-backup generator and by round-trip tests. `BackupWriter` writes frames
one at a time (so tests can craft edge cases); `encode_sqlite_to_backup` turns a SQLite
database into a complete backup in the order Signal's exporter uses
(docs/backup-formats.md §1.5).
"""

from __future__ import annotations

import os
import re
import sqlite3
import struct
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from astrabot_pipeline.signal.legacy import protos
from astrabot_pipeline.signal.legacy.crypto import MAC_SIZE, FrameCipher, KeyRing, as_key_ring
from astrabot_pipeline.signal.legacy.events import SqlValue
from astrabot_pipeline.signal.sqlite_guard import quote_identifier
from astrabot_pipeline.signal.tables import SIDE_TABLE_PREFIX
from astrabot_pipeline.storage import atomic_output

KeyValueInput = str | int | float | bool | bytes
_U32 = struct.Struct(">I")
_INT64_MIN, _INT64_MAX = -(1 << 63), (1 << 63) - 1
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SHADOW_SUFFIXES = ("_data", "_idx", "_content", "_docsize", "_config")
ATTACHMENT_TABLES = ("attachment", "part")


def _parameter(value: SqlValue) -> protos.SqlParameter:
    """One SqlParameter; ints go in the uint64 field as two's complement, like Signal's."""
    if value is None:
        return protos.SqlParameter(nullparameter=True)
    if isinstance(value, bool | int):
        if not _INT64_MIN <= value <= _INT64_MAX:
            raise ValueError("SQLite integers must fit in a signed 64-bit integer")
        return protos.SqlParameter(integerParameter=value & 0xFFFFFFFFFFFFFFFF)
    if isinstance(value, float):
        return protos.SqlParameter(doubleParameter=value)
    if isinstance(value, str):
        return protos.SqlParameter(stringParamter=value)
    if isinstance(value, bytes | bytearray | memoryview):
        return protos.SqlParameter(blobParameter=bytes(value))
    raise TypeError(f"cannot store a {type(value).__name__} as an SQL parameter")


def _key_value(key: str, value: KeyValueInput) -> protos.KeyValue:
    if isinstance(value, bool):
        return protos.KeyValue(key=key, booleanValue=value)
    if isinstance(value, int):
        return protos.KeyValue(key=key, longValue=value)
    if isinstance(value, float):
        return protos.KeyValue(key=key, floatValue=value)
    if isinstance(value, str):
        return protos.KeyValue(key=key, stringValue=value)
    return protos.KeyValue(key=key, blobValue=bytes(value))


class BackupWriter:
    """Write a `.backup` frame by frame; call `end()` for a complete file.

    The header is written on construction. `backup_version` >= 1 encrypts frame lengths.
    Closing without `end()` leaves a backup with no End frame (a truncated one).
    """

    def __init__(
        self,
        target: str | Path | BinaryIO,
        passphrase: str | KeyRing,
        *,
        backup_version: int = 1,
        iv: bytes | None = None,
        salt: bytes | None = None,
    ) -> None:
        self.backup_version = backup_version
        self.iv = iv if iv is not None else os.urandom(16)
        self.salt = salt if salt is not None else os.urandom(32)
        keys = as_key_ring(passphrase).keys_for(self.salt)
        self._cipher = FrameCipher(keys, self.iv)
        self._owns_stream = isinstance(target, (str, os.PathLike))
        self._out: BinaryIO = (
            open(target, "wb") if isinstance(target, (str, os.PathLike)) else target  # noqa: SIM115
        )
        self.frames_written = 0
        self._write_header()

    def __repr__(self) -> str:
        return f"BackupWriter(version={self.backup_version}, frames_written={self.frames_written})"

    def __enter__(self) -> BackupWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        if self._owns_stream:
            self._out.close()

    def _write_header(self) -> None:
        header = protos.Header(iv=self.iv, salt=self.salt)
        if self.backup_version:
            header.version = self.backup_version
        raw = protos.BackupFrame(header=header).SerializeToString()
        self._out.write(_U32.pack(len(raw)) + raw)

    # -- frames -----------------------------------------------------------------------

    def write_frame(self, frame: protos.BackupFrame) -> None:
        """Encrypt and write one BackupFrame (any content: tests use this for edge cases)."""
        self.write_frame_bytes(frame.SerializeToString())

    def write_frame_bytes(self, body: bytes) -> None:
        """Encrypt and write an already serialized frame body."""
        unit = self._cipher.next_unit()
        length = _U32.pack(len(body) + MAC_SIZE)
        if self.backup_version >= 1:
            length = unit.apply(length)
            unit.mac_update(length)
        ciphertext = unit.apply(body)
        unit.mac_update(ciphertext)
        self._out.write(length + ciphertext + unit.mac())
        self.frames_written += 1

    def write_blob(self, data: bytes) -> None:
        """Encrypt one blob with the next counter; its MAC covers IV || ciphertext."""
        unit = self._cipher.next_unit()
        unit.mac_update(unit.iv)
        ciphertext = unit.apply(data)
        unit.mac_update(ciphertext)
        self._out.write(ciphertext + unit.mac())

    def write_database_version(self, version: int) -> None:
        self.write_frame(protos.BackupFrame(version=protos.DatabaseVersion(version=version)))

    def write_statement(self, sql: str, params: Sequence[SqlValue] = ()) -> None:
        statement = protos.SqlStatement(statement=sql, parameters=[_parameter(p) for p in params])
        self.write_frame(protos.BackupFrame(statement=statement))

    def write_attachment(
        self, row_id: int, data: bytes, *, attachment_id: int | None = None
    ) -> None:
        attachment = protos.Attachment(rowId=row_id, length=len(data))
        if attachment_id is not None:
            attachment.attachmentId = attachment_id
        self.write_frame(protos.BackupFrame(attachment=attachment))
        self.write_blob(data)

    def write_sticker(self, row_id: int, data: bytes) -> None:
        self.write_frame(protos.BackupFrame(sticker=protos.Sticker(rowId=row_id, length=len(data))))
        self.write_blob(data)

    def write_avatar(self, recipient_id: str, data: bytes, *, legacy_name: bool = False) -> None:
        """Avatar frame + blob; `legacy_name` uses the pre-v33 `name` field."""
        avatar = protos.Avatar(length=len(data))
        if legacy_name:
            avatar.name = recipient_id
        else:
            avatar.recipientId = recipient_id
        self.write_frame(protos.BackupFrame(avatar=avatar))
        self.write_blob(data)

    def write_key_value(self, key: str, value: KeyValueInput) -> None:
        self.write_frame(protos.BackupFrame(keyValue=_key_value(key, value)))

    def write_preference(self, file: str, key: str, value: str | bool | Sequence[str]) -> None:
        preference = protos.SharedPreference(file=file, key=key)
        if isinstance(value, bool):
            preference.booleanValue = value
        elif isinstance(value, str):
            preference.value = value
        else:
            preference.isStringSetValue = True
            preference.stringSetValue.extend(value)
        self.write_frame(protos.BackupFrame(preference=preference))

    def end(self) -> None:
        self.write_frame(protos.BackupFrame(end=True))


# -- whole databases ------------------------------------------------------------------------


def _quoted(name: str) -> str:
    return name if _PLAIN_NAME.fullmatch(name) else quote_identifier(name)


def _schema(connection: sqlite3.Connection) -> list[tuple[str, str, str]]:
    """(type, name, sql) of sqlite_master entries to export: tables first, then the rest."""
    rows = connection.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"
    ).fetchall()
    virtual = {
        name
        for kind, name, sql in rows
        if kind == "table" and sql.upper().startswith("CREATE VIRTUAL")
    }
    shadow = {f"{v}{suffix}" for v in virtual for suffix in _SHADOW_SUFFIXES}
    kept = [
        row
        for row in rows
        if row[1] not in shadow and not row[1].lower().startswith(SIDE_TABLE_PREFIX)
    ]
    order = {"table": 0, "index": 1, "view": 2, "trigger": 3}
    return sorted(kept, key=lambda row: order.get(row[0], 4))


def _data_tables(schema: Iterable[tuple[str, str, str]]) -> list[str]:
    return [
        name
        for kind, name, sql in schema
        if kind == "table"
        and not name.lower().startswith("sqlite_")
        and not sql.upper().startswith("CREATE VIRTUAL")
    ]


def _write_table(
    writer: BackupWriter,
    connection: sqlite3.Connection,
    table: str,
    attachments: Mapping[int, bytes],
    written: set[int],
) -> None:
    cursor = connection.execute(f"SELECT * FROM {_quoted(table)}")
    columns = [description[0] for description in cursor.description]
    sql = f"INSERT INTO {_quoted(table)} VALUES ({','.join('?' * len(columns))})"
    is_attachment_table = table.lower() in ATTACHMENT_TABLES and bool(attachments)
    row_index = columns.index("_id") if "_id" in columns else None
    unique_index = columns.index("unique_id") if "unique_id" in columns else None
    for row in cursor:
        writer.write_statement(sql, row)
        if is_attachment_table and row_index is not None and row[row_index] in attachments:
            row_id = row[row_index]
            unique_id = row[unique_index] if unique_index is not None else None
            writer.write_attachment(row_id, attachments[row_id], attachment_id=unique_id)
            written.add(row_id)


def encode_sqlite_to_backup(
    db_path: str | Path,
    out_path: str | Path,
    passphrase: str | KeyRing,
    *,
    backup_version: int = 1,
    iv: bytes | None = None,
    salt: bytes | None = None,
    attachments: Mapping[int, bytes] | None = None,
    key_values: Mapping[str, KeyValueInput] | None = None,
) -> Path:
    """Encode a SQLite database as a complete `.backup`, written atomically to `out_path`.

    `attachments` maps attachment/part row ids to blob bytes; each blob follows its row.
    """
    attachments = attachments or {}
    connection = sqlite3.connect(f"file:{Path(db_path).as_posix()}?mode=ro", uri=True)
    try:
        with (
            atomic_output(out_path) as temp,
            BackupWriter(
                temp, passphrase, backup_version=backup_version, iv=iv, salt=salt
            ) as writer,
        ):
            writer.write_database_version(connection.execute("PRAGMA user_version").fetchone()[0])
            schema = _schema(connection)
            for _, _, sql in schema:
                writer.write_statement(sql)
            written: set[int] = set()
            for table in _data_tables(schema):
                _write_table(writer, connection, table, attachments, written)
            if missing := set(attachments) - written:
                raise ValueError(f"{len(missing)} attachment blob(s) have no attachment/part row")
            for key, value in (key_values or {}).items():
                writer.write_key_value(key, value)
            writer.end()
    finally:
        connection.close()
    return Path(out_path)
