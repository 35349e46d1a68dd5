"""Signal's Backups.proto (proto2, package `signal`) built at import time, without protoc.

Field numbers follow docs/backup-formats.md §4.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

from astrabot_pipeline.signal.proto_builder import DynamicMessage, FieldSpec, build_messages

# message name -> fields (see proto_builder.FieldSpec)
_MESSAGES: dict[str, list[FieldSpec]] = {
    "SqlStatement.SqlParameter": [
        ("stringParamter", 1, "string", ""),  # sic: Signal's spelling
        ("integerParameter", 2, "uint64", ""),
        ("doubleParameter", 3, "double", ""),
        ("blobParameter", 4, "bytes", ""),
        ("nullparameter", 5, "bool", ""),
    ],
    "SqlStatement": [
        ("statement", 1, "string", ""),
        ("parameters", 2, "SqlStatement.SqlParameter", "repeated"),
    ],
    "SharedPreference": [
        ("file", 1, "string", ""),
        ("key", 2, "string", ""),
        ("value", 3, "string", ""),
        ("booleanValue", 4, "bool", ""),
        ("stringSetValue", 5, "string", "repeated"),
        ("isStringSetValue", 6, "bool", ""),
    ],
    "Attachment": [
        ("rowId", 1, "uint64", ""),
        ("attachmentId", 2, "uint64", ""),
        ("length", 3, "uint32", ""),
    ],
    "Sticker": [("rowId", 1, "uint64", ""), ("length", 2, "uint32", "")],
    "Avatar": [
        ("name", 1, "string", ""),
        ("recipientId", 3, "string", ""),
        ("length", 2, "uint32", ""),
    ],
    "DatabaseVersion": [("version", 1, "uint32", "")],
    "Header": [
        ("iv", 1, "bytes", ""),
        ("salt", 2, "bytes", ""),
        ("version", 3, "uint32", ""),
    ],
    "KeyValue": [
        ("key", 1, "string", ""),
        ("blobValue", 2, "bytes", ""),
        ("booleanValue", 3, "bool", ""),
        ("floatValue", 4, "float", ""),
        ("integerValue", 5, "int32", ""),
        ("longValue", 6, "int64", ""),
        ("stringValue", 7, "string", ""),
    ],
    "BackupFrame": [
        ("header", 1, "Header", ""),
        ("statement", 2, "SqlStatement", ""),
        ("preference", 3, "SharedPreference", ""),
        ("attachment", 4, "Attachment", ""),
        ("version", 5, "DatabaseVersion", ""),
        ("end", 6, "bool", ""),
        ("avatar", 7, "Avatar", ""),
        ("sticker", 8, "Sticker", ""),
        ("keyValue", 9, "KeyValue", ""),
    ],
    # Wire-compatible views for the fast statement path: each SqlParameter stays raw bytes.
    "RawSqlStatement": [
        ("statement", 1, "string", ""),
        ("parameters", 2, "bytes", "repeated"),
    ],
}


# The same frame with its statement's parameters kept as raw bytes (wire-compatible), for
# the reader's fast statement path.
_MESSAGES["RawBackupFrame"] = [
    (name, number, "RawSqlStatement" if name == "statement" else kind, label)
    for name, number, kind, label in _MESSAGES["BackupFrame"]
]

_message_class = build_messages("signal", "astrabot/signal/Backups.proto", _MESSAGES)

if TYPE_CHECKING:
    # Built at run time, so a type checker sees no fields; the aliases keep annotations
    # naming the message (see proto_builder.DynamicMessage).
    BackupFrame: TypeAlias = DynamicMessage
    Header: TypeAlias = DynamicMessage
    SqlStatement: TypeAlias = DynamicMessage
    SqlParameter: TypeAlias = DynamicMessage
    SharedPreference: TypeAlias = DynamicMessage
    Attachment: TypeAlias = DynamicMessage
    Sticker: TypeAlias = DynamicMessage
    Avatar: TypeAlias = DynamicMessage
    DatabaseVersion: TypeAlias = DynamicMessage
    KeyValue: TypeAlias = DynamicMessage
    RawBackupFrame: TypeAlias = DynamicMessage
    RawSqlStatement: TypeAlias = DynamicMessage
else:
    BackupFrame = _message_class("BackupFrame")
    Header = _message_class("Header")
    SqlStatement = _message_class("SqlStatement")
    SqlParameter = _message_class("SqlStatement.SqlParameter")
    SharedPreference = _message_class("SharedPreference")
    Attachment = _message_class("Attachment")
    Sticker = _message_class("Sticker")
    Avatar = _message_class("Avatar")
    DatabaseVersion = _message_class("DatabaseVersion")
    KeyValue = _message_class("KeyValue")
    RawBackupFrame = _message_class("RawBackupFrame")
    RawSqlStatement = _message_class("RawSqlStatement")

__all__ = [
    "Attachment",
    "Avatar",
    "BackupFrame",
    "DatabaseVersion",
    "Header",
    "KeyValue",
    "RawBackupFrame",
    "RawSqlStatement",
    "SharedPreference",
    "SqlParameter",
    "SqlStatement",
    "Sticker",
]
