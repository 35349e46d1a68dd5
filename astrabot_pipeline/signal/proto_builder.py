"""Protobuf message classes from a compact field table, built at import time without protoc.

Used for Signal's legacy Backups.proto (`signal/legacy/protos.py`) and the subset of libsignal's
backup.proto that backup v2 needs (`signal/backup_v2/frames.py`). Real protobuf parsing
(upb), proto2 semantics; fields not declared are skipped as unknown fields.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeAlias

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

_F = descriptor_pb2.FieldDescriptorProto
SCALAR_TYPES = {
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

# An instance of a class built here: its fields exist only once the descriptor is
# registered at run time, so a type checker cannot see them and attribute access on it is
# unchecked (Any). `Message` is the right annotation only where nothing but its own methods
# (SerializeToString, ListFields, ...) is used.
DynamicMessage: TypeAlias = Any

# (field name, number, scalar type or message name, label): label "" is optional,
# "repeated" is repeated, any other word names the oneof the field belongs to.
FieldSpec = tuple[str, int, str, str]


def _add_fields(
    message: descriptor_pb2.DescriptorProto, package: str, fields: Sequence[FieldSpec]
) -> None:
    oneofs: dict[str, int] = {}
    for field_name, number, kind, label in fields:
        field = message.field.add(name=field_name, number=number)
        field.label = _F.LABEL_REPEATED if label == "repeated" else _F.LABEL_OPTIONAL
        if label not in ("", "repeated"):
            if label not in oneofs:
                oneofs[label] = len(message.oneof_decl)
                message.oneof_decl.add(name=label)
            field.oneof_index = oneofs[label]
        if kind in SCALAR_TYPES:
            field.type = SCALAR_TYPES[kind]
        else:
            field.type = _F.TYPE_MESSAGE
            field.type_name = f".{package}.{kind}"


def build_messages(
    package: str, file_name: str, messages: Mapping[str, Sequence[FieldSpec]]
) -> Callable[[str], type[DynamicMessage]]:
    """Register `messages` ("Outer" or "Outer.Inner" -> fields) and return a lookup of
    message classes by that name."""
    proto = descriptor_pb2.FileDescriptorProto(name=file_name, package=package, syntax="proto2")
    for name in messages:
        if "." in name:
            continue
        message = proto.message_type.add(name=name)
        _add_fields(message, package, messages[name])
        for nested in (n for n in messages if n.startswith(f"{name}.")):
            inner = message.nested_type.add(name=nested.partition(".")[2])
            _add_fields(inner, package, messages[nested])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(proto)

    def message_class(name: str) -> type[DynamicMessage]:
        return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{package}.{name}"))

    return message_class
