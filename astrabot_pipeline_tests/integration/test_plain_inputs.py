"""Inputs without a `.backup` around them: a plain Android database, a signalbackup-tools
CSV export and a Signal Desktop database (SQLCipher), each read into the contract tables.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from astrabot_pipeline.signal import (
    PassphraseFormatError,
    SignalProcessor,
    UnsupportedBackupError,
    WrongPassphraseError,
)
from astrabot_pipeline.signal.android_db.csv_export import (
    looks_like_csv_export,
    normalize_csv_export,
)
from astrabot_pipeline.signal.android_db.plain_sqlite import (
    looks_like_plain_android_db,
    normalize_plain_android_db,
)
from astrabot_pipeline.signal.android_db.schema import ReactionList
from astrabot_pipeline.signal.desktop.reader import looks_like_desktop_db, normalize_desktop_db
from astrabot_pipeline.synthetic import (
    DEMO_PASSPHRASE,
    generate_corpus,
    write_demo_backup,
    write_signal_database,
)

N_MESSAGES, SEED = 300, 7
COMPARED = ("messages", "recipients", "threads", "reactions", "mentions", "recipient_names")
T0 = 1_700_000_000_000


@dataclass(frozen=True)
class Reference:
    plain_db: Path  # the corpus written straight to SQLite (no account key-values)
    legacy: dict[str, pd.DataFrame]  # the same corpus, encoded as .backup and decoded
    owner_id: int


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Reference:
    root = tmp_path_factory.mktemp("plain-inputs")
    demo = write_demo_backup(root / "backup", n_messages=N_MESSAGES, seed=SEED)
    legacy = SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, root / "decoded").read_tables()
    database = write_signal_database(
        generate_corpus(n_messages=N_MESSAGES, seed=SEED), root / "signal.sqlite"
    )
    return Reference(database.path, legacy, database.recipient_ids["owner"])


def assert_same_tables(actual: dict[str, pd.DataFrame], expected: dict[str, pd.DataFrame]) -> None:
    for name in COMPARED:
        pd.testing.assert_frame_equal(actual[name], expected[name], obj=name)
    drop_path = ["path"]
    pd.testing.assert_frame_equal(
        actual["attachments"].drop(columns=drop_path),
        expected["attachments"].drop(columns=drop_path),
        obj="attachments",
    )


# -- (a) plain Android database --------------------------------------------------------------


def test_plain_db_gives_the_tables_of_the_legacy_decode(
    reference: Reference, tmp_path: Path
) -> None:
    before = hashlib.sha256(reference.plain_db.read_bytes()).digest()
    assert looks_like_plain_android_db(reference.plain_db)
    result = normalize_plain_android_db(reference.plain_db, tmp_path / "work")
    assert_same_tables(result.tables, reference.legacy)
    assert hashlib.sha256(reference.plain_db.read_bytes()).digest() == before
    assert result.database_version == 230


def test_owner_of_a_plain_db_is_the_sender_of_outgoing_messages(
    reference: Reference, tmp_path: Path
) -> None:
    result = normalize_plain_android_db(reference.plain_db, tmp_path)
    recipients = result.tables["recipients"]
    assert result.self_id == reference.owner_id
    assert recipients.loc[recipients["is_self"], "recipient_id"].tolist() == [reference.owner_id]
    assert not any("placeholder" in warning for warning in result.warnings)


def test_non_signal_files_are_rejected_with_a_hint(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE notes (body TEXT)")
    desktop_like = tmp_path / "db.sqlite"
    with sqlite3.connect(desktop_like) as db:
        db.execute("CREATE TABLE conversations (id TEXT)")
        db.execute("CREATE TABLE messages (id TEXT)")
    encrypted = tmp_path / "random.bin"
    encrypted.write_bytes(secrets.token_bytes(4096))
    with pytest.raises(UnsupportedBackupError, match="lacks the `recipient` table"):
        normalize_plain_android_db(other, tmp_path / "work")
    with pytest.raises(UnsupportedBackupError, match="Desktop"):
        normalize_plain_android_db(desktop_like, tmp_path / "work")
    with pytest.raises(UnsupportedBackupError, match="not a plain SQLite database"):
        normalize_plain_android_db(encrypted, tmp_path / "work")
    assert not looks_like_plain_android_db(other)
    assert not looks_like_plain_android_db(encrypted)
    assert not looks_like_desktop_db(other)


# -- (b) signalbackup-tools --exportcsv ------------------------------------------------------


def csv_field(value: object) -> str:
    """One value as signalbackup-tools' exportcsv writes it (signalbackup/exportcsv.cc)."""
    if value is None:
        text = ""
    elif isinstance(value, bytes):
        text = base64.b64encode(value).decode()
    else:
        text = str(value)
    quote = any(c in text for c in ',"\n') or (text != "" and text.isspace())
    text = text.replace('"', '""')
    return f'"{text}"' if quote else text


def export_csv(db_path: Path, folder: Path, tables: list[str]) -> Path:
    """`--exportcsv table=folder/table.csv,...` for each table: header, then text rows."""
    folder.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(db_path) as db:
        for table in tables:
            cursor = db.execute(f"SELECT * FROM {table}")
            header = [description[0] for description in cursor.description]
            lines = [",".join(header)] + [",".join(map(csv_field, row)) for row in cursor]
            (folder / f"{table}.csv").write_bytes(("\n".join(lines) + "\n").encode())
    return folder


NEW_ERA_TABLES = ["message", "recipient", "thread", "groups", "reaction", "mention", "attachment"]


def test_csv_export_gives_the_tables_of_the_legacy_decode(
    reference: Reference, tmp_path: Path
) -> None:
    folder = export_csv(reference.plain_db, tmp_path / "csv", NEW_ERA_TABLES)
    assert looks_like_csv_export(folder)
    assert looks_like_csv_export(folder / "message.csv")
    result = normalize_csv_export(folder, tmp_path / "work")
    assert_same_tables(result.tables, reference.legacy)
    assert result.self_id == reference.owner_id


def threads_with_messages(reference: Reference) -> pd.DataFrame:
    """Without thread.csv a thread is only known from its messages (empty ones are lost)."""
    with sqlite3.connect(reference.plain_db) as db:
        used = {row[0] for row in db.execute("SELECT DISTINCT thread_id FROM message")}
    threads = reference.legacy["threads"]
    return threads[threads["thread_id"].isin(used)].reset_index(drop=True)


def test_csv_export_without_thread_csv_infers_each_threads_recipient(
    reference: Reference, tmp_path: Path
) -> None:
    folder = export_csv(
        reference.plain_db, tmp_path / "csv", ["message", "recipient", "groups", "attachment"]
    )
    result = normalize_csv_export(folder, tmp_path / "work")
    for name in ("messages", "recipients"):
        pd.testing.assert_frame_equal(result.tables[name], reference.legacy[name], obj=name)
    pd.testing.assert_frame_equal(result.tables["threads"], threads_with_messages(reference))
    assert any("thread.csv is missing" in warning for warning in result.warnings)


def test_csv_export_of_messages_alone_keeps_ids_and_directions(
    reference: Reference, tmp_path: Path
) -> None:
    folder = export_csv(reference.plain_db, tmp_path / "csv", ["message"])
    result = normalize_csv_export(folder, tmp_path / "work")
    legacy = reference.legacy
    columns = ["message_id", "thread_id", "sender_id", "is_outgoing", "sent_at", "body"]
    pd.testing.assert_frame_equal(result.tables["messages"][columns], legacy["messages"][columns])
    columns = ["thread_id", "recipient_id"]
    expected = threads_with_messages(reference)[columns]
    pd.testing.assert_frame_equal(result.tables["threads"][columns], expected)
    assert any("recipient.csv is missing" in warning for warning in result.warnings)


def test_old_era_sms_and_mms_csv_pair(tmp_path: Path) -> None:
    reactions = ReactionList()
    reactions.reactions.add(emoji="🔥", author=1, sentTime=T0 + 9000, receivedTime=T0 + 9100)
    rows = {
        "recipient": [
            ("_id", "phone", "system_display_name", "signal_profile_name", "group_type"),
            (1, "+15550000001", "Ana Ruiz", "Ana", 0),
            (2, "+15550000002", None, "Ben", 0),
            (3, None, None, None, 0),  # the owner, without key-values
        ],
        "thread": [("_id", "thread_recipient_id"), (1, 1), (2, 2)],
        "sms": [
            ("_id", "thread_id", "address", "date", "date_sent", "type", "body", "reactions"),
            (1, 1, 1, T0 + 500, T0, 10485780, 'she said "hi", then\nleft', None),
            (2, 1, 1, T0 + 2000, T0 + 2000, 10485783, "42", reactions.SerializeToString()),
            (3, 2, 2, T0 + 3500, T0 + 3000, 10485780, "   ", None),
        ],
        "mms": [
            ("_id", "thread_id", "address", "date", "date_received", "msg_box", "body",
             "quote_id", "quote_author"),
            (1, 1, 1, T0 + 4000, T0 + 4100, 10485780, "replying", T0, 1),
            (2, 2, 2, T0 + 5000, T0 + 5000, 10485783 | 0x10000, "group update", 0, 0),
        ],
    }  # fmt: skip
    folder = tmp_path / "old"
    folder.mkdir()
    for table, (header, *values) in rows.items():
        lines = [",".join(header)] + [",".join(map(csv_field, row)) for row in values]
        (folder / f"{table}.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = normalize_csv_export(folder, tmp_path / "work")
    messages = result.tables["messages"].set_index("message_id")
    # sms ids are shifted past the largest mms id (3), as Signal's V168 migration does
    assert messages.index.tolist() == [1, 4, 5, 6]
    assert messages.loc[4, "body"] == 'she said "hi", then\nleft'
    assert messages.loc[5, "body"] == "42"
    assert messages.loc[6, "body"] == "   "
    assert messages.loc[4, "received_at"] == pd.Timestamp(T0 + 500, unit="ms", tz="UTC")
    assert messages.loc[1, "sent_at"] == pd.Timestamp(T0 + 4000, unit="ms", tz="UTC")
    assert messages.loc[1, "quote_message_id"] == 4
    assert messages["is_outgoing"].tolist() == [False, False, True, False]
    assert messages.loc[[1, 4, 6], "sender_id"].tolist() == [1, 1, 2]
    reactions_table = result.tables["reactions"]
    assert reactions_table[["message_id", "author_id", "emoji"]].values.tolist() == [[5, 1, "🔥"]]
    names = result.tables["recipients"].set_index("recipient_id")["display_name"]
    assert names.loc[1] == "Ana Ruiz" and names.loc[2] == "Ben"


def test_csv_folder_without_messages_is_rejected_with_the_export_command(tmp_path: Path) -> None:
    (tmp_path / "recipient.csv").write_text("_id,e164\n1,+15550000001\n", encoding="utf-8")
    assert not looks_like_csv_export(tmp_path)
    with pytest.raises(UnsupportedBackupError, match="--exportcsv"):
        normalize_csv_export(tmp_path, tmp_path / "work")
    (tmp_path / "signal_backup.csv").write_text(
        "address,body,date_sent,date_received\n+1555,hi,2020-01-01 10:00:00,2020-01-01 10:00:01\n",
        encoding="utf-8",
    )
    with pytest.raises(UnsupportedBackupError, match="signal-backup-decode"):
        normalize_csv_export(tmp_path, tmp_path / "work")


# -- (c) Signal Desktop ----------------------------------------------------------------------

DESKTOP_SCHEMA = """
CREATE TABLE conversations (id STRING PRIMARY KEY ASC, json TEXT, active_at INTEGER,
  type STRING, members TEXT, name TEXT, profileName TEXT, profileFamilyName TEXT,
  profileFullName TEXT, e164 TEXT, serviceId TEXT, groupId TEXT, profileLastFetchedAt INTEGER);
CREATE TABLE messages (rowid INTEGER PRIMARY KEY ASC, id STRING UNIQUE, json TEXT,
  readStatus INTEGER, expires_at INTEGER, sent_at INTEGER, schemaVersion INTEGER,
  conversationId STRING, received_at INTEGER, source STRING, hasAttachments INTEGER,
  hasFileAttachments INTEGER, hasVisualMediaAttachments INTEGER, expireTimer INTEGER,
  type STRING, body TEXT, isErased INTEGER, isViewOnce INTEGER, sourceServiceId TEXT,
  serverGuid STRING NULL, sourceDevice INTEGER, storyId STRING, isStory INTEGER,
  isChangeCreatedByUs INTEGER NOT NULL DEFAULT 0, callId TEXT, seenStatus NUMERIC DEFAULT 0);
CREATE TABLE items (id STRING PRIMARY KEY ASC, json TEXT);
CREATE TABLE reactions (conversationId STRING, emoji STRING, fromId STRING,
  messageReceivedAt INTEGER, targetAuthorAci STRING, targetTimestamp INTEGER, unread INTEGER);
PRAGMA user_version = 1200;
"""
ME, ANA, BEN = (
    "0b7c2a52-6a3e-4c1e-9d1a-6f0e1c3b0001",
    "0b7c2a52-6a3e-4c1e-9d1a-6f0e1c3b0002",
    "0b7c2a52-6a3e-4c1e-9d1a-6f0e1c3b0003",
)
CONVERSATIONS = [  # (id, type, name, profileName, profileFamilyName, e164, serviceId, groupId)
    ("c-me", "private", None, "Sam", "Owner", "+15550000100", ME, None),
    ("c-ana", "private", "Ana Ruiz", "Ana", "R.", "+15550000101", ANA, None),
    ("c-ben", "private", None, "Ben", "Okafor", None, BEN, None),
    ("c-group", "group", "Climbing Crew", None, None, None, None, "Z3JvdXAtaWQ="),
]


def desktop_messages() -> list[dict]:
    def message(n: int, conversation: str, kind: str, body: str | None, **extra) -> dict:
        return {"id": f"m-{n}", "conversationId": conversation, "type": kind, "body": body,
                "sent_at": T0 + n * 1000, "received_at": 40_000 + n,
                "received_at_ms": T0 + n * 1000 + 300, **extra}  # fmt: skip

    return [
        message(1, "c-ana", "incoming", "hi there", sourceServiceId=ANA,
                reactions=[{"emoji": "❤️", "fromId": "c-me", "timestamp": T0 + 1500}]),
        message(2, "c-ana", "outgoing", "hello back",
                quote={"id": T0 + 1000, "authorAci": ANA, "text": "hi there"}),
        message(3, "c-ana", "call-history", None, callId="1234"),
        message(4, "c-ana", "keychange", None, key_changed=ANA),
        message(5, "c-group", "incoming", "\ufffc look at this", sourceServiceId=BEN,
                bodyRanges=[{"start": 0, "length": 1, "mentionAci": ME}],
                attachments=[{"contentType": "image/jpeg", "fileName": "wall.jpg",
                              "size": 2048, "path": "ab/abcdef"}]),
        message(6, "c-group", "outgoing", "final plan",
                editHistory=[{"body": "final plan", "timestamp": T0 + 9000},
                             {"body": "draft plan", "timestamp": T0 + 6000}],
                editMessageTimestamp=T0 + 9000),
        message(7, "c-group", "group-v2-change", None, groupV2Change={"details": []}),
        message(8, "c-ben", "incoming", "my story", sourceServiceId=BEN, isStory=1),
        message(9, "c-ben", "incoming", "ok", sourceServiceId=BEN),
    ]  # fmt: skip


COLUMNS = ("id", "conversationId", "type", "body", "sent_at", "received_at", "sourceServiceId",
           "isStory")  # fmt: skip


def build_desktop_db(path: Path, connect: Callable, key_hex: str | None) -> Path:
    db = connect(str(path))
    if key_hex is not None:
        db.execute(f"PRAGMA key = \"x'{key_hex}'\"")
    db.executescript(DESKTOP_SCHEMA)
    for cid, kind, name, given, family, e164, service_id, group_id in CONVERSATIONS:
        blob = {"id": cid, "type": kind, "name": name, "profileName": given}
        if group_id:
            blob["groupVersion"] = 2
        db.execute(
            "INSERT INTO conversations (id, json, type, name, profileName, profileFamilyName, "
            "e164, serviceId, groupId) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (cid, json.dumps(blob), kind, name, given, family, e164, service_id, group_id),
        )
    for message in desktop_messages():
        db.execute(
            f"INSERT INTO messages (json, {', '.join(COLUMNS)}) VALUES ({','.join('?' * 9)})",
            (json.dumps(message), *(message.get(column) for column in COLUMNS)),
        )
    db.executemany(
        "INSERT INTO items VALUES (?, ?)",
        [
            ("uuid_id", json.dumps({"id": "uuid_id", "value": f"{ME}.2"})),
            ("number_id", json.dumps({"id": "number_id", "value": "+15550000100.2"})),
        ],
    )
    db.commit()
    db.close()
    return path


@pytest.fixture(scope="module")
def desktop_key() -> str:
    return secrets.token_bytes(32).hex()


@pytest.fixture(scope="module")
def desktop_db(tmp_path_factory: pytest.TempPathFactory, desktop_key: str) -> Path:
    sqlcipher3 = pytest.importorskip("sqlcipher3")
    path = tmp_path_factory.mktemp("desktop") / "db.sqlite"
    return build_desktop_db(path, sqlcipher3.connect, desktop_key)


def assert_desktop_tables(tables: dict[str, pd.DataFrame], self_id: int | None) -> None:
    recipients = tables["recipients"].set_index("recipient_id")
    assert self_id == 1 and recipients["is_self"].tolist() == [True, False, False, False]
    assert recipients.loc[2, "display_name"] == "Ana Ruiz"
    assert recipients.loc[3, "display_name"] == "Ben Okafor"
    assert recipients.loc[4, "group_title"] == "Climbing Crew" and recipients.loc[4, "is_group"]
    threads = tables["threads"]
    assert threads.values.tolist() == [[2, 2, False, "Ana Ruiz"], [3, 3, False, "Ben Okafor"],
                                       [4, 4, True, "Climbing Crew"]]  # fmt: skip
    messages = tables["messages"].set_index("message_id")
    assert messages.index.tolist() == [1, 2, 5, 6, 9]  # no call, key change, update, story
    assert messages["sender_id"].tolist() == [2, 1, 3, 1, 3]
    assert messages["is_outgoing"].tolist() == [False, True, False, True, False]
    assert messages.loc[2, "quote_message_id"] == 1
    assert messages["edited"].tolist() == [False, False, False, True, False]
    assert messages.loc[6, "body"] == "final plan"
    assert messages.loc[5, "attachment_count"] == 1
    assert messages.loc[1, "received_at"] == pd.Timestamp(T0 + 1300, unit="ms", tz="UTC")
    reactions = tables["reactions"]
    assert reactions[["message_id", "author_id", "emoji"]].values.tolist() == [[1, 1, "❤️"]]
    assert tables["mentions"].values.tolist() == [[5, 1, 0, 1]]
    attachments = tables["attachments"]
    assert attachments[["message_id", "content_type", "file_name", "size"]].values.tolist() == [
        [5, "image/jpeg", "wall.jpg", 2048]
    ]
    names = tables["recipient_names"]
    assert "Climbing Crew" not in set(names["name"])  # a group title is no person's name
    assert {"Ana Ruiz", "Ana", "Okafor"} <= set(names["name"])


def test_encrypted_desktop_db_decodes_to_the_contract_tables(
    desktop_db: Path, desktop_key: str, tmp_path: Path
) -> None:
    before = hashlib.sha256(desktop_db.read_bytes()).digest()
    assert not desktop_db.read_bytes().startswith(b"SQLite format 3")
    assert looks_like_desktop_db(desktop_db)
    result = normalize_desktop_db(desktop_db, tmp_path, key_hex=desktop_key.upper())
    assert_desktop_tables(result.tables, result.self_id)
    assert result.database_version == 1200
    assert hashlib.sha256(desktop_db.read_bytes()).digest() == before


def test_plain_desktop_db_needs_no_key(tmp_path: Path) -> None:
    (tmp_path / "sql").mkdir()
    path = build_desktop_db(tmp_path / "sql" / "db.sqlite", sqlite3.connect, None)
    assert looks_like_desktop_db(path) and looks_like_desktop_db(tmp_path)
    result = normalize_desktop_db(tmp_path, tmp_path / "work", key_hex=None)  # the data dir works
    assert_desktop_tables(result.tables, result.self_id)
    assert path.is_file()


def test_wrong_desktop_key_is_reported_without_the_key(
    desktop_db: Path, desktop_key: str, tmp_path: Path
) -> None:
    wrong = secrets.token_bytes(32).hex()
    with pytest.raises(WrongPassphraseError, match="SIGNAL_DESKTOP_KEY") as caught:
        normalize_desktop_db(desktop_db, tmp_path, key_hex=wrong)
    text = str(caught.value).lower() + repr(caught.value.__cause__).lower()
    assert wrong not in text and desktop_key not in text
    with pytest.raises(WrongPassphraseError, match="encrypted"):
        normalize_desktop_db(desktop_db, tmp_path, key_hex=None)
    with pytest.raises(PassphraseFormatError) as malformed:
        normalize_desktop_db(desktop_db, tmp_path, key_hex=desktop_key[:-2])
    assert desktop_key[:-2] not in str(malformed.value)
