"""Signal's Backups.proto (proto2, package `signal`) built at import time, without protoc.

Field numbers follow signal-backup-format.md §4. `ReactionList` (Signal's Database.proto)
decodes the pre-v121 `reactions` BLOB column of sms/mms rows.
"""

from __future__ import annotations

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
_TYPES = {
    "string": _F.TYPE_STRING,
    "bytes": _F.TYPE_BYTES,
    "bool": _F.TYPE_BOOL,
    "uint64": _F.TYPE_UINT64,
    "uint32": _F.TYPE_UINT32,
    "int64": _F.TYPE_INT64,
    "int32": _F.TYPE_INT32,
    "double": _F.TYPE_DOUBLE,
    "float": _F.TYPE_FLOAT,
}

# message name -> [(field name, number, type or message name, repeated)]
_MESSAGES: dict[str, list[tuple[str, int, str, bool]]] = {
    "SqlStatement.SqlParameter": [
        ("stringParamter", 1, "string", False),  # sic: Signal's spelling
        ("integerParameter", 2, "uint64", False),
        ("doubleParameter", 3, "double", False),
        ("blobParameter", 4, "bytes", False),
        ("nullparameter", 5, "bool", False),
    ],
    "SqlStatement": [
        ("statement", 1, "string", False),
        ("parameters", 2, ".signal.SqlStatement.SqlParameter", True),
    ],
    "SharedPreference": [
        ("file", 1, "string", False),
        ("key", 2, "string", False),
        ("value", 3, "string", False),
        ("booleanValue", 4, "bool", False),
        ("stringSetValue", 5, "string", True),
        ("isStringSetValue", 6, "bool", False),
    ],
    "Attachment": [
        ("rowId", 1, "uint64", False),
        ("attachmentId", 2, "uint64", False),
        ("length", 3, "uint32", False),
    ],
    "Sticker": [("rowId", 1, "uint64", False), ("length", 2, "uint32", False)],
    "Avatar": [
        ("name", 1, "string", False),
        ("recipientId", 3, "string", False),
        ("length", 2, "uint32", False),
    ],
    "DatabaseVersion": [("version", 1, "uint32", False)],
    "Header": [
        ("iv", 1, "bytes", False),
        ("salt", 2, "bytes", False),
        ("version", 3, "uint32", False),
    ],
    "KeyValue": [
        ("key", 1, "string", False),
        ("blobValue", 2, "bytes", False),
        ("booleanValue", 3, "bool", False),
        ("floatValue", 4, "float", False),
        ("integerValue", 5, "int32", False),
        ("longValue", 6, "int64", False),
        ("stringValue", 7, "string", False),
    ],
    "BackupFrame": [
        ("header", 1, ".signal.Header", False),
        ("statement", 2, ".signal.SqlStatement", False),
        ("preference", 3, ".signal.SharedPreference", False),
        ("attachment", 4, ".signal.Attachment", False),
        ("version", 5, ".signal.DatabaseVersion", False),
        ("end", 6, "bool", False),
        ("avatar", 7, ".signal.Avatar", False),
        ("sticker", 8, ".signal.Sticker", False),
        ("keyValue", 9, ".signal.KeyValue", False),
    ],
    # Wire-compatible views for the fast statement path: each SqlParameter stays raw bytes.
    "RawSqlStatement": [
        ("statement", 1, "string", False),
        ("parameters", 2, "bytes", True),
    ],
    "RawBackupFrame": [
        ("header", 1, ".signal.Header", False),
        ("statement", 2, ".signal.RawSqlStatement", False),
        ("preference", 3, ".signal.SharedPreference", False),
        ("attachment", 4, ".signal.Attachment", False),
        ("version", 5, ".signal.DatabaseVersion", False),
        ("end", 6, "bool", False),
        ("avatar", 7, ".signal.Avatar", False),
        ("sticker", 8, ".signal.Sticker", False),
        ("keyValue", 9, ".signal.KeyValue", False),
    ],
    "ReactionList.Reaction": [
        ("emoji", 1, "string", False),
        ("author", 2, "uint64", False),
        ("sentTime", 3, "uint64", False),
        ("receivedTime", 4, "uint64", False),
    ],
    "ReactionList": [("reactions", 1, ".signal.ReactionList.Reaction", True)],
}


def _add_fields(message: descriptor_pb2.DescriptorProto, name: str) -> None:
    for field_name, number, kind, repeated in _MESSAGES[name]:
        field = message.field.add(name=field_name, number=number)
        field.label = _F.LABEL_REPEATED if repeated else _F.LABEL_OPTIONAL
        if kind in _TYPES:
            field.type = _TYPES[kind]
        else:
            field.type = _F.TYPE_MESSAGE
            field.type_name = kind


def _file_descriptor() -> descriptor_pb2.FileDescriptorProto:
    proto = descriptor_pb2.FileDescriptorProto(
        name="astrabot/signal/Backups.proto", package="signal", syntax="proto2"
    )
    for name in _MESSAGES:
        outer, _, inner = name.partition(".")
        if inner:
            continue
        message = proto.message_type.add(name=outer)
        _add_fields(message, outer)
        for nested in (n for n in _MESSAGES if n.startswith(f"{outer}.")):
            _add_fields(message.nested_type.add(name=nested.partition(".")[2]), nested)
    return proto


_POOL = descriptor_pool.DescriptorPool()
_FILE = _POOL.Add(_file_descriptor())


def _message_class(full_name: str) -> type:
    return message_factory.GetMessageClass(_POOL.FindMessageTypeByName(f"signal.{full_name}"))


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
ReactionList = _message_class("ReactionList")
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
    "ReactionList",
    "SharedPreference",
    "SqlParameter",
    "SqlStatement",
    "Sticker",
]
