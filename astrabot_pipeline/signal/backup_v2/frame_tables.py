"""Backup-v2 frames -> the data-contract tables (signal/tables.py), in one streaming pass.

Ids are file-local (docs/backup-formats.md §8.1): `Recipient.id` becomes recipient_id,
`Chat.id` thread_id, and each ChatItem's 1-based position in the file its message_id,
which is stable for a given backup and unique. Only chat messages become rows: standard,
contact-share and sticker messages, and text replies to a story (a 1:1 message its writer
typed in the chat; only the story itself is not in the backup). Update items (calls,
group/timer/profile changes), remote-delete tombstones, view-once messages, payments, gift
badges and emoji-only story replies are skipped: an emoji reply is a reaction to a story,
and the legacy decoder drops story reactions too, so both formats give the same messages.
An edited message is one ChatItem whose top level is the latest version and whose
`revisions` are the earlier ones: one row, latest text, edited=True.

References are file-local ids and a damaged or hand-made file may name ids that no frame
defines. Such rows are kept and counted in a warning: a chat item's unknown author, a
chat's unknown recipient and a reaction's unknown author each get a placeholder recipient
(no name, not self, not a group) so that joins stay whole; a quote whose target message is
not in the backup keeps an empty quote link; a chat item in a chat no frame defines has no
thread to belong to and is skipped (counted).

Numbers are uint64 in the format but int64 (ids) or int32 (mention ranges) in the tables,
and timestamps end in 2262 in pandas: a frame with an id beyond int64 is skipped, a chat
item sent beyond 2262 counts as undated (skipped), and other out-of-range times and
mention ranges are dropped, each counted in a warning, never an overflow.
"""

from __future__ import annotations

import itertools
import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TypedDict

import pandas as pd

from astrabot_pipeline.signal.backup_v2.frames import ReadStats
from astrabot_pipeline.signal.proto_builder import DynamicMessage
from astrabot_pipeline.signal.tables import (
    SCHEMAS,
    NormalizedBackup,
    conform,
    stripped_text,
    to_int,
    to_timestamp,
)

MAX_ID = (1 << 63) - 1  # the tables' ids are int64
MAX_MILLIS = int(pd.Timestamp.max.value // 1_000_000)  # 2262-04-11, the last pandas time
MAX_RANGE = (1 << 31) - 1  # mention start/length are int32

CHAT_MESSAGE_KINDS = frozenset(
    {"standardMessage", "contactMessage", "stickerMessage", "directStoryReplyMessage"}
)

_RECIPIENT_FIELDS = [f.name for f in SCHEMAS["recipients"]]
_MESSAGE_FIELDS = [
    "message_id",
    "thread_id",
    "sender_id",
    "is_outgoing",
    "date_sent",
    "date_received",
    "body",
    "quote_message_id",
    "attachment_count",
    "edited",
]


def _millis(value: int) -> int | None:
    """A uint64 millisecond time, or None when unset or past what the tables can hold."""
    return int(value) if 0 < value <= MAX_MILLIS else None


def _str(state: _State, value: str | bytes) -> str:
    """A string field as text. The binary format's proto2 strings are not checked at parse
    time, so one that is not UTF-8 arrives as bytes: repaired (U+FFFD) and counted."""
    if isinstance(value, bytes):
        state.invalid_utf8 += 1
        return value.decode("utf-8", "replace")
    return value


def _joined(*parts: str | None) -> str | None:
    return stripped_text(" ".join(p for p in parts if p))


def _first(*values: str | None) -> str | None:
    return next((v for v in values if v), None)


def format_aci(raw: bytes) -> str | None:
    """16 raw bytes -> the canonical lower-case UUID string (None if not 16 bytes)."""
    return str(uuid.UUID(bytes=raw)) if len(raw) == 16 else None


@dataclass
class BackupV2Decode(NormalizedBackup):
    """The contract tables of a backup-v2 input and what reading it found (`stats`)."""

    stats: ReadStats = field(default_factory=ReadStats)


class _RecipientRow(TypedDict):
    """A `recipients` row as it is gathered (the keys are the contract's columns)."""

    recipient_id: int
    is_self: bool
    is_group: bool
    display_name: str | None
    given_name: str | None
    family_name: str | None
    nickname: str | None
    e164: str | None
    email: str | None
    username: str | None
    aci: str | None
    group_title: str | None


def _blank_recipient(recipient_id: int, *, is_self: bool = False) -> _RecipientRow:
    """A recipient row with no name, number or group yet."""
    return _RecipientRow(
        recipient_id=recipient_id,
        is_self=is_self,
        is_group=False,
        display_name=None,
        given_name=None,
        family_name=None,
        nickname=None,
        e164=None,
        email=None,
        username=None,
        aci=None,
        group_title=None,
    )


class _MessageRow(TypedDict):
    """A `messages` row as it is gathered (before quotes are resolved)."""

    message_id: int
    thread_id: int
    sender_id: int
    is_outgoing: bool
    date_sent: int
    date_received: int | None
    body: str | None
    quote_message_id: int | None
    attachment_count: int
    edited: bool


@dataclass
class _Quote:
    message_id: int
    target_sent: int
    author_id: int


@dataclass
class _State:
    """Everything gathered while the frames stream past."""

    account_names: dict[str, str | None] = field(default_factory=dict)
    recipients: dict[int, _RecipientRow] = field(default_factory=dict)
    names: list[tuple[int, str, str]] = field(default_factory=list)
    aci_to_recipient: dict[bytes, int] = field(default_factory=dict)
    chats: dict[int, int] = field(default_factory=dict)
    self_id: int | None = None
    messages: list[_MessageRow] = field(default_factory=list)
    reactions: list[tuple[int, int, str, int]] = field(default_factory=list)
    mentions: list[tuple[int, bytes, int, int]] = field(default_factory=list)
    attachments: list[tuple[int, int, str | None, str | None, int | None]] = field(
        default_factory=list
    )
    quotes: list[_Quote] = field(default_factory=list)
    sent_index: dict[tuple[int, int], int] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    invalid_utf8: int = 0
    chat_items: int = 0


def normalize_frames(
    info: DynamicMessage,
    frames: Iterable[DynamicMessage],
    *,
    self_aci: str | None = None,
    stats: ReadStats | None = None,
) -> BackupV2Decode:
    """Consume BackupInfo + Frames and return conformed contract tables.

    `self_aci` (the account's ACI, when known) fills the owner's `aci` column and lets
    mentions of the owner resolve; the frames themselves never carry it. `stats` (from
    the reader) is carried into the result; its warnings (a salvaged read) come first.
    """
    state = _State()
    for frame in frames:
        kind = frame.WhichOneof("item")
        if kind == "account":
            _account(state, frame.account)
        elif kind == "recipient":
            _recipient(state, frame.recipient)
        elif kind == "chat":
            if frame.chat.id > MAX_ID or frame.chat.recipientId > MAX_ID:
                state.skipped["id_out_of_range"] += 1
            else:
                state.chats[frame.chat.id] = frame.chat.recipientId
        elif kind == "chatItem":
            state.chat_items += 1
            _chat_item(state, frame.chatItem, state.chat_items)
    stats = stats if stats is not None else ReadStats(format_version=int(info.version))
    return _finish(state, int(info.version), self_aci, stats)


# -- recipients -------------------------------------------------------------------------


def _account(state: _State, account: DynamicMessage) -> None:
    state.account_names = {
        "given_name": stripped_text(_str(state, account.givenName)),
        "family_name": stripped_text(_str(state, account.familyName)),
        "username": stripped_text(_str(state, account.username)),
    }


def _recipient(state: _State, recipient: DynamicMessage) -> None:
    recipient_id = int(recipient.id)
    if recipient_id > MAX_ID:
        state.skipped["id_out_of_range"] += 1
        return
    kind = recipient.WhichOneof("destination")
    row = _blank_recipient(recipient_id)
    forms: dict[str, str | None] = {}
    if kind == "contact":
        contact = recipient.contact
        forms = {
            "system_given": stripped_text(_str(state, contact.systemGivenName)),
            "system_family": stripped_text(_str(state, contact.systemFamilyName)),
            "system_nickname": stripped_text(_str(state, contact.systemNickname)),
            "given_name": stripped_text(_str(state, contact.profileGivenName)),
            "family_name": stripped_text(_str(state, contact.profileFamilyName)),
            "nickname_given": stripped_text(_str(state, contact.nickname.given)),
            "nickname_family": stripped_text(_str(state, contact.nickname.family)),
            "username": stripped_text(_str(state, contact.username)),
        }
        e164 = f"+{contact.e164}" if contact.HasField("e164") and contact.e164 else None
        aci = format_aci(contact.aci)
        if aci:
            state.aci_to_recipient.setdefault(contact.aci, recipient_id)
        row.update({"e164": e164, "aci": aci, "username": forms["username"]})
    elif kind == "self":
        state.self_id = recipient_id
        row["is_self"] = True
    elif kind == "group":
        title = stripped_text(_str(state, recipient.group.snapshot.title.title))
        row.update({"is_group": True, "group_title": title, "display_name": title})
    elif kind == "callLink":
        row["display_name"] = stripped_text(_str(state, recipient.callLink.name))
    _apply_names(state, row, forms)
    state.recipients[recipient_id] = row


def _apply_names(state: _State, row: _RecipientRow, forms: dict[str, str | None]) -> None:
    """Fill the name columns of `row` and record every name form it has."""
    recipient_id = row["recipient_id"]
    forms = dict(forms)
    forms["system_joined"] = _joined(forms.get("system_given"), forms.get("system_family"))
    forms["profile_joined"] = _joined(forms.get("given_name"), forms.get("family_name"))
    forms["nickname_joined"] = _joined(forms.get("nickname_given"), forms.get("nickname_family"))
    nickname = _first(forms["nickname_joined"], forms.get("system_nickname"))
    if any(forms.values()):
        row.update(
            {
                "given_name": forms.get("given_name"),
                "family_name": forms.get("family_name"),
                "nickname": nickname,
                "username": forms.get("username") or row["username"],
            }
        )
        row["display_name"] = _first(
            row["display_name"],
            nickname,
            forms["system_joined"],
            forms["profile_joined"],
            row["e164"],
            forms.get("username"),
        )
    elif row["display_name"] is None:
        row["display_name"] = _first(row["e164"], row["username"])
    state.names.extend(
        (recipient_id, source, name)
        for source, name in forms.items()
        if name and not (source.endswith("_joined") and " " not in name)
    )


# -- chat items -------------------------------------------------------------------------


def _chat_item(state: _State, item: DynamicMessage, message_id: int) -> None:
    kind = item.WhichOneof("item")
    if kind not in CHAT_MESSAGE_KINDS:
        state.skipped[kind or "unset"] += 1
        return
    if kind == "directStoryReplyMessage":
        reply = item.directStoryReplyMessage.WhichOneof("reply")
        if reply != "textReply":
            state.skipped["story_emoji_reply" if reply == "emoji" else "unset"] += 1
            return
    direction = item.WhichOneof("directionalDetails")
    if direction is None or not item.dateSent or item.dateSent > MAX_MILLIS:
        state.skipped["incomplete"] += 1
        return
    if item.chatId not in state.chats:
        state.skipped["unknown_chat"] += 1
        return
    is_outgoing = direction == "outgoing"
    sender = state.self_id if is_outgoing and state.self_id is not None else int(item.authorId)
    if sender > MAX_ID:
        state.skipped["id_out_of_range"] += 1
        return
    received = None
    if direction == "incoming":
        received = _millis(item.incoming.dateReceived)
    elif is_outgoing:
        received = _millis(item.outgoing.dateReceived)
    for version in (item, *item.revisions):
        if version.dateSent:
            state.sent_index.setdefault((int(version.dateSent), int(item.authorId)), message_id)

    body: str | None = None
    reactions: Iterable[DynamicMessage] = ()
    pointers: list[DynamicMessage] = []
    text: DynamicMessage | None = None
    if kind == "standardMessage":
        message = item.standardMessage
        text = message.text
        reactions = message.reactions
        pointers = [attachment.pointer for attachment in message.attachments]
        if message.HasField("quote") and message.quote.HasField("targetSentTimestamp"):
            state.quotes.append(
                _Quote(message_id, message.quote.targetSentTimestamp, message.quote.authorId)
            )
        if message.HasField("longText"):
            state.skipped["long_text_not_expanded"] += 1
    elif kind == "directStoryReplyMessage":
        story_reply = item.directStoryReplyMessage
        text = story_reply.textReply.text
        reactions = story_reply.reactions
        if story_reply.textReply.HasField("longText"):
            state.skipped["long_text_not_expanded"] += 1
    elif kind == "contactMessage":
        reactions = item.contactMessage.reactions
    elif kind == "stickerMessage":
        reactions = item.stickerMessage.reactions
        if item.stickerMessage.sticker.HasField("data"):
            pointers = [item.stickerMessage.sticker.data]

    if text is not None:
        body = _str(state, text.body) or None
        for body_range in text.bodyRanges:
            if body_range.mentionAci and max(body_range.start, body_range.length) > MAX_RANGE:
                state.skipped["range_out_of_range"] += 1
            elif body_range.mentionAci:
                state.mentions.append(
                    (message_id, body_range.mentionAci, body_range.start, body_range.length)
                )
    for pointer in pointers:
        size = pointer.locatorInfo.size if pointer.HasField("locatorInfo") else None
        state.attachments.append(
            (
                len(state.attachments) + 1,
                message_id,
                stripped_text(_str(state, pointer.contentType)),
                stripped_text(_str(state, pointer.fileName)),
                size,
            )
        )
    for reaction in reactions:
        if reaction.authorId > MAX_ID:
            state.skipped["id_out_of_range"] += 1
            continue
        sent = _millis(reaction.sentTimestamp) or 0
        state.reactions.append(
            (message_id, int(reaction.authorId), _str(state, reaction.emoji), sent)
        )
    state.messages.append(
        {
            "message_id": message_id,
            "thread_id": int(item.chatId),
            "sender_id": sender,
            "is_outgoing": is_outgoing,
            "date_sent": int(item.dateSent),
            "date_received": received,
            "body": body,
            "quote_message_id": None,
            "attachment_count": len(pointers),
            "edited": len(item.revisions) > 0,
        }
    )


# -- tables -------------------------------------------------------------------------------


def _finish(state: _State, version: int, self_aci: str | None, stats: ReadStats) -> BackupV2Decode:
    warnings: list[str] = list(stats.warnings)
    self_id = state.self_id
    if self_id is None:
        used = {*state.recipients, *state.chats.values(), *(r[1] for r in state.reactions)}
        used.update(_senders(state))
        self_id = max(used, default=0) + 1
        if self_id > MAX_ID:  # ids go up to the very last one: take the first free one
            self_id = next(i for i in itertools.count(1) if i not in used)
        warnings.append(
            "the backup has no Self recipient; outgoing messages use a placeholder "
            f"recipient {self_id}"
        )
        state.recipients[self_id] = _blank_recipient(self_id, is_self=True)
        for message in state.messages:
            if message["is_outgoing"]:
                message["sender_id"] = self_id
    owner = state.recipients[self_id]
    _apply_names(state, owner, state.account_names)
    if self_aci:
        aci = uuid.UUID(self_aci)
        owner["aci"] = str(aci)
        state.aci_to_recipient.setdefault(aci.bytes, self_id)

    warnings.extend(_placeholders_for_dangling(state))
    messages = pd.DataFrame.from_records(state.messages, columns=_MESSAGE_FIELDS)
    kept = set(messages["message_id"].tolist())
    unresolved_quotes = _resolve_quotes(state, messages, kept)
    if unresolved_quotes:
        warnings.append(
            f"{unresolved_quotes} quote(s) name a message that is not in the backup (deleted, "
            "expired or not a chat message); their quote link is left empty"
        )
    messages["sent_at"] = to_timestamp(messages["date_sent"])
    messages["received_at"] = to_timestamp(messages["date_received"])
    messages["quote_message_id"] = to_int(messages["quote_message_id"])

    recipients = pd.DataFrame.from_records(
        list(state.recipients.values()), columns=_RECIPIENT_FIELDS
    )
    info = recipients.set_index("recipient_id")
    threads = pd.DataFrame(
        {"thread_id": list(state.chats), "recipient_id": list(state.chats.values())}
    )
    threads["is_group"] = threads["recipient_id"].map(info["is_group"]).fillna(False).astype(bool)
    threads["title"] = threads["recipient_id"].map(info["display_name"])

    reactions = pd.DataFrame.from_records(
        state.reactions, columns=["message_id", "author_id", "emoji", "date_sent"]
    )
    reactions["sent_at"] = to_timestamp(reactions["date_sent"])

    mention_rows = []
    unresolved = 0
    for message_id, aci_raw, start, length in state.mentions:
        recipient_id = state.aci_to_recipient.get(aci_raw)
        if recipient_id is None:
            unresolved += 1
        else:
            mention_rows.append((message_id, recipient_id, start, length))
    if unresolved:
        warnings.append(f"{unresolved} mention(s) of an ACI with no recipient were dropped")
    mentions = pd.DataFrame.from_records(
        mention_rows, columns=["message_id", "recipient_id", "start", "length"]
    )
    attachments = pd.DataFrame.from_records(
        state.attachments,
        columns=["attachment_id", "message_id", "content_type", "file_name", "size"],
    )
    attachments["size"] = to_int(attachments["size"])
    attachments["path"] = None
    names = pd.DataFrame.from_records(state.names, columns=["recipient_id", "source", "name"])
    names = names.drop_duplicates().sort_values(["recipient_id", "source"], kind="stable")

    warnings.extend(_skip_warnings(state.skipped))
    if state.invalid_utf8:
        warnings.append(
            f"{state.invalid_utf8} text field(s) were not valid UTF-8; their bad bytes are "
            "shown as U+FFFD"
        )
    tables = {
        "messages": messages,
        "recipients": recipients,
        "threads": threads,
        "reactions": reactions,
        "mentions": mentions,
        "attachments": attachments,
        "recipient_names": names,
    }
    conformed = {
        name: conform(name, frame.reset_index(drop=True)) for name, frame in tables.items()
    }
    return BackupV2Decode(conformed, self_id, version, warnings, stats=stats)


def _senders(state: _State) -> list[int]:
    return [message["sender_id"] for message in state.messages]


def _placeholders_for_dangling(state: _State) -> list[str]:
    """Placeholder recipients for ids that are referenced but never defined; warnings."""
    known = set(state.recipients)
    authors = [sender for sender in _senders(state) if sender not in known]
    chats = [r for r in state.chats.values() if r not in known]
    reactors = [r[1] for r in state.reactions if r[1] not in known]
    warnings = []
    for count, what in (
        (len(authors), "chat item(s) name an author"),
        (len(chats), "chat(s) name a recipient"),
        (len(reactors), "reaction(s) name an author"),
    ):
        if count:
            warnings.append(
                f"{count} {what} that no Recipient frame defines (dangling reference); "
                "kept, with a placeholder recipient that has no name"
            )
    for recipient_id in sorted({*authors, *chats, *reactors}):
        state.recipients[recipient_id] = _blank_recipient(recipient_id)
    return warnings


def _resolve_quotes(state: _State, messages: pd.DataFrame, kept: set[int]) -> int:
    """quote.targetSentTimestamp + authorId -> message_id (by time alone if unambiguous).

    Returns how many quotes found no kept target.
    """
    if not state.quotes:
        return 0
    by_time: dict[int, set[int]] = {}
    for (sent, _author), message_id in state.sent_index.items():
        by_time.setdefault(sent, set()).add(message_id)
    resolved: dict[int, int] = {}
    for quote in state.quotes:
        target = state.sent_index.get((quote.target_sent, quote.author_id))
        if target is None and len(by_time.get(quote.target_sent, ())) == 1:
            target = next(iter(by_time[quote.target_sent]))
        if target in kept:
            resolved[quote.message_id] = target
    messages["quote_message_id"] = messages["message_id"].map(resolved)
    return len(state.quotes) - len(resolved)


def _skip_warnings(skipped: Counter[str]) -> list[str]:
    warnings = []
    if skipped["incomplete"]:
        warnings.append(
            f"{skipped['incomplete']} chat item(s) without a direction or a usable sent date "
            "(unset, or after the year 2262) skipped"
        )
    if skipped["id_out_of_range"]:
        warnings.append(
            f"{skipped['id_out_of_range']} frame(s), chat item(s) or reaction(s) use an id "
            f"beyond {MAX_ID:,} (no real backup does); skipped"
        )
    if skipped["range_out_of_range"]:
        warnings.append(
            f"{skipped['range_out_of_range']} mention(s) with a start or length beyond "
            f"{MAX_RANGE:,} dropped"
        )
    if skipped["unknown_chat"]:
        warnings.append(
            f"{skipped['unknown_chat']} chat item(s) name a chat that no Chat frame defines "
            "(dangling reference); skipped"
        )
    if skipped["long_text_not_expanded"]:
        warnings.append(
            f"{skipped['long_text_not_expanded']} long message(s) keep only their first part: "
            "the long-text attachment is not read"
        )
    return warnings


__all__ = ["CHAT_MESSAGE_KINDS", "BackupV2Decode", "format_aci", "normalize_frames"]
