"""Signal Android's database schema as the normalizer reads it: the message `type` bit field
and, per canonical column, the names that column has had across database versions.

Schema landmarks and the `type` bits: docs/backup-formats.md §6, §6.2. `ReactionList`
(Signal's Database.proto) decodes the pre-v121 `reactions` BLOB column of sms/mms rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, TypeAlias

from astrabot_pipeline.signal.proto_builder import DynamicMessage, build_messages

BASE_TYPE_MASK = 0x1F
INCOMING_BASE = 20
OUTGOING_BASES = frozenset({21, 22, 23, 24, 25, 26})
GROUP_UPDATE_BIT = 0x10000
GROUP_QUIT_BIT = 0x20000
EXPIRATION_TIMER_UPDATE_BIT = 0x40000
END_SESSION_BIT = 0x400000
IDENTITY_NOTICE_BITS = 0xFE00  # key-exchange / identity verified / identity changed notices
SPECIAL_TYPES_MASK = 0xF00000000  # payments, gift badges, story reactions, spam reports...
NON_CHAT_BITS = (
    GROUP_UPDATE_BIT
    | GROUP_QUIT_BIT
    | EXPIRATION_TIMER_UPDATE_BIT
    | END_SESSION_BIT
    | IDENTITY_NOTICE_BITS
    | SPECIAL_TYPES_MASK
)
LONG_TEXT_CONTENT_TYPE = "text/x-signal-plain"
# Signal caps a message at a few kB of body plus a long-text attachment of at most tens of
# kB; a "long text" of megabytes is not one, and reading it whole would cost memory.
MAX_LONG_TEXT_BYTES = 1 << 20
FIRST_RECIPIENT_TABLE_VERSION = 24

# canonical name -> candidate column names, newest first
MESSAGE_COLUMNS: dict[str, Sequence[str]] = {
    "row_id": ["_id"],
    "thread_id": ["thread_id"],
    "date_sent": ["date_sent", "date"],  # old mms: `date` is the sent time
    "date_received": ["date_received", "date"],  # old sms: `date` is the received time
    "type": ["type", "msg_box"],
    "body": ["body"],
    "other_party": ["recipient_id", "address"],  # pre-185: the other party (author if incoming)
    "from_recipient_id": ["from_recipient_id"],
    "to_recipient_id": ["to_recipient_id"],
    "quote_id": ["quote_id"],
    "quote_author": ["quote_author"],
    "story_type": ["story_type"],
    "remote_deleted": ["remote_deleted"],
    "latest_revision_id": ["latest_revision_id"],
    "original_message_id": ["original_message_id"],
    "revision_number": ["revision_number"],
    "reactions_blob": ["reactions"],  # DB 37-120: protobuf ReactionList
}
RECIPIENT_COLUMNS: dict[str, Sequence[str]] = {
    "recipient_id": ["_id"],
    "type": ["type", "group_type"],
    "group_id": ["group_id"],
    "e164": ["e164", "phone"],
    "aci": ["aci", "uuid"],
    "email": ["email"],
    "username": ["username"],
    "system_joined": ["system_joined_name", "system_display_name"],
    "system_given": ["system_given_name"],
    "system_family": ["system_family_name"],
    "given_name": ["profile_given_name", "signal_profile_name"],
    "family_name": ["profile_family_name"],
    "profile_joined": ["profile_joined_name"],
    "nickname_joined": ["nickname_joined_name"],
    "nickname_given": ["nickname_given_name"],
    "nickname_family": ["nickname_family_name"],
}
THREAD_COLUMNS: dict[str, Sequence[str]] = {
    "thread_id": ["_id"],
    "recipient_id": ["recipient_id", "thread_recipient_id", "recipient_ids"],
}
ATTACHMENT_COLUMNS: dict[str, Sequence[str]] = {
    "attachment_id": ["_id"],
    "message_id": ["message_id", "mid"],
    "content_type": ["content_type", "ct"],
    "file_name": ["file_name"],
    "size": ["data_size"],
    "quote": ["quote"],
}
REACTION_COLUMNS: dict[str, Sequence[str]] = {
    "message_id": ["message_id"],
    "author_id": ["author_id"],
    "emoji": ["emoji"],
    "date_sent": ["date_sent"],
    "is_mms": ["is_mms"],
}
MENTION_COLUMNS: dict[str, Sequence[str]] = {
    "message_id": ["message_id"],
    "recipient_id": ["recipient_id"],
    "start": ["range_start"],
    "length": ["range_length"],
}

_message_class = build_messages(
    "signal",
    "astrabot/signal/Database.proto",
    {
        "ReactionList.Reaction": [
            ("emoji", 1, "string", ""),
            ("author", 2, "uint64", ""),
            ("sentTime", 3, "uint64", ""),
            ("receivedTime", 4, "uint64", ""),
        ],
        "ReactionList": [("reactions", 1, "ReactionList.Reaction", "repeated")],
    },
)

if TYPE_CHECKING:
    ReactionList: TypeAlias = DynamicMessage  # built at run time (see proto_builder)
else:
    ReactionList = _message_class("ReactionList")
