"""Write a synthetic Corpus into a SQLite database shaped like Signal Android's (DB v230).

The CREATE statements follow Signal-Android's table definitions of early 2024 (single
`message` table with from/to recipients and edit revisions, `attachment` after the
v215 rename, nickname columns from v223), trimmed of columns nothing reads; rows use
Signal's real `type` bit values (docs/backup-formats.md §6.2).
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline.synthetic.corpus import Corpus, Message, MessageKind
from astrabot_pipeline.synthetic.people import OWNER_KEY, Person

DATABASE_VERSION = 230

# MessageTypes: base type in the low 5 bits, flags above.
BASE_INBOX = 20
BASE_SENT = 23
INCOMING_AUDIO_CALL = 1
OUTGOING_AUDIO_CALL = 2
MISSED_AUDIO_CALL = 3
MISSED_VIDEO_CALL = 8
INCOMING_VIDEO_CALL = 10
OUTGOING_VIDEO_CALL = 11
GROUP_UPDATE_BIT = 0x10000
GROUP_V2_BIT = 0x80000
PUSH_MESSAGE_BIT = 0x200000
SECURE_MESSAGE_BIT = 0x800000
INCOMING_TYPE = BASE_INBOX | PUSH_MESSAGE_BIT | SECURE_MESSAGE_BIT  # 10485780
OUTGOING_TYPE = BASE_SENT | PUSH_MESSAGE_BIT | SECURE_MESSAGE_BIT  # 10485783
GROUP_V2_UPDATE_FLAGS = GROUP_UPDATE_BIT | GROUP_V2_BIT

RECIPIENT_TYPE_INDIVIDUAL = 0
RECIPIENT_TYPE_GROUP_V2 = 3
MMS_RETRIEVE_CONF = 132  # m_type of a received message
MMS_SEND_REQ = 128  # m_type of a sent one
TRANSFER_DONE = 0

SCHEMA: tuple[str, ...] = (
    """CREATE TABLE recipient (
  _id INTEGER PRIMARY KEY AUTOINCREMENT,
  type INTEGER DEFAULT 0,
  e164 TEXT UNIQUE DEFAULT NULL,
  aci TEXT UNIQUE DEFAULT NULL,
  pni TEXT UNIQUE DEFAULT NULL,
  username TEXT UNIQUE DEFAULT NULL,
  email TEXT UNIQUE DEFAULT NULL,
  group_id TEXT UNIQUE DEFAULT NULL,
  distribution_list_id INTEGER DEFAULT NULL,
  call_link_room_id TEXT DEFAULT NULL,
  registered INTEGER DEFAULT 0,
  unregistered_timestamp INTEGER DEFAULT 0,
  blocked INTEGER DEFAULT 0,
  hidden INTEGER DEFAULT 0,
  profile_key TEXT DEFAULT NULL,
  profile_key_credential TEXT DEFAULT NULL,
  profile_sharing INTEGER DEFAULT 0,
  profile_given_name TEXT DEFAULT NULL,
  profile_family_name TEXT DEFAULT NULL,
  profile_joined_name TEXT DEFAULT NULL,
  profile_avatar TEXT DEFAULT NULL,
  last_profile_fetch INTEGER DEFAULT 0,
  system_given_name TEXT DEFAULT NULL,
  system_family_name TEXT DEFAULT NULL,
  system_joined_name TEXT DEFAULT NULL,
  system_nickname TEXT DEFAULT NULL,
  system_photo_uri TEXT DEFAULT NULL,
  system_phone_label TEXT DEFAULT NULL,
  system_phone_type INTEGER DEFAULT -1,
  system_contact_uri TEXT DEFAULT NULL,
  system_info_pending INTEGER DEFAULT 0,
  notification_channel TEXT DEFAULT NULL,
  message_ringtone TEXT DEFAULT NULL,
  message_vibrate INTEGER DEFAULT 0,
  call_ringtone TEXT DEFAULT NULL,
  call_vibrate INTEGER DEFAULT 0,
  mute_until INTEGER DEFAULT 0,
  message_expiration_time INTEGER DEFAULT 0,
  sealed_sender_mode INTEGER DEFAULT 0,
  storage_service_id TEXT UNIQUE DEFAULT NULL,
  storage_service_proto TEXT DEFAULT NULL,
  mention_setting INTEGER DEFAULT 0,
  capabilities INTEGER DEFAULT 0,
  last_session_reset BLOB DEFAULT NULL,
  wallpaper BLOB DEFAULT NULL,
  wallpaper_uri TEXT DEFAULT NULL,
  about TEXT DEFAULT NULL,
  about_emoji TEXT DEFAULT NULL,
  extras BLOB DEFAULT NULL,
  groups_in_common INTEGER DEFAULT 0,
  avatar_color TEXT DEFAULT NULL,
  chat_colors BLOB DEFAULT NULL,
  custom_chat_colors_id INTEGER DEFAULT 0,
  badges BLOB DEFAULT NULL,
  needs_pni_signature INTEGER DEFAULT 0,
  reporting_token BLOB DEFAULT NULL,
  phone_number_sharing INTEGER DEFAULT 0,
  phone_number_discoverable INTEGER DEFAULT 0,
  pni_signature_verified INTEGER DEFAULT 0,
  nickname_given_name TEXT DEFAULT NULL,
  nickname_family_name TEXT DEFAULT NULL,
  nickname_joined_name TEXT DEFAULT NULL,
  note TEXT DEFAULT NULL
)""",
    """CREATE TABLE thread (
  _id INTEGER PRIMARY KEY AUTOINCREMENT,
  date INTEGER DEFAULT 0,
  meaningful_messages INTEGER DEFAULT 0,
  recipient_id INTEGER NOT NULL UNIQUE REFERENCES recipient (_id) ON DELETE CASCADE,
  read INTEGER DEFAULT 1,
  type INTEGER DEFAULT 0,
  error INTEGER DEFAULT 0,
  snippet TEXT,
  snippet_type INTEGER DEFAULT 0,
  snippet_uri TEXT DEFAULT NULL,
  snippet_content_type TEXT DEFAULT NULL,
  snippet_extras TEXT DEFAULT NULL,
  unread_count INTEGER DEFAULT 0,
  archived INTEGER DEFAULT 0,
  status INTEGER DEFAULT 0,
  has_delivery_receipt INTEGER DEFAULT 0,
  has_read_receipt INTEGER DEFAULT 0,
  expires_in INTEGER DEFAULT 0,
  last_seen INTEGER DEFAULT 0,
  has_sent INTEGER DEFAULT 0,
  last_scrolled INTEGER DEFAULT 0,
  pinned INTEGER DEFAULT 0,
  unread_self_mention_count INTEGER DEFAULT 0,
  active INTEGER DEFAULT 0,
  snippet_message_extras BLOB DEFAULT NULL
)""",
    """CREATE TABLE message (
  _id INTEGER PRIMARY KEY AUTOINCREMENT,
  date_sent INTEGER NOT NULL,
  date_received INTEGER NOT NULL,
  date_server INTEGER DEFAULT -1,
  thread_id INTEGER NOT NULL REFERENCES thread (_id) ON DELETE CASCADE,
  from_recipient_id INTEGER NOT NULL REFERENCES recipient (_id) ON DELETE CASCADE,
  from_device_id INTEGER,
  to_recipient_id INTEGER NOT NULL REFERENCES recipient (_id) ON DELETE CASCADE,
  type INTEGER NOT NULL,
  body TEXT,
  read INTEGER DEFAULT 0,
  ct_l TEXT,
  exp INTEGER,
  m_type INTEGER,
  m_size INTEGER,
  st INTEGER,
  tr_id TEXT,
  subscription_id INTEGER DEFAULT -1,
  receipt_timestamp INTEGER DEFAULT -1,
  has_delivery_receipt INTEGER DEFAULT 0,
  has_read_receipt INTEGER DEFAULT 0,
  viewed INTEGER DEFAULT 0,
  mismatched_identities TEXT DEFAULT NULL,
  network_failures TEXT DEFAULT NULL,
  expires_in INTEGER DEFAULT 0,
  expire_started INTEGER DEFAULT 0,
  notified INTEGER DEFAULT 0,
  quote_id INTEGER DEFAULT 0,
  quote_author INTEGER DEFAULT 0,
  quote_body TEXT DEFAULT NULL,
  quote_missing INTEGER DEFAULT 0,
  quote_mentions BLOB DEFAULT NULL,
  quote_type INTEGER DEFAULT 0,
  shared_contacts TEXT DEFAULT NULL,
  unidentified INTEGER DEFAULT 0,
  link_previews TEXT DEFAULT NULL,
  view_once INTEGER DEFAULT 0,
  reactions_unread INTEGER DEFAULT 0,
  reactions_last_seen INTEGER DEFAULT -1,
  remote_deleted INTEGER DEFAULT 0,
  mentions_self INTEGER DEFAULT 0,
  notified_timestamp INTEGER DEFAULT 0,
  server_guid TEXT DEFAULT NULL,
  message_ranges BLOB DEFAULT NULL,
  story_type INTEGER DEFAULT 0,
  parent_story_id INTEGER DEFAULT 0,
  export_state BLOB DEFAULT NULL,
  exported INTEGER DEFAULT 0,
  scheduled_date INTEGER DEFAULT -1,
  latest_revision_id INTEGER DEFAULT NULL REFERENCES message (_id) ON DELETE CASCADE,
  original_message_id INTEGER DEFAULT NULL REFERENCES message (_id) ON DELETE CASCADE,
  revision_number INTEGER DEFAULT 0,
  message_extras BLOB DEFAULT NULL
)""",
    """CREATE TABLE attachment (
  _id INTEGER PRIMARY KEY AUTOINCREMENT,
  message_id INTEGER,
  content_type TEXT,
  remote_key TEXT,
  remote_location TEXT,
  remote_digest BLOB,
  remote_incremental_digest BLOB,
  remote_incremental_digest_chunk_size INTEGER DEFAULT 0,
  cdn_number INTEGER DEFAULT 0,
  transfer_state INTEGER,
  transfer_file TEXT DEFAULT NULL,
  data_file TEXT,
  data_size INTEGER,
  data_random BLOB,
  file_name TEXT,
  fast_preflight_id TEXT,
  voice_note INTEGER DEFAULT 0,
  borderless INTEGER DEFAULT 0,
  video_gif INTEGER DEFAULT 0,
  quote INTEGER DEFAULT 0,
  width INTEGER DEFAULT 0,
  height INTEGER DEFAULT 0,
  caption TEXT DEFAULT NULL,
  sticker_pack_id TEXT DEFAULT NULL,
  sticker_pack_key DEFAULT NULL,
  sticker_id INTEGER DEFAULT -1,
  sticker_emoji STRING DEFAULT NULL,
  blur_hash TEXT DEFAULT NULL,
  transform_properties TEXT DEFAULT NULL,
  display_order INTEGER DEFAULT 0,
  upload_timestamp INTEGER DEFAULT 0,
  data_hash_start TEXT DEFAULT NULL,
  data_hash_end TEXT DEFAULT NULL
)""",
    """CREATE TABLE reaction (
  _id INTEGER PRIMARY KEY,
  message_id INTEGER NOT NULL REFERENCES message (_id) ON DELETE CASCADE,
  author_id INTEGER NOT NULL REFERENCES recipient (_id) ON DELETE CASCADE,
  emoji TEXT NOT NULL,
  date_sent INTEGER NOT NULL,
  date_received INTEGER NOT NULL,
  UNIQUE(message_id, author_id) ON CONFLICT REPLACE
)""",
    """CREATE TABLE mention (
  _id INTEGER PRIMARY KEY AUTOINCREMENT,
  thread_id INTEGER,
  message_id INTEGER,
  recipient_id INTEGER,
  range_start INTEGER,
  range_length INTEGER
)""",
    """CREATE TABLE groups (
  _id INTEGER PRIMARY KEY,
  group_id TEXT NOT NULL UNIQUE,
  recipient_id INTEGER NOT NULL UNIQUE REFERENCES recipient (_id) ON DELETE CASCADE,
  title TEXT DEFAULT NULL,
  avatar_id INTEGER DEFAULT 0,
  avatar_key BLOB DEFAULT NULL,
  avatar_content_type TEXT DEFAULT NULL,
  avatar_digest BLOB DEFAULT NULL,
  timestamp INTEGER DEFAULT 0,
  active INTEGER DEFAULT 1,
  mms INTEGER DEFAULT 0,
  master_key BLOB DEFAULT NULL,
  revision BLOB DEFAULT NULL,
  decrypted_group BLOB DEFAULT NULL,
  expected_v2_id TEXT UNIQUE DEFAULT NULL,
  unmigrated_v1_members TEXT DEFAULT NULL,
  distribution_id TEXT UNIQUE DEFAULT NULL,
  show_as_story_state INTEGER DEFAULT 0,
  last_force_update_timestamp INTEGER DEFAULT 0
)""",
    """CREATE TABLE group_membership (
  _id INTEGER PRIMARY KEY,
  group_id TEXT NOT NULL REFERENCES groups (group_id) ON DELETE CASCADE,
  recipient_id INTEGER NOT NULL REFERENCES recipient (_id) ON DELETE CASCADE,
  UNIQUE(group_id, recipient_id)
)""",
    """CREATE TABLE call (
  _id INTEGER PRIMARY KEY,
  call_id INTEGER NOT NULL,
  message_id INTEGER DEFAULT NULL REFERENCES message (_id) ON DELETE SET NULL,
  peer INTEGER DEFAULT NULL REFERENCES recipient (_id) ON DELETE CASCADE,
  type INTEGER NOT NULL,
  direction INTEGER NOT NULL,
  event INTEGER NOT NULL,
  timestamp INTEGER NOT NULL,
  ringer INTEGER DEFAULT NULL,
  deletion_timestamp INTEGER DEFAULT 0,
  read INTEGER DEFAULT 1,
  local_joined INTEGER DEFAULT 0,
  group_call_active INTEGER DEFAULT 0,
  UNIQUE (call_id, peer) ON CONFLICT FAIL
)""",
    "CREATE INDEX message_read_and_notified_and_thread_id_index "
    "ON message (read, notified, thread_id)",
    "CREATE INDEX message_type_index ON message (type)",
    "CREATE INDEX message_date_server_index ON message (date_server)",
    "CREATE INDEX message_thread_story_parent_story_scheduled_date_latest_revision_id_index "
    "ON message (thread_id, date_received, story_type, parent_story_id, scheduled_date, "
    "latest_revision_id)",
    "CREATE INDEX message_quote_id_quote_author_scheduled_date_latest_revision_id_index "
    "ON message (quote_id, quote_author, scheduled_date, latest_revision_id)",
    "CREATE INDEX message_original_message_id_index ON message (original_message_id)",
    "CREATE INDEX message_latest_revision_id_index ON message (latest_revision_id)",
    "CREATE UNIQUE INDEX message_unique_sent_from_thread "
    "ON message (date_sent, from_recipient_id, thread_id)",
    "CREATE INDEX attachment_message_id_index ON attachment (message_id)",
    "CREATE INDEX reaction_author_id_index ON reaction (author_id)",
    "CREATE INDEX mention_message_id_index ON mention (message_id)",
    "CREATE INDEX mention_recipient_id_thread_id_index ON mention (recipient_id, thread_id)",
    "CREATE INDEX thread_recipient_id_index ON thread (recipient_id, active)",
    "CREATE INDEX group_membership_recipient_id ON group_membership (recipient_id)",
    "CREATE INDEX call_call_id_index ON call (call_id)",
)


@dataclass(frozen=True)
class SignalDatabase:
    """A written database plus what the encoder needs beside it."""

    path: Path
    attachments: dict[int, bytes]  # attachment._id -> blob bytes
    key_values: dict[str, str | int | bool | bytes]  # SignalStore entries for the backup
    recipient_ids: dict[str, int]  # person key or "group:<key>" -> recipient._id
    thread_ids: dict[str, int]  # corpus thread key -> thread._id
    message_ids: dict[int, int]  # corpus message index -> _id of its current row
    message_rows: int  # all rows of the message table, superseded revisions included


def _insert(
    connection: sqlite3.Connection, table: str, columns: Sequence[str], rows: Iterable[tuple]
) -> None:
    placeholders = ",".join("?" * len(columns))
    connection.executemany(
        f"INSERT INTO {table} ({','.join(columns)}) VALUES ({placeholders})", rows
    )


def _stable_uuid(seed: int, *parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"astrabot-demo:{seed}:" + ":".join(map(str, parts))))


_RECIPIENT_COLUMNS = (
    "_id", "type", "e164", "aci", "pni", "username", "group_id", "registered", "profile_sharing",
    "profile_given_name", "profile_family_name", "profile_joined_name", "system_given_name",
    "system_family_name", "system_joined_name", "nickname_given_name", "nickname_family_name",
    "nickname_joined_name", "avatar_color", "storage_service_id", "sealed_sender_mode",
)  # fmt: skip
_COLORS = ("A100", "A110", "A120", "A130", "A140", "A150", "A160", "A170", "A180", "A190")


def _person_row(recipient_id: int, person: Person, seed: int) -> tuple:
    profile_given = person.profile_given_name or person.given_name
    system = person.in_address_book and not person.is_owner
    nickname = person.nickname if not person.is_owner else None
    return (
        recipient_id,
        RECIPIENT_TYPE_INDIVIDUAL,
        person.e164,
        person.aci,
        person.pni,
        person.username,
        None,
        1,
        1,
        profile_given,
        person.family_name,
        f"{profile_given} {person.family_name}",
        person.given_name if system else None,
        person.family_name if system else None,
        person.full_name if system else None,
        nickname,
        None,
        nickname,
        _COLORS[recipient_id % len(_COLORS)],
        _stable_uuid(seed, "storage", person.key),
        0,
    )


_MESSAGE_COLUMNS = (
    "_id", "date_sent", "date_received", "date_server", "thread_id", "from_recipient_id",
    "from_device_id", "to_recipient_id", "type", "body", "read", "m_type", "receipt_timestamp",
    "has_delivery_receipt", "has_read_receipt", "notified", "quote_id", "quote_author",
    "quote_body", "quote_missing", "quote_type", "unidentified", "server_guid",
    "latest_revision_id", "original_message_id", "revision_number",
)  # fmt: skip


def _message_type(message: Message) -> int:
    if message.kind is MessageKind.CALL:
        assert message.call is not None
        if message.is_outgoing:
            return OUTGOING_VIDEO_CALL if message.call.video else OUTGOING_AUDIO_CALL
        if message.call.missed:
            return MISSED_VIDEO_CALL if message.call.video else MISSED_AUDIO_CALL
        return INCOMING_VIDEO_CALL if message.call.video else INCOMING_AUDIO_CALL
    base = OUTGOING_TYPE if message.is_outgoing else INCOMING_TYPE
    if message.kind is MessageKind.GROUP_UPDATE:
        return base | GROUP_V2_UPDATE_FLAGS
    return base


class _Writer:
    def __init__(self, corpus: Corpus, connection: sqlite3.Connection) -> None:
        self.corpus = corpus
        self.connection = connection
        self.seed = corpus.seed
        self.recipient_ids: dict[str, int] = {}
        self.thread_ids: dict[str, int] = {}
        self.message_ids: dict[int, int] = {}
        self.group_threads = {thread.key for thread in corpus.threads if thread.is_group}

    def recipients(self) -> None:
        rows = []
        cast = self.corpus.cast
        for recipient_id, person in enumerate(cast.people, start=1):
            self.recipient_ids[person.key] = recipient_id
            rows.append(_person_row(recipient_id, person, self.seed))
        for group in cast.groups:
            recipient_id = len(rows) + 1
            self.recipient_ids[f"group:{group.key}"] = recipient_id
            row: list[object] = [None] * len(_RECIPIENT_COLUMNS)
            row[:2] = recipient_id, RECIPIENT_TYPE_GROUP_V2
            row[_RECIPIENT_COLUMNS.index("group_id")] = group.group_id
            row[_RECIPIENT_COLUMNS.index("registered")] = 0
            row[_RECIPIENT_COLUMNS.index("profile_sharing")] = 1
            row[_RECIPIENT_COLUMNS.index("avatar_color")] = _COLORS[recipient_id % len(_COLORS)]
            row[_RECIPIENT_COLUMNS.index("sealed_sender_mode")] = 0
            rows.append(tuple(row))
        _insert(self.connection, "recipient", _RECIPIENT_COLUMNS, rows)

    def groups(self) -> None:
        groups: list[tuple[object, ...]] = []
        members: list[tuple[object, ...]] = []
        for number, group in enumerate(self.corpus.cast.groups, start=1):
            groups.append((
                number,
                group.group_id,
                self.recipient_ids[f"group:{group.key}"],
                group.title,
                _ms_of_first(self.corpus, f"group:{group.key}"),
                1,
                group.master_key,
                _stable_uuid(self.seed, "distribution", group.key),
            ))  # fmt: skip
            for key in (OWNER_KEY, *group.members):
                members.append((len(members) + 1, group.group_id, self.recipient_ids[key]))
        columns = ("_id", "group_id", "recipient_id", "title", "timestamp", "active", "master_key",
                   "distribution_id")  # fmt: skip
        _insert(self.connection, "groups", columns, groups)
        _insert(self.connection, "group_membership", ("_id", "group_id", "recipient_id"), members)

    def threads(self) -> None:
        last: dict[str, Message] = {}
        for message in self.corpus.messages:
            if message.is_chat:
                last[message.thread] = message
        rows = []
        for thread_id, thread in enumerate(self.corpus.threads, start=1):
            self.thread_ids[thread.key] = thread_id
            final = last.get(thread.key)
            rows.append((
                thread_id,
                final.received_at if final else 0,
                1 if final else 0,
                self.recipient_ids[thread.key],
                1,
                (final.body or "") if final else None,
                _message_type(final) if final else 0,
                1,
                1,
            ))  # fmt: skip
        columns = ("_id", "date", "meaningful_messages", "recipient_id", "read", "snippet",
                   "snippet_type", "has_sent", "active")  # fmt: skip
        _insert(self.connection, "thread", columns, rows)

    def messages(self) -> int:
        """Insert every row in the order Signal would have: by the time it was written."""
        pending: list[tuple[int, int, Message, int]] = []  # (insert time, order, msg, revision)
        for message in self.corpus.messages:
            for number, revision in enumerate(message.revisions):
                pending.append((revision.sent_at, len(pending), message, number))
            current = message.edited_at if message.edited_at is not None else message.sent_at
            pending.append((current, len(pending), message, len(message.revisions)))
        pending.sort(key=lambda item: (item[0], item[1]))
        row_ids: dict[tuple[int, int], int] = {
            (message.index, revision): row_id
            for row_id, (_, _, message, revision) in enumerate(pending, start=1)
        }
        rows = [
            self._message_row(row_id, message, revision, row_ids)
            for row_id, (_, _, message, revision) in enumerate(pending, start=1)
        ]
        _insert(self.connection, "message", _MESSAGE_COLUMNS, rows)
        self.message_ids = {
            message.index: row_ids[(message.index, len(message.revisions))]
            for message in self.corpus.messages
        }
        return len(rows)

    def _message_row(
        self, row_id: int, message: Message, revision: int, row_ids: dict[tuple[int, int], int]
    ) -> tuple:
        corpus, ids = self.corpus, self.recipient_ids
        # Outgoing: owner -> thread recipient; incoming: author -> group, or author -> owner.
        sender = ids[message.author]
        to_owner = not message.is_outgoing and message.thread not in self.group_threads
        receiver = ids[OWNER_KEY] if to_owner else ids[message.thread]
        is_current = revision == len(message.revisions)
        if is_current:
            body = message.body
            sent = message.edited_at if message.edited_at is not None else message.sent_at
        else:
            body = message.revisions[revision].body
            sent = message.revisions[revision].sent_at
        quote_id = quote_author = 0
        quote_body = None
        if message.quote is not None:
            quoted = corpus.messages[message.quote]
            quote_id, quote_author, quote_body = quoted.sent_at, ids[quoted.author], quoted.body
        incoming = not message.is_outgoing
        return (
            row_id,
            sent,
            message.received_at,
            sent + 40 + row_id % 400 if incoming else -1,
            self.thread_ids[message.thread],
            sender,
            1,
            receiver,
            _message_type(message),
            body,
            1,
            None if message.kind is MessageKind.CALL else (
                MMS_RETRIEVE_CONF if incoming else MMS_SEND_REQ
            ),
            -1,
            int(not incoming),
            int(not incoming),
            1,
            quote_id,
            quote_author,
            quote_body,
            0,
            0,
            int(incoming),
            _stable_uuid(self.seed, "guid", message.index, revision) if incoming else None,
            None if is_current else row_ids[(message.index, len(message.revisions))],
            row_ids[(message.index, 0)] if message.revisions and revision > 0 else None,
            revision,
        )  # fmt: skip

    def attachments(self) -> dict[int, bytes]:
        rows: list[tuple[object, ...]] = []
        blobs: dict[int, bytes] = {}
        for message in self.corpus.messages:
            for order, attachment in enumerate(message.attachments):
                attachment_id = len(rows) + 1
                blobs[attachment_id] = attachment.data
                rows.append((
                    attachment_id,
                    self.message_ids[message.index],
                    attachment.content_type,
                    TRANSFER_DONE,
                    f"/data/user/0/org.thoughtcrime.securesms/app_parts/part{attachment_id}.mms",
                    len(attachment.data),
                    attachment.file_name,
                    attachment.width,
                    attachment.height,
                    order,
                    message.sent_at,
                ))  # fmt: skip
        columns = ("_id", "message_id", "content_type", "transfer_state", "data_file", "data_size",
                   "file_name", "width", "height", "display_order", "upload_timestamp")  # fmt: skip
        _insert(self.connection, "attachment", columns, rows)
        return blobs

    def reactions(self) -> None:
        rows: list[tuple[object, ...]] = []
        for message in self.corpus.messages:
            for reaction in message.reactions:
                rows.append((
                    len(rows) + 1,
                    self.message_ids[message.index],
                    self.recipient_ids[reaction.author],
                    reaction.emoji,
                    reaction.sent_at,
                    reaction.sent_at + (0 if reaction.author == OWNER_KEY else 700),
                ))  # fmt: skip
        columns = ("_id", "message_id", "author_id", "emoji", "date_sent", "date_received")
        _insert(self.connection, "reaction", columns, rows)

    def mentions(self) -> None:
        rows: list[tuple[object, ...]] = []
        for message in self.corpus.messages:
            for mention in message.mentions:
                rows.append((
                    len(rows) + 1,
                    self.thread_ids[message.thread],
                    self.message_ids[message.index],
                    self.recipient_ids[mention.person],
                    mention.start,
                    mention.length,
                ))  # fmt: skip
        columns = ("_id", "thread_id", "message_id", "recipient_id", "range_start", "range_length")
        _insert(self.connection, "mention", columns, rows)

    def calls(self) -> None:
        rows: list[tuple[object, ...]] = []
        for message in self.corpus.messages:
            if message.call is None:
                continue
            call = message.call
            event = 1 if not call.missed else 3  # ACCEPTED / MISSED
            rows.append((
                len(rows) + 1,
                int(uuid.UUID(_stable_uuid(self.seed, "call", message.index)).int >> 65),
                self.message_ids[message.index],
                self.recipient_ids[message.thread],
                int(call.video),
                int(message.is_outgoing),
                event,
                message.sent_at,
            ))  # fmt: skip
        columns = ("_id", "call_id", "message_id", "peer", "type", "direction", "event",
                   "timestamp")  # fmt: skip
        _insert(self.connection, "call", columns, rows)


def _ms_of_first(corpus: Corpus, thread: str) -> int:
    return next((m.sent_at for m in corpus.messages if m.thread == thread), 0)


def write_signal_database(corpus: Corpus, path: str | Path) -> SignalDatabase:
    """Write `corpus` as a Signal-shaped SQLite file at `path` (which must not exist)."""
    path = Path(path)
    if path.exists():
        raise FileExistsError(f"{path} already exists")
    connection = sqlite3.connect(path)
    try:
        with connection:
            for statement in SCHEMA:
                connection.execute(statement)
            connection.execute(f"PRAGMA user_version = {DATABASE_VERSION}")
            writer = _Writer(corpus, connection)
            writer.recipients()
            writer.groups()
            writer.threads()
            message_rows = writer.messages()
            blobs = writer.attachments()
            writer.reactions()
            writer.mentions()
            writer.calls()
    finally:
        connection.close()
    owner = corpus.cast.owner
    key_values: dict[str, str | int | bool | bytes] = {
        "account.aci": owner.aci,
        "account.pni": owner.pni,
        "account.e164": owner.e164,
        "account.device_id": 1,
        "account.is_multi_device": False,
    }
    return SignalDatabase(
        path=path,
        attachments=blobs,
        key_values=key_values,
        recipient_ids=dict(writer.recipient_ids),
        thread_ids=dict(writer.thread_ids),
        message_ids=dict(writer.message_ids),
        message_rows=message_rows,
    )
