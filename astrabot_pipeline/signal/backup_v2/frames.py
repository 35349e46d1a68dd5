"""The subset of libsignal's backup.proto (package `signal.backup`) this decoder reads.

Built at import time without protoc, like signal/legacy/protos.py. Field numbers and names
follow libsignal `rust/message-backup/src/proto/backup.proto`; only fields the
normalizer uses are declared, so everything else (settings, enums, call details, ...)
is skipped as an unknown field, in binary and in protobuf-JSON alike. Items that are not
chat messages are declared as empty messages so that `WhichOneof` still names them.
Declared as proto2 so optional scalars (e.g. `Quote.targetSentTimestamp`) have presence;
the wire format is the same as proto3's.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError

from astrabot_pipeline.signal.backup_v2.errors import CorruptBackupV2Error
from astrabot_pipeline.signal.proto_builder import DynamicMessage, FieldSpec, build_messages

_PACKAGE = "signal.backup"
_EMPTY: list[FieldSpec] = []

# message name -> [(field name, number, scalar type or message name, "" | "repeated" | oneof)]
_MESSAGES: dict[str, list[FieldSpec]] = {
    "BackupInfo": [
        ("version", 1, "uint64", ""),
        ("backupTimeMs", 2, "uint64", ""),
        ("mediaRootBackupKey", 3, "bytes", ""),
        ("currentAppVersion", 4, "string", ""),
        ("firstAppVersion", 5, "string", ""),
    ],
    "Frame": [
        ("account", 1, "AccountData", "item"),
        ("recipient", 2, "Recipient", "item"),
        ("chat", 3, "Chat", "item"),
        ("chatItem", 4, "ChatItem", "item"),
        ("stickerPack", 5, "Skipped", "item"),
        ("adHocCall", 6, "Skipped", "item"),
        ("notificationProfile", 7, "Skipped", "item"),
        ("chatFolder", 8, "Skipped", "item"),
    ],
    "Skipped": _EMPTY,
    "AccountData": [
        ("username", 2, "string", ""),
        ("givenName", 4, "string", ""),
        ("familyName", 5, "string", ""),
    ],
    "Recipient": [
        ("id", 1, "uint64", ""),
        ("contact", 2, "Contact", "destination"),
        ("group", 3, "Group", "destination"),
        ("distributionList", 4, "Skipped", "destination"),
        ("self", 5, "Skipped", "destination"),
        ("releaseNotes", 6, "Skipped", "destination"),
        ("callLink", 7, "CallLink", "destination"),
    ],
    "Contact": [
        ("aci", 1, "bytes", ""),
        ("pni", 2, "bytes", ""),
        ("username", 3, "string", ""),
        ("e164", 4, "uint64", ""),
        ("profileGivenName", 11, "string", ""),
        ("profileFamilyName", 12, "string", ""),
        ("nickname", 16, "Contact.Name", ""),
        ("systemGivenName", 18, "string", ""),
        ("systemFamilyName", 19, "string", ""),
        ("systemNickname", 20, "string", ""),
    ],
    "Contact.Name": [("given", 1, "string", ""), ("family", 2, "string", "")],
    "Group": [("snapshot", 5, "Group.GroupSnapshot", "")],
    "Group.GroupSnapshot": [("title", 2, "Group.GroupAttributeBlob", "")],
    "Group.GroupAttributeBlob": [("title", 1, "string", "")],
    "CallLink": [("name", 3, "string", "")],
    "Chat": [("id", 1, "uint64", ""), ("recipientId", 2, "uint64", "")],
    "ChatItem": [
        ("chatId", 1, "uint64", ""),
        ("authorId", 2, "uint64", ""),
        ("dateSent", 3, "uint64", ""),
        ("revisions", 6, "ChatItem", "repeated"),
        ("incoming", 8, "ChatItem.IncomingMessageDetails", "directionalDetails"),
        ("outgoing", 9, "ChatItem.OutgoingMessageDetails", "directionalDetails"),
        ("directionless", 10, "Skipped", "directionalDetails"),
        ("standardMessage", 11, "StandardMessage", "item"),
        ("contactMessage", 12, "ContactMessage", "item"),
        ("stickerMessage", 13, "StickerMessage", "item"),
        ("remoteDeletedMessage", 14, "Skipped", "item"),
        ("updateMessage", 15, "Skipped", "item"),
        ("paymentNotification", 16, "Skipped", "item"),
        ("giftBadge", 17, "Skipped", "item"),
        ("viewOnceMessage", 18, "Skipped", "item"),
        ("directStoryReplyMessage", 19, "DirectStoryReplyMessage", "item"),
        ("poll", 20, "Skipped", "item"),
    ],
    "DirectStoryReplyMessage": [
        ("textReply", 1, "DirectStoryReplyMessage.TextReply", "reply"),
        ("emoji", 2, "string", "reply"),
        ("reactions", 3, "Reaction", "repeated"),
    ],
    "DirectStoryReplyMessage.TextReply": [
        ("text", 1, "Text", ""),
        ("longText", 2, "FilePointer", ""),
    ],
    "ChatItem.IncomingMessageDetails": [
        ("dateReceived", 1, "uint64", ""),
        ("dateServerSent", 2, "uint64", ""),
    ],
    "ChatItem.OutgoingMessageDetails": [("dateReceived", 2, "uint64", "")],
    "Text": [("body", 1, "string", ""), ("bodyRanges", 2, "BodyRange", "repeated")],
    "BodyRange": [
        ("start", 1, "uint32", ""),
        ("length", 2, "uint32", ""),
        ("mentionAci", 3, "bytes", ""),
    ],
    "StandardMessage": [
        ("quote", 1, "Quote", ""),
        ("text", 2, "Text", ""),
        ("attachments", 3, "MessageAttachment", "repeated"),
        ("longText", 5, "FilePointer", ""),
        ("reactions", 6, "Reaction", "repeated"),
    ],
    "ContactMessage": [
        ("contact", 1, "ContactAttachment", ""),
        ("reactions", 2, "Reaction", "repeated"),
    ],
    "ContactAttachment": [
        ("name", 1, "ContactAttachment.Name", ""),
        ("organization", 7, "string", ""),
    ],
    "ContactAttachment.Name": [
        ("givenName", 1, "string", ""),
        ("familyName", 2, "string", ""),
        ("nickname", 6, "string", ""),
    ],
    "StickerMessage": [
        ("sticker", 1, "Sticker", ""),
        ("reactions", 2, "Reaction", "repeated"),
    ],
    "Sticker": [("emoji", 4, "string", ""), ("data", 5, "FilePointer", "")],
    "MessageAttachment": [("pointer", 1, "FilePointer", "")],
    "FilePointer": [
        ("contentType", 4, "string", ""),
        ("fileName", 7, "string", ""),
        ("locatorInfo", 13, "FilePointer.LocatorInfo", ""),
    ],
    "FilePointer.LocatorInfo": [("size", 3, "uint32", "")],
    "Quote": [
        ("targetSentTimestamp", 1, "uint64", ""),
        ("authorId", 2, "uint64", ""),
    ],
    "Reaction": [
        ("emoji", 1, "string", ""),
        ("authorId", 2, "uint64", ""),
        ("sentTimestamp", 3, "uint64", ""),
        ("sortOrder", 4, "uint64", ""),
    ],
    # The `SBACKUP\x01` prefix of remote backups (libsignal svrb `backup_metadata.proto`).
    "BackupMetadata": [("pair", 1, "BackupMetadata.Pair", "repeated")],
    "BackupMetadata.Pair": [("ct", 1, "bytes", ""), ("pw_salt", 2, "bytes", "")],
}


_message_class = build_messages(_PACKAGE, "astrabot/signal/backup_v2.proto", _MESSAGES)

BackupInfo = _message_class("BackupInfo")
Frame = _message_class("Frame")
Recipient = _message_class("Recipient")
Chat = _message_class("Chat")
ChatItem = _message_class("ChatItem")
BackupMetadata = _message_class("BackupMetadata")

FRAME_KINDS = tuple(field.name for field in Frame.DESCRIPTOR.fields)


@dataclass
class ReadStats:
    """What reading one backup-v2 input found (counts and offsets only, never content).

    `records` counts BackupInfo and every frame read (one per JSON line or protobuf
    record); `lines` the physical lines of `main.jsonl` seen (blank ones included; 0 for
    the binary stream); `bytes_read` the decompressed bytes consumed. After a salvaged
    read, `bytes_not_decoded` is what was lost from the damaged line or record on and
    `warnings` says where.
    """

    records: int = 0
    lines: int = 0
    bytes_read: int = 0
    bytes_not_decoded: int = 0
    format_version: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class FrameSource:
    """BackupInfo, the lazy Frames after it, and the stats that fill in as they are read."""

    info: DynamicMessage
    frames: Iterator[DynamicMessage]
    stats: ReadStats


def parse_frames(
    records: Iterable[bytes], stats: ReadStats | None = None
) -> tuple[DynamicMessage, Iterator[DynamicMessage]]:
    """(BackupInfo, lazy Frames) from a stream of varint-delimited protobuf records.

    Records are numbered from 1 (BackupInfo is record 1) in every message.
    """
    stats = stats if stats is not None else ReadStats()
    iterator = iter(records)
    first = next(iterator, None)
    if first is None:
        raise CorruptBackupV2Error("the backup stream is empty: no BackupInfo record")
    info = _parse(BackupInfo, first, 1)
    stats.records = 1
    stats.format_version = int(info.version)
    return info, _counted(
        (_parse(Frame, record, index) for index, record in enumerate(iterator, start=2)), stats
    )


def _counted(items: Iterator[DynamicMessage], stats: ReadStats) -> Iterator[DynamicMessage]:
    for item in items:
        stats.records += 1
        yield item


def _parse(cls: type[DynamicMessage], record: bytes, index: int) -> DynamicMessage:
    try:
        return cls.FromString(record)
    except (DecodeError, RecursionError) as error:
        raise CorruptBackupV2Error(
            f"record {index} of the backup stream is not a valid {cls.DESCRIPTOR.name}"
        ) from error


__all__ = [
    "FRAME_KINDS",
    "BackupInfo",
    "BackupMetadata",
    "Chat",
    "ChatItem",
    "Frame",
    "FrameSource",
    "ReadStats",
    "Recipient",
    "parse_frames",
]
