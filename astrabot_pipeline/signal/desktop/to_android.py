"""Signal Desktop rows -> an Android-shaped SQLite database that `normalize_database` reads.

The Desktop schema (`conversations`, `messages` with most data in a `json` column,
`items`) is rewritten table by table (docs/backup-formats.md §8.2):

* ids: a conversation is both a recipient and a thread, numbered 1.. in `conversations`
  rowid order; a message keeps its `messages.rowid`; attachments are numbered 1.. in
  message order. The same numbers are used across all tables of one decode.
* owner: `items` `uuid_id` ("<aci>.<device>") or `number_id` ("<e164>.<device>") matched
  to `conversations.serviceId` / `e164`; without them `normalize_database` adds a
  placeholder owner and says so in the warnings.
* chat messages: `type` 'incoming' / 'outgoing' only (calls, key changes, group and timer
  updates, profile changes are left out), no stories; a message deleted for everyone is
  kept out by `normalize_database` (`remote_deleted`). Edited messages keep their latest
  body.
* attachments: counted and described, never read (Desktop encrypts them at rest), so
  their `path` is empty.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from astrabot_pipeline.signal.android_db.schema import INCOMING_BASE
from astrabot_pipeline.signal.errors import UnsupportedBackupError
from astrabot_pipeline.signal.sqlite_guard import ReadGuard, quote_identifier
from astrabot_pipeline.signal.tables import KEY_VALUE_TABLE, stripped_text

PUSH_SECURE_BITS = 0x200000 | 0x800000
INCOMING_TYPE = INCOMING_BASE | PUSH_SECURE_BITS
OUTGOING_TYPE = 23 | PUSH_SECURE_BITS  # base 23 = sent
RECIPIENT_TYPE_GROUP = 3
PLAUSIBLE_MILLIS = 10**12  # `received_at` became a counter in 2021; older rows hold ms

ANDROID_SCHEMA = f"""
CREATE TABLE recipient (_id INTEGER PRIMARY KEY, type INTEGER DEFAULT 0, e164 TEXT, aci TEXT,
  username TEXT, group_id TEXT, system_joined_name TEXT, system_given_name TEXT,
  system_family_name TEXT, profile_given_name TEXT, profile_family_name TEXT,
  profile_joined_name TEXT, nickname_given_name TEXT, nickname_family_name TEXT);
CREATE TABLE groups (_id INTEGER PRIMARY KEY, group_id TEXT, recipient_id INTEGER, title TEXT);
CREATE TABLE thread (_id INTEGER PRIMARY KEY, recipient_id INTEGER);
CREATE TABLE message (_id INTEGER PRIMARY KEY, thread_id INTEGER, date_sent INTEGER,
  date_received INTEGER, type INTEGER, body TEXT, from_recipient_id INTEGER,
  to_recipient_id INTEGER, quote_id INTEGER DEFAULT 0, quote_author INTEGER DEFAULT 0,
  story_type INTEGER DEFAULT 0, remote_deleted INTEGER DEFAULT 0,
  revision_number INTEGER DEFAULT 0);
CREATE TABLE attachment (_id INTEGER PRIMARY KEY, message_id INTEGER, content_type TEXT,
  file_name TEXT, data_size INTEGER);
CREATE TABLE reaction (_id INTEGER PRIMARY KEY, message_id INTEGER, author_id INTEGER,
  emoji TEXT, date_sent INTEGER, UNIQUE(message_id, author_id) ON CONFLICT REPLACE);
CREATE TABLE mention (_id INTEGER PRIMARY KEY, message_id INTEGER, recipient_id INTEGER,
  range_start INTEGER, range_length INTEGER);
CREATE TABLE {KEY_VALUE_TABLE} (key TEXT PRIMARY KEY, value, value_type TEXT NOT NULL);
"""


@dataclass
class ConvertedDatabase:
    path: Path
    warnings: list[str] = field(default_factory=list)


def _loads(text: object) -> dict[str, Any]:
    if not isinstance(text, str | bytes) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    """`int(value)` for any JSON value, None where int() refuses it."""
    if isinstance(value, bool):
        return int(value)
    try:
        return int(value)
    except (TypeError, ValueError, OverflowError):
        return None


def _strip_device(value: object) -> str | None:
    """`items` values are "<aci or e164>.<device id>"."""
    text = stripped_text(value)
    if text is None:
        return None
    head, dot, tail = text.rpartition(".")
    return head if dot and tail.isdigit() else text


class _Converter:
    """Desktop rows -> Android-shaped rows, with one id mapping shared by every table."""

    def __init__(self, connection: Any, guard: ReadGuard) -> None:
        self.connection = connection
        self.guard = guard
        self.warnings: list[str] = []
        self.readable: dict[str, list[str]] = {}
        self.columns = self._probe_columns()
        for required in ("conversations", "messages"):
            if required not in self.columns:
                hint = (
                    " (this looks like a Signal Android database: use the plain-database input)"
                    if "recipient" in self.columns
                    else ""
                )
                raise UnsupportedBackupError(
                    f"not a Signal Desktop database: it lacks the `{required}` table{hint}"
                )
        self.conversation_ids: dict[str, int] = {}
        self.by_service_id: dict[str, int] = {}
        self.by_e164: dict[str, int] = {}
        self.group_ids: set[int] = set()
        self.self_id: int | None = None

    def _probe_columns(self) -> dict[str, set[str]]:
        with self.guard.reading("the Desktop database's table list"):
            names = [
                row[0]
                for row in self.connection.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                )
            ]
        columns: dict[str, set[str]] = {}
        for name in names:
            if not isinstance(name, str) or "\x00" in name:
                continue  # not a name SQL can address: nothing of Signal Desktop's
            readable = self.guard.readable_columns(self.connection, name)
            self.readable[name.lower()] = readable
            columns[name.lower()] = set(readable)
        if self.guard.skipped_columns:
            self.warnings.append(
                f"{len(self.guard.skipped_columns)} generated column(s) computed by functions "
                "outside the safe list were not read"
            )
        return columns

    def rows(self, table: str, order: str) -> Iterator[dict[str, Any]]:
        """Rows of `table` as dicts (plus `_rowid`), each with its parsed `json` merged under."""
        with self.guard.reading(f"Desktop table {table}"):
            selected = ", ".join(map(quote_identifier, self.readable.get(table.lower(), [])))
            cursor = self.connection.execute(
                f"SELECT rowid AS _rowid{', ' if selected else ''}{selected} "
                f"FROM {quote_identifier(table)} ORDER BY {order}"
            )
            names = [description[0] for description in cursor.description]
            for values in cursor:
                row = dict(zip(names, values, strict=True))
                yield {
                    **_loads(row.get("json")),
                    **{k: v for k, v in row.items() if v is not None},
                }

    def lookup(self, service_id: object = None, e164: object = None) -> int | None:
        key = stripped_text(service_id)
        if key is not None and (found := self.by_service_id.get(key.lower())) is not None:
            return found
        number = stripped_text(e164)
        return self.by_e164.get(number) if number is not None else None

    # -- tables ---------------------------------------------------------------------------

    def write(self, path: Path) -> ConvertedDatabase:
        path.unlink(missing_ok=True)
        target = sqlite3.connect(path)
        try:
            with target:
                target.executescript(ANDROID_SCHEMA)
                with self.guard.reading("the Desktop schema version", trusted=True):
                    version = self.connection.execute("PRAGMA user_version").fetchone()[0]
                target.execute(f"PRAGMA user_version = {int(version)}")
                self.write_recipients(target)
                self.write_owner(target)
                self.write_messages(target)
        finally:
            target.close()
        return ConvertedDatabase(path, self.warnings)

    def write_recipients(self, target: sqlite3.Connection) -> None:
        recipients: list[tuple[object, ...]] = []
        groups: list[tuple[object, ...]] = []
        for number, row in enumerate(self.rows("conversations", "rowid"), start=1):
            self.conversation_ids[str(row["id"])] = number
            service_id = stripped_text(row.get("serviceId") or row.get("uuid"))
            e164 = stripped_text(row.get("e164"))
            if service_id:
                self.by_service_id.setdefault(service_id.lower(), number)
            if e164:
                self.by_e164.setdefault(e164, number)
            if row.get("type") == "group":
                self.group_ids.add(number)
                group_id = stripped_text(row.get("groupId")) or f"desktop:{row['id']}"
                groups.append((len(groups) + 1, group_id, number, stripped_text(row.get("name"))))
                recipients.append((number, RECIPIENT_TYPE_GROUP, *[None] * 3, group_id,
                                   *[None] * 8))  # fmt: skip
                continue
            aci = service_id if service_id and not service_id.upper().startswith("PNI:") else None
            recipients.append((
                number, 0, e164, aci, stripped_text(row.get("username")), None,
                stripped_text(row.get("name")), stripped_text(row.get("systemGivenName")),
                stripped_text(row.get("systemFamilyName")), stripped_text(row.get("profileName")),
                stripped_text(row.get("profileFamilyName")), stripped_text(row.get("profileFullName")),
                stripped_text(row.get("nicknameGivenName")), stripped_text(row.get("nicknameFamilyName")),
            ))  # fmt: skip
        target.executemany(f"INSERT INTO recipient VALUES ({','.join('?' * 14)})", recipients)
        target.executemany("INSERT INTO groups VALUES (?, ?, ?, ?)", groups)

    def write_owner(self, target: sqlite3.Connection) -> None:
        """Account key-values from `items`, so `normalize_database` finds the owner as it
        does for Android."""
        items = self.items()
        aci, e164 = _strip_device(items.get("uuid_id")), _strip_device(items.get("number_id"))
        self.self_id = self.lookup(aci, e164)
        values = [("account.aci", aci), ("account.e164", e164)]
        target.executemany(
            f"INSERT INTO {KEY_VALUE_TABLE} VALUES (?, ?, 'string')",
            [(key, value) for key, value in values if value],
        )

    def items(self) -> dict[str, object]:
        if "items" not in self.columns:
            return {}
        found: dict[str, object] = {}
        for row in self.rows("items", "rowid"):
            key = row.get("id") or row.get("key")
            if key in ("uuid_id", "number_id"):
                found[str(key)] = row.get("value")
        return found

    def write_messages(self, target: sqlite3.Connection) -> None:
        messages: list[tuple[object, ...]] = []
        attachments: list[tuple[object, ...]] = []
        reactions: list[tuple[object, ...]] = []
        mentions: list[tuple[object, ...]] = []
        threads: set[int] = set()
        unknown_conversation = 0
        for row in self.rows("messages", "rowid"):
            kind = row.get("type")
            if kind not in ("incoming", "outgoing") or row.get("isStory"):
                continue  # calls, safety-number and group changes, timers, stories
            conversation = self.conversation_ids.get(str(row.get("conversationId")))
            if conversation is None:
                unknown_conversation += 1
                continue
            message_id = int(row["_rowid"])
            threads.add(conversation)
            messages.append(self.message_row(row, message_id, conversation, kind == "outgoing"))
            for attachment in row.get("attachments") or []:
                if isinstance(attachment, Mapping):
                    attachments.append((
                        len(attachments) + 1, message_id, stripped_text(attachment.get("contentType")),
                        stripped_text(attachment.get("fileName")), _int(attachment.get("size")),
                    ))  # fmt: skip
            reactions.extend(self.reaction_rows(row, message_id))
            mentions.extend(self.mention_rows(row, message_id))
        if unknown_conversation:
            self.warnings.append(
                f"{unknown_conversation} Desktop message(s) of an unknown conversation skipped"
            )
        target.executemany(f"INSERT INTO message VALUES ({','.join('?' * 13)})", messages)
        target.executemany("INSERT INTO thread VALUES (?, ?)", [(t, t) for t in sorted(threads)])
        target.executemany("INSERT INTO attachment VALUES (?, ?, ?, ?, ?)", attachments)
        target.executemany(
            "INSERT INTO reaction (message_id, author_id, emoji, date_sent) VALUES (?, ?, ?, ?)",
            reactions,
        )
        target.executemany(
            "INSERT INTO mention (message_id, recipient_id, range_start, range_length) "
            "VALUES (?, ?, ?, ?)",
            mentions,
        )

    def message_row(
        self, row: Mapping[str, Any], message_id: int, conversation: int, outgoing: bool
    ) -> tuple:
        is_group = conversation in self.group_ids
        sender: int | None
        receiver: int | None
        if outgoing:
            sender, receiver = self.self_id, conversation
        else:
            sender = self.lookup(
                row.get("sourceServiceId") or row.get("sourceUuid"), row.get("source")
            )
            if sender is None and not is_group:
                sender = conversation  # a 1:1 chat has one other party
            receiver = conversation if is_group else self.self_id
        sent = _int(row.get("sent_at")) or _int(row.get("timestamp"))
        received = _int(row.get("received_at_ms"))
        if received is None and (_int(row.get("received_at")) or 0) >= PLAUSIBLE_MILLIS:
            received = _int(row.get("received_at"))
        raw_quote = row.get("quote")
        quote: Mapping[str, Any] = raw_quote if isinstance(raw_quote, Mapping) else {}
        quote_author = self.lookup(
            quote.get("authorAci") or quote.get("authorUuid"), quote.get("author")
        )
        history = row.get("editHistory")
        revisions = len(history) - 1 if isinstance(history, list) and history else 0
        if revisions == 0 and row.get("editMessageTimestamp"):
            revisions = 1
        return (
            message_id,
            conversation,
            sent,
            received if received is not None else sent,
            OUTGOING_TYPE if outgoing else INCOMING_TYPE,
            row.get("body"),
            sender,
            receiver,
            _int(quote.get("id")) or 0,
            quote_author or 0,
            0,
            int(bool(row.get("deletedForEveryone"))),
            revisions,
        )

    def reaction_rows(self, row: Mapping[str, Any], message_id: int) -> list[tuple]:
        found = []
        for reaction in row.get("reactions") or []:
            if not isinstance(reaction, Mapping) or not stripped_text(reaction.get("emoji")):
                continue
            author = self.conversation_ids.get(str(reaction.get("fromId")))
            if author is not None:
                found.append(
                    (message_id, author, reaction["emoji"], _int(reaction.get("timestamp")))
                )
        return found

    def mention_rows(self, row: Mapping[str, Any], message_id: int) -> list[tuple]:
        found = []
        for body_range in row.get("bodyRanges") or []:
            if not isinstance(body_range, Mapping):
                continue
            service_id = body_range.get("mentionAci") or body_range.get("mentionUuid")
            recipient = self.lookup(service_id) if service_id else None
            start, length = _int(body_range.get("start")), _int(body_range.get("length"))
            if recipient is not None and start is not None and length is not None:
                found.append((message_id, recipient, start, length))
        return found


def convert_to_android(connection: Any, guard: ReadGuard, path: Path) -> ConvertedDatabase:
    """Write the Desktop database open on `connection` as an Android-shaped database at `path`."""
    return _Converter(connection, guard).write(path)
