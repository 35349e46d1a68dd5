"""Encode small Signal databases of several schema eras, decode them, check the tables.

Also the failure modes: wrong passphrase, truncation, bit flips, unsupported inputs.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from astrabot_pipeline.signal import (
    BackupError,
    CorruptFrameError,
    PassphraseFormatError,
    SignalProcessor,
    TruncatedBackupError,
    UnsupportedBackupError,
    WrongPassphraseError,
    read_tables,
)
from astrabot_pipeline.signal.android_db.schema import ReactionList
from astrabot_pipeline.signal.legacy.crypto import KeyRing
from astrabot_pipeline.signal.legacy.encoder import BackupWriter, encode_sqlite_to_backup
from astrabot_pipeline.signal.legacy.events import BlobEvent, StatementEvent
from astrabot_pipeline.signal.legacy.reader import BackupReader

PASSPHRASE = "98765 43210 98765 43210 98765 43210"
SALT = bytes(range(100, 132))
IV = bytes.fromhex("fffffffe") + bytes(12)  # the frame counter wraps inside every backup
KEYS = KeyRing(PASSPHRASE)  # one KDF for the whole module
T0 = 1_700_000_000_000
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(59))
LONG_TEXT = "a long message " * 300
INCOMING, OUTGOING = 10485780, 10485783  # base 20 / 23 | push | secure

# -- database builders, one per schema era ---------------------------------------------------


def build_modern_db(path: Path) -> dict[int, bytes]:
    """DB 230: single `message` table with from/to_recipient_id, edits, stories, FTS."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA user_version = 230;
        CREATE TABLE recipient (_id INTEGER PRIMARY KEY AUTOINCREMENT, type INTEGER DEFAULT 0,
          e164 TEXT, aci TEXT, username TEXT, email TEXT, group_id TEXT, system_joined_name TEXT,
          profile_given_name TEXT, profile_family_name TEXT, profile_joined_name TEXT,
          nickname_given_name TEXT, nickname_family_name TEXT, nickname_joined_name TEXT);
        CREATE TABLE groups (_id INTEGER PRIMARY KEY, group_id TEXT, recipient_id INTEGER, title TEXT);
        CREATE TABLE thread (_id INTEGER PRIMARY KEY AUTOINCREMENT, date INTEGER,
          recipient_id INTEGER UNIQUE);
        CREATE TABLE message (_id INTEGER PRIMARY KEY AUTOINCREMENT, date_sent INTEGER NOT NULL,
          date_received INTEGER NOT NULL, date_server INTEGER DEFAULT -1, thread_id INTEGER,
          from_recipient_id INTEGER, to_recipient_id INTEGER, type INTEGER, body TEXT,
          quote_id INTEGER DEFAULT 0, quote_author INTEGER DEFAULT 0, story_type INTEGER DEFAULT 0,
          remote_deleted INTEGER DEFAULT 0, latest_revision_id INTEGER,
          original_message_id INTEGER, revision_number INTEGER DEFAULT 0, score REAL, extras BLOB);
        CREATE INDEX message_thread_index ON message (thread_id);
        CREATE TABLE attachment (_id INTEGER PRIMARY KEY AUTOINCREMENT, message_id INTEGER,
          content_type TEXT, data_size INTEGER, file_name TEXT, quote INTEGER DEFAULT 0);
        CREATE TABLE reaction (_id INTEGER PRIMARY KEY, message_id INTEGER, author_id INTEGER,
          emoji TEXT, date_sent INTEGER, date_received INTEGER);
        CREATE TABLE mention (_id INTEGER PRIMARY KEY, thread_id INTEGER, message_id INTEGER,
          recipient_id INTEGER, range_start INTEGER, range_length INTEGER);
        CREATE VIRTUAL TABLE message_fts USING fts5(body, thread_id UNINDEXED, content=message,
          content_rowid=_id);
        CREATE TRIGGER message_ai AFTER INSERT ON message BEGIN
          INSERT INTO message_fts(rowid, body, thread_id) VALUES (new._id, new.body, new.thread_id);
        END;
        """
    )
    db.executemany(
        "INSERT INTO recipient (_id, type, e164, aci, username, group_id, system_joined_name,"
        " profile_given_name, profile_family_name, nickname_joined_name) VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (1, 0, "+15550000001", "aci-self", None, None, None, "Me", None, None),
            (2, 0, "+15550000002", "aci-bob", None, None, "Robert B", "Bob", "B", "Bobby"),
            (3, 0, "+15550000003", "aci-carol", None, None, None, "Carol", "C", None),
            (4, 3, None, None, None, "group-1", None, None, None, None),
            (5, 0, None, "aci-dave", "dave.01", None, None, None, None, None),
        ],
    )
    db.execute("INSERT INTO groups VALUES (1, 'group-1', 4, 'Friends')")
    db.executemany("INSERT INTO thread VALUES (?,?,?)", [(1, T0, 2), (2, T0, 4)])
    msg = (
        "INSERT INTO message (_id, date_sent, date_received, date_server, thread_id,"
        " from_recipient_id, to_recipient_id, type, body, quote_id, quote_author, story_type,"
        " remote_deleted, latest_revision_id, original_message_id, revision_number, score, extras)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"
    )
    db.executemany(
        msg,
        [
            (
                1,
                T0,
                T0 + 500,
                T0 + 100,
                1,
                2,
                1,
                INCOMING,
                "hi there",
                0,
                0,
                0,
                0,
                None,
                None,
                0,
                None,
                None,
            ),
            (
                2,
                T0 + 1000,
                T0 + 1000,
                -5,
                1,
                1,
                2,
                OUTGOING,
                "hello Bob",
                T0,
                2,
                0,
                0,
                None,
                None,
                0,
                0.5,
                b"\x00\xff",
            ),
            (3, T0 + 2000, T0 + 2000, -1, 1, 2, 1, 1, None, 0, 0, 0, 0, None, None, 0, None, None),
            (
                4,
                T0 + 3000,
                T0 + 3000,
                -1,
                2,
                2,
                4,
                0x10000 | 20,
                "update",
                0,
                0,
                0,
                0,
                None,
                None,
                0,
                None,
                None,
            ),
            (
                5,
                T0 + 4000,
                T0 + 4100,
                -1,
                2,
                3,
                4,
                INCOMING,
                "\ufffc look",
                0,
                0,
                0,
                0,
                None,
                None,
                0,
                None,
                None,
            ),
            (
                6,
                T0 + 5000,
                T0 + 5000,
                -1,
                1,
                1,
                2,
                0x40000 | OUTGOING,
                None,
                0,
                0,
                0,
                0,
                None,
                None,
                0,
                None,
                None,
            ),
            (
                7,
                T0 + 6000,
                T0 + 6000,
                -1,
                1,
                1,
                2,
                OUTGOING,
                "story",
                0,
                0,
                1,
                0,
                None,
                None,
                0,
                None,
                None,
            ),
            (
                8,
                T0 + 8000,
                T0 + 8000,
                -1,
                2,
                1,
                4,
                OUTGOING,
                "typo",
                0,
                0,
                0,
                0,
                9,
                None,
                0,
                None,
                None,
            ),
            (
                9,
                T0 + 9000,
                T0 + 9000,
                -1,
                2,
                1,
                4,
                OUTGOING,
                "fixed",
                0,
                0,
                0,
                0,
                None,
                8,
                1,
                None,
                None,
            ),
            (
                10,
                T0 + 10000,
                T0 + 10100,
                -1,
                2,
                5,
                4,
                INCOMING,
                "a long",
                T0 + 8000,
                1,
                0,
                0,
                None,
                None,
                0,
                None,
                None,
            ),
            (
                11,
                T0 + 11000,
                T0 + 11000,
                -1,
                1,
                2,
                1,
                7 | 0x800000,
                None,
                0,
                0,
                0,
                0,
                None,
                None,
                0,
                None,
                None,
            ),
            (
                12,
                T0 + 12000,
                T0 + 12000,
                -1,
                1,
                2,
                1,
                INCOMING,
                None,
                0,
                0,
                0,
                1,
                None,
                None,
                0,
                None,
                None,
            ),
        ],
    )
    db.executemany(
        "INSERT INTO attachment VALUES (?,?,?,?,?,?)",
        [
            (1, 2, "image/png", len(PNG), "pixel.png", 0),
            (2, 10, "text/x-signal-plain", len(LONG_TEXT), None, 0),
            (3, 10, "image/png", len(PNG), None, 1),
            (4, 5, "image/jpeg", 1234, "photo.jpg", 0),
        ],
    )
    db.executemany(
        "INSERT INTO reaction VALUES (?,?,?,?,?,?)",
        [
            (1, 2, 2, "👍", T0 + 1500, T0 + 1600),
            (2, 8, 3, "❤️", T0 + 8500, T0 + 8600),
            (3, 3, 2, "😮", T0, T0),
        ],
    )
    db.execute("INSERT INTO mention VALUES (1, 2, 5, 5, 0, 1)")
    db.commit()
    db.close()
    return {1: PNG, 2: LONG_TEXT.encode()}


def build_merged_mms_db(path: Path) -> dict[int, bytes]:
    """DB 170: merged `mms` table with `recipient_id`, pre-200 recipient columns, `part`."""
    db = sqlite3.connect(path)
    db.executescript(
        """
        PRAGMA user_version = 170;
        CREATE TABLE recipient (_id INTEGER PRIMARY KEY, group_type INTEGER DEFAULT 0, phone TEXT,
          uuid TEXT, group_id TEXT, system_display_name TEXT, signal_profile_name TEXT,
          profile_family_name TEXT, profile_joined_name TEXT, username TEXT);
        CREATE TABLE groups (_id INTEGER PRIMARY KEY, group_id TEXT, recipient_id INTEGER, title TEXT);
        CREATE TABLE thread (_id INTEGER PRIMARY KEY, date INTEGER, recipient_id INTEGER);
        CREATE TABLE mms (_id INTEGER PRIMARY KEY, thread_id INTEGER, date_sent INTEGER,
          date_received INTEGER, type INTEGER, body TEXT, recipient_id INTEGER,
          quote_id INTEGER DEFAULT 0, quote_author INTEGER DEFAULT 0, story_type INTEGER DEFAULT 0);
        CREATE TABLE part (_id INTEGER PRIMARY KEY, mid INTEGER, ct TEXT, data_size INTEGER,
          file_name TEXT, unique_id INTEGER, quote INTEGER DEFAULT 0);
        CREATE TABLE reaction (_id INTEGER PRIMARY KEY, message_id INTEGER, is_mms INTEGER,
          author_id INTEGER, emoji TEXT, date_sent INTEGER, date_received INTEGER);
        """
    )
    db.executemany(
        "INSERT INTO recipient (_id, group_type, phone, uuid, group_id, signal_profile_name,"
        " profile_joined_name) VALUES (?,?,?,?,?,?,?)",
        [
            (1, 0, "+15550000011", "aci-self", None, "Me", "Me"),
            (2, 0, "+15550000012", "aci-erin", None, "Erin", "Erin E"),
            (3, 3, None, None, "group-2", None, None),
        ],
    )
    db.execute("INSERT INTO groups VALUES (1, 'group-2', 3, 'Team')")
    db.executemany("INSERT INTO thread VALUES (?,?,?)", [(1, T0, 2), (2, T0, 3)])
    db.executemany(
        "INSERT INTO mms VALUES (?,?,?,?,?,?,?,?,?,?)",
        [
            (1, 1, T0, T0 + 200, INCOMING, "from erin", 2, 0, 0, 0),
            (2, 1, T0 + 1000, T0 + 1000, OUTGOING, "to erin", 2, T0, 2, 0),
            (3, 2, T0 + 2000, T0 + 2300, INCOMING, "erin in group", 2, 0, 0, 0),
            (4, 2, T0 + 3000, T0 + 3000, OUTGOING, "me in group", 3, 0, 0, 0),
            (5, 2, T0 + 4000, T0 + 4000, 0x10000 | OUTGOING, None, 3, 0, 0, 0),
        ],
    )
    db.execute("INSERT INTO part VALUES (1, 4, 'image/png', ?, 'p.png', 1234, 0)", (len(PNG),))
    db.execute("INSERT INTO reaction VALUES (1, 1, 0, 1, '🎉', ?, ?)", (T0 + 50, T0 + 60))
    db.commit()
    db.close()
    return {1: PNG}


OLD_SCHEMA = """
    CREATE TABLE recipient (_id INTEGER PRIMARY KEY, group_type INTEGER DEFAULT 0, phone TEXT,
      uuid TEXT, group_id TEXT, system_display_name TEXT, signal_profile_name TEXT);
    CREATE TABLE groups (_id INTEGER PRIMARY KEY, group_id TEXT, recipient_id INTEGER, title TEXT);
    CREATE TABLE sms (_id INTEGER PRIMARY KEY, thread_id INTEGER, address TEXT, date INTEGER,
      date_sent INTEGER, type INTEGER, body TEXT{sms_extra});
    CREATE TABLE mms (_id INTEGER PRIMARY KEY, thread_id INTEGER, address TEXT, date INTEGER,
      date_received INTEGER, msg_box INTEGER, body TEXT, quote_id INTEGER DEFAULT 0,
      quote_author TEXT{mms_extra});
    CREATE TABLE part (_id INTEGER PRIMARY KEY, mid INTEGER, ct TEXT, data_size INTEGER,
      file_name TEXT, unique_id INTEGER, quote INTEGER DEFAULT 0);
"""


def build_sms_mms_db(path: Path) -> dict[int, bytes]:
    """DB 160: separate sms + mms (`date` swapped, `msg_box`, `address`), reaction table."""
    db = sqlite3.connect(path)
    db.executescript(
        "PRAGMA user_version = 160;"
        + OLD_SCHEMA.format(sms_extra="", mms_extra="")
        + """
        CREATE TABLE thread (_id INTEGER PRIMARY KEY, date INTEGER, thread_recipient_id INTEGER);
        CREATE TABLE reaction (_id INTEGER PRIMARY KEY, message_id INTEGER, is_mms INTEGER,
          author_id INTEGER, emoji TEXT, date_sent INTEGER, date_received INTEGER);
        CREATE TABLE mention (_id INTEGER PRIMARY KEY, thread_id INTEGER, message_id INTEGER,
          recipient_id INTEGER, range_start INTEGER, range_length INTEGER);
        """
    )
    db.executemany(
        "INSERT INTO recipient (_id, group_type, phone, uuid, group_id, system_display_name)"
        " VALUES (?,?,?,?,?,?)",
        [
            (1, 0, "+15550000021", None, None, None),
            (2, 0, "+15550000022", None, None, "Frank F"),
            (3, 2, None, None, "group-3", None),
        ],
    )
    db.execute("INSERT INTO groups VALUES (1, 'group-3', 3, 'Old Group')")
    db.executemany("INSERT INTO thread VALUES (?,?,?)", [(1, T0, 2), (2, T0, 3)])
    db.executemany(
        "INSERT INTO sms VALUES (?,?,?,?,?,?,?)",
        [  # sms `date` is the received time
            (1, 1, "2", T0 + 500, T0, INCOMING, "sms in"),
            (2, 1, "2", T0 + 1100, T0 + 1000, OUTGOING, "sms out"),
            (3, 1, "2", T0 + 1200, T0 + 1200, 0x40000 | OUTGOING, None),
        ],
    )
    db.executemany(
        "INSERT INTO mms VALUES (?,?,?,?,?,?,?,?,?)",
        [  # mms `date` is the sent time
            (1, 1, "2", T0 + 2000, T0 + 2100, OUTGOING, "mms out", T0, "2"),
            (2, 2, "2", T0 + 3000, T0 + 3300, INCOMING, "\ufffc group hi", 0, None),
        ],
    )
    db.execute("INSERT INTO part VALUES (1, 1, 'image/png', ?, 'p.png', 99, 0)", (len(PNG),))
    db.executemany(
        "INSERT INTO reaction VALUES (?,?,?,?,?,?,?)",
        [(1, 1, 0, 1, "👍", T0 + 600, T0 + 600), (2, 1, 1, 2, "😂", T0 + 2500, T0 + 2500)],
    )
    db.execute("INSERT INTO mention VALUES (1, 2, 2, 1, 0, 1)")
    db.commit()
    db.close()
    return {1: PNG}


def build_legacy_reactions_db(path: Path) -> dict[int, bytes]:
    """DB 100: sms + mms with protobuf `reactions` BLOBs, thread `recipient_ids`, no self row."""
    reactions = ReactionList()
    reactions.reactions.add(emoji="🔥", author=1, sentTime=T0 + 3000, receivedTime=T0 + 3001)
    db = sqlite3.connect(path)
    db.executescript(
        "PRAGMA user_version = 100;"
        + OLD_SCHEMA.format(sms_extra=", reactions BLOB", mms_extra=", reactions BLOB")
        + "CREATE TABLE thread (_id INTEGER PRIMARY KEY, date INTEGER, recipient_ids TEXT);"
    )
    db.execute(
        "INSERT INTO recipient (_id, phone, signal_profile_name) VALUES (1, '+15550000031', 'Gina')"
    )
    db.execute("INSERT INTO thread VALUES (1, ?, '1')", (T0,))
    db.execute(
        "INSERT INTO sms VALUES (1, 1, '1', ?, ?, ?, 'gina says hi', NULL)", (T0 + 9, T0, INCOMING)
    )
    db.execute(
        "INSERT INTO mms VALUES (1, 1, '1', ?, ?, ?, 'reply', 0, NULL, ?)",
        (T0 + 2000, T0 + 2000, OUTGOING, reactions.SerializeToString()),
    )
    db.commit()
    db.close()
    return {}


ERAS: dict[str, tuple[Callable[[Path], dict[int, bytes]], dict[str, str | int | bool | bytes]]] = {
    "message-230": (
        build_modern_db,
        {
            "account.aci": "ACI-SELF",
            "account.e164": "+15550000001",
            "misc.flag": True,
            "misc.n": -3,
            "misc.b": b"\x01",
        },
    ),
    "merged-mms-170": (build_merged_mms_db, {"account.aci": "ACI-SELF"}),
    "sms-mms-160": (build_sms_mms_db, {"account.e164": "+15550000021"}),
    "sms-mms-100": (build_legacy_reactions_db, {}),
}


@pytest.fixture(scope="module")
def processor() -> SignalProcessor:
    return SignalProcessor(KEYS)


def encode_era(era: str, directory: Path, backup_version: int) -> Path:
    build, key_values = ERAS[era]
    db_path = directory / f"{era}-v{backup_version}.sqlite"
    attachments = build(db_path)
    return encode_sqlite_to_backup(
        db_path,
        directory / f"{era}-v{backup_version}.backup",
        KEYS,
        backup_version=backup_version,
        iv=IV,
        salt=SALT,
        attachments=attachments,
        key_values=key_values,
    )


@pytest.fixture(scope="module", params=[0, 1], ids=["backup-v0", "backup-v1"])
def decoded_eras(
    request: pytest.FixtureRequest,
    processor: SignalProcessor,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, tuple[object, dict[str, pd.DataFrame]]]:
    directory = tmp_path_factory.mktemp(f"eras-v{request.param}")
    decoded = {}
    for era in ERAS:
        backup = encode_era(era, directory, request.param)
        result = processor.decode(backup, directory / f"{era}-out")
        decoded[era] = (result, read_tables(result.out_dir))
    return decoded


def message_rows(tables: dict[str, pd.DataFrame]) -> list[tuple[object, ...]]:
    frame = tables["messages"]
    quotes = frame["quote_message_id"].astype(object).where(frame["quote_message_id"].notna(), None)
    return list(
        zip(
            frame["message_id"],
            frame["thread_id"],
            frame["sender_id"],
            frame["is_outgoing"],
            frame["body"],
            quotes,
            frame["attachment_count"],
            frame["edited"],
            strict=True,
        )
    )


def ms(frame: pd.DataFrame, column: str) -> list[int | None]:
    return [None if pd.isna(t) else int(t.value // 1_000_000) for t in frame[column]]


# -- era round trips -----------------------------------------------------------------------


def test_modern_message_table_keeps_only_chat_messages(decoded_eras: dict) -> None:
    result, tables = decoded_eras["message-230"]
    assert result.database_version == 230
    assert message_rows(tables) == [
        (1, 1, 2, False, "hi there", None, 0, False),
        (2, 1, 1, True, "hello Bob", 1, 1, False),
        (5, 2, 3, False, "\ufffc look", None, 1, False),
        (9, 2, 1, True, "fixed", None, 0, True),
        (10, 2, 5, False, LONG_TEXT, 9, 0, False),
    ]
    messages = tables["messages"]
    assert ms(messages, "sent_at")[:2] == [T0, T0 + 1000]
    assert ms(messages, "received_at")[0] == T0 + 500


def test_modern_recipients_threads_and_dependents(decoded_eras: dict) -> None:
    _, tables = decoded_eras["message-230"]
    recipients = tables["recipients"].set_index("recipient_id")
    assert recipients["is_self"].tolist() == [True, False, False, False, False]
    assert recipients["display_name"].tolist() == ["Me", "Bobby", "Carol C", "Friends", "dave.01"]
    assert recipients.loc[4, "is_group"] and recipients.loc[4, "group_title"] == "Friends"
    assert recipients.loc[2, "nickname"] == "Bobby" and recipients.loc[2, "aci"] == "aci-bob"
    threads = tables["threads"]
    assert threads[["thread_id", "recipient_id", "is_group", "title"]].values.tolist() == [
        [1, 2, False, "Bobby"],
        [2, 4, True, "Friends"],
    ]
    reactions = tables["reactions"]
    assert reactions[["message_id", "author_id", "emoji"]].values.tolist() == [
        [2, 2, "👍"],
        [9, 3, "❤️"],  # the reaction on the superseded revision follows the edit
    ]
    assert tables["mentions"].values.tolist() == [[5, 5, 0, 1]]
    attachments = tables["attachments"]
    assert attachments["attachment_id"].tolist() == [1, 4]
    assert Path(attachments.iloc[0]["path"]).read_bytes() == PNG
    assert pd.isna(attachments.iloc[1]["path"])


def test_modern_sqlite_keeps_values_schema_and_side_tables(decoded_eras: dict) -> None:
    result, _ = decoded_eras["message-230"]
    with sqlite3.connect(result.db_path) as db:
        row = db.execute("SELECT date_server, score, extras FROM message WHERE _id = 2").fetchone()
        key_values = dict(db.execute("SELECT key, value FROM astrabot_key_value"))
        names = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
        fts_hits = db.execute(
            "SELECT count(*) FROM message_fts WHERE message_fts MATCH 'fixed'"
        ).fetchone()
    assert row == (-5, 0.5, b"\x00\xff")
    assert key_values == {
        "account.aci": "ACI-SELF",
        "account.e164": "+15550000001",
        "misc.flag": 1,
        "misc.n": -3,
        "misc.b": b"\x01",
    }
    assert {"message_thread_index", "message_fts"} <= names
    assert "message_ai" not in names  # the backup's triggers never run nor stay
    assert fts_hits == (1,)  # external-content FTS reads the restored rows


def test_merged_mms_table(decoded_eras: dict) -> None:
    result, tables = decoded_eras["merged-mms-170"]
    assert result.database_version == 170
    assert message_rows(tables) == [
        (1, 1, 2, False, "from erin", None, 0, False),
        (2, 1, 1, True, "to erin", 1, 0, False),
        (3, 2, 2, False, "erin in group", None, 0, False),
        (4, 2, 1, True, "me in group", None, 1, False),
    ]
    recipients = tables["recipients"].set_index("recipient_id")
    assert recipients["display_name"].tolist() == ["Me", "Erin E", "Team"]
    assert recipients["is_self"].tolist() == [True, False, False]
    assert recipients.loc[2, "e164"] == "+15550000012" and recipients.loc[2, "aci"] == "aci-erin"
    assert tables["reactions"][["message_id", "author_id"]].values.tolist() == [[1, 1]]
    assert Path(tables["attachments"].iloc[0]["path"]).read_bytes() == PNG


def test_separate_sms_and_mms_tables(decoded_eras: dict) -> None:
    _, tables = decoded_eras["sms-mms-160"]
    # sms ids are shifted past the largest mms id (3 = 2 + 1), as Signal's V168 migration does
    assert message_rows(tables) == [
        (1, 1, 1, True, "mms out", 4, 1, False),
        (2, 2, 2, False, "\ufffc group hi", None, 0, False),
        (4, 1, 2, False, "sms in", None, 0, False),
        (5, 1, 1, True, "sms out", None, 0, False),
    ]
    messages = tables["messages"].set_index("message_id")
    assert ms(messages.loc[[4]], "sent_at") == [T0]  # sms: date_sent
    assert ms(messages.loc[[4]], "received_at") == [T0 + 500]  # sms: `date`
    assert ms(messages.loc[[1]], "sent_at") == [T0 + 2000]  # mms: `date`
    assert ms(messages.loc[[1]], "received_at") == [T0 + 2100]  # mms: date_received
    assert tables["reactions"][["message_id", "author_id"]].values.tolist() == [[4, 1], [1, 2]]
    assert tables["mentions"].values.tolist() == [[2, 1, 0, 1]]
    assert tables["threads"][
        ["thread_id", "recipient_id", "is_group", "title"]
    ].values.tolist() == [
        [1, 2, False, "Frank F"],
        [2, 3, True, "Old Group"],
    ]


def test_legacy_reaction_blobs_and_missing_self_recipient(decoded_eras: dict) -> None:
    result, tables = decoded_eras["sms-mms-100"]
    assert message_rows(tables) == [
        (1, 1, 2, True, "reply", None, 0, False),
        (3, 1, 1, False, "gina says hi", None, 0, False),  # sms 1 + (max mms id 1) + 1
    ]
    recipients = tables["recipients"].set_index("recipient_id")
    assert recipients.loc[2, "is_self"] and pd.isna(recipients.loc[2, "display_name"])
    assert any("placeholder" in warning for warning in result.warnings)
    assert tables["reactions"][["message_id", "author_id", "emoji"]].values.tolist() == [
        [1, 1, "🔥"]
    ]
    assert tables["threads"]["recipient_id"].tolist() == [1]


# -- failure modes ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_backups(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    directory = tmp_path_factory.mktemp("small")
    return {version: encode_era("merged-mms-170", directory, version) for version in (0, 1)}


def frame_offsets(backup: Path) -> list[int]:
    """Byte offsets where encrypted frames start (recorded by reading the backup)."""
    reader = BackupReader(backup, KEYS)
    offsets = []
    with reader:
        reader.open()
        offsets.append(reader.bytes_read)
        for _ in reader.events():
            offsets.append(reader.bytes_read)
    return offsets[:-1]


@pytest.mark.parametrize("version", [0, 1])
def test_wrong_passphrase_leaves_previous_output_untouched(
    version: int, processor: SignalProcessor, small_backups: dict[int, Path], tmp_path: Path
) -> None:
    out_dir = tmp_path / "decoded"
    processor.decode(small_backups[version], out_dir)
    before = sorted(p.relative_to(out_dir) for p in out_dir.rglob("*"))
    with pytest.raises(WrongPassphraseError):
        SignalProcessor("11111 11111 11111 11111 11111 11111").decode(
            small_backups[version], out_dir
        )
    assert sorted(p.relative_to(out_dir) for p in out_dir.rglob("*")) == before
    with pytest.raises(WrongPassphraseError):
        SignalProcessor("11111 11111 11111 11111 11111 11111").decode(
            small_backups[version], tmp_path / "new"
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["decoded"]


@pytest.mark.parametrize("version", [0, 1])
def test_truncated_backup_is_reported_and_leaves_no_output(
    version: int, processor: SignalProcessor, small_backups: dict[int, Path], tmp_path: Path
) -> None:
    data = small_backups[version].read_bytes()
    offsets = frame_offsets(small_backups[version])
    cases = {"mid-frame": data[: offsets[5] + 7], "no-end-frame": data[: offsets[-1]]}
    for name, truncated in cases.items():
        backup = tmp_path / f"{name}.backup"
        backup.write_bytes(truncated)
        with pytest.raises(TruncatedBackupError):
            processor.decode(backup, tmp_path / f"{name}-out")
        assert not (tmp_path / f"{name}-out").exists()


def blob_end(backup: Path) -> int:
    """Byte offset just after the first attachment blob and its MAC."""
    events = list(BackupReader(backup, KEYS))
    blob_index = next(i for i, event in enumerate(events) if isinstance(event, BlobEvent))
    return frame_offsets(backup)[blob_index + 1]


def test_truncated_attachment_blob_is_reported(
    processor: SignalProcessor, small_backups: dict[int, Path], tmp_path: Path
) -> None:
    data = small_backups[1].read_bytes()
    backup = tmp_path / "cut.backup"
    backup.write_bytes(data[: blob_end(small_backups[1]) - 10 - len(PNG) + 5])
    with pytest.raises(TruncatedBackupError, match="attachment"):
        processor.decode(backup, tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("version", [0, 1])
def test_bit_flip_is_a_corrupt_frame_after_frame_one(
    version: int, processor: SignalProcessor, small_backups: dict[int, Path], tmp_path: Path
) -> None:
    data = bytearray(small_backups[version].read_bytes())
    offsets = frame_offsets(small_backups[version])
    data[offsets[4] + 10] ^= 0x01  # inside the body of frame 5
    backup = tmp_path / "flipped.backup"
    backup.write_bytes(bytes(data))
    with pytest.raises(CorruptFrameError) as caught:
        processor.decode(backup, tmp_path / "out")
    assert caught.value.frame_index == 5 and caught.value.offset == offsets[4]
    assert not (tmp_path / "out").exists()
    report = processor.validate_integrity(backup)
    assert not report.ok and isinstance(report.error, CorruptFrameError)


@pytest.mark.parametrize("version", [0, 1])
def test_bit_flip_in_first_frame_reads_as_wrong_passphrase(
    version: int, processor: SignalProcessor, small_backups: dict[int, Path], tmp_path: Path
) -> None:
    data = bytearray(small_backups[version].read_bytes())
    data[frame_offsets(small_backups[version])[0] + 5] ^= 0x80
    backup = tmp_path / "flipped.backup"
    backup.write_bytes(bytes(data))
    with pytest.raises(WrongPassphraseError):
        processor.decode(backup, tmp_path / "out")


def test_corrupt_attachment_blob_fails_its_mac(
    processor: SignalProcessor, small_backups: dict[int, Path], tmp_path: Path
) -> None:
    data = bytearray(small_backups[1].read_bytes())
    data[blob_end(small_backups[1]) - 11] ^= 0x10  # the last byte of the blob
    backup = tmp_path / "blob.backup"
    backup.write_bytes(bytes(data))
    with pytest.raises(CorruptFrameError, match="attachment data"):
        processor.decode(backup, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    unverified = SignalProcessor(KEYS, extract_attachments=False, verify_mac=False)
    assert unverified.decode(backup, tmp_path / "unverified").row_counts["messages"] == 4


def test_unsupported_inputs_are_named(processor: SignalProcessor, tmp_path: Path) -> None:
    future = tmp_path / "future.backup"
    with BackupWriter(future, KEYS, backup_version=2, iv=IV, salt=SALT) as writer:
        writer.end()
    v2 = tmp_path / "v2.backup"
    v2.write_bytes(b"SBACKUP\x01" + bytes(64))
    folder = tmp_path / "signal-backup-2025-01-01-00-00-00"
    folder.mkdir()
    garbage = tmp_path / "random.backup"
    garbage.write_bytes(bytes(range(256)) * 4)
    for path, pattern in [
        (future, "format version is newer"),  # the number itself is not quoted
        (folder, "not a supported input"),
        (garbage, "not a Signal"),
    ]:
        with pytest.raises(UnsupportedBackupError, match=pattern):
            processor.decode(path, tmp_path / "out")
    # A backup-v2 file is recognised and routed; a legacy passphrase cannot open it.
    with pytest.raises(PassphraseFormatError, match="backup-v2"):
        processor.decode(v2, tmp_path / "out")
    empty = tmp_path / "empty.backup"
    empty.write_bytes(b"")
    with pytest.raises(TruncatedBackupError):
        processor.decode(empty, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_writer_and_reader_agree_on_parameter_types(tmp_path: Path) -> None:
    backup = tmp_path / "params.backup"
    params = (None, 0, -1, 2**63 - 1, -(2**63), 1.25, "", "żółw 🐢", b"", b"\x00\x01", True)
    with BackupWriter(backup, KEYS, iv=IV, salt=SALT) as writer:
        writer.write_database_version(1)
        writer.write_statement("INSERT INTO t VALUES (?)", params)
        writer.write_preference("prefs", "set", ["a", "b"])
        writer.write_sticker(7, b"sticker")
        writer.write_frame_bytes(b"\x78\x01")  # only an unknown field (15): skipped
        writer.end()
    reader = BackupReader(backup, KEYS, blob_dir=tmp_path / "blobs")
    events = list(reader)
    statement = next(e for e in events if isinstance(e, StatementEvent))
    assert statement.params == (
        None,
        0,
        -1,
        2**63 - 1,
        -(2**63),
        1.25,
        "",
        "żółw 🐢",
        b"",
        b"\x00\x01",
        1,
    )
    assert (tmp_path / "blobs" / "stickers" / "7.bin").read_bytes() == b"sticker"
    assert reader.complete and len(reader.warnings) == 1


# -- property-based damage -----------------------------------------------------------------


def assert_only_backup_errors(processor: SignalProcessor, data: bytes, parent: Path) -> None:
    """Decoding damaged bytes raises nothing but BackupError and leaves no output behind."""
    directory = Path(tempfile.mkdtemp(dir=parent))
    backup = directory / "damaged.backup"
    backup.write_bytes(data)
    try:
        processor.decode(backup, directory / "out")
    except BackupError:
        assert sorted(p.name for p in directory.iterdir()) == ["damaged.backup"]
    else:  # a flip in a byte nobody authenticates (e.g. an unused header field)
        assert (directory / "out" / "tables").is_dir()
    shutil.rmtree(directory)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(version=st.sampled_from([0, 1]), cut=st.floats(min_value=0.0, max_value=0.9999))
def test_any_truncation_raises_only_backup_errors(
    version: int,
    cut: float,
    processor: SignalProcessor,
    small_backups: dict[int, Path],
    tmp_path: Path,
) -> None:
    data = small_backups[version].read_bytes()
    directory = Path(tempfile.mkdtemp(dir=tmp_path))
    backup = directory / "cut.backup"
    backup.write_bytes(data[: int(len(data) * cut)])
    with pytest.raises(BackupError):
        processor.decode(backup, directory / "out")
    assert [p.name for p in directory.iterdir()] == ["cut.backup"]
    shutil.rmtree(directory)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    version=st.sampled_from([0, 1]),
    position=st.floats(min_value=0.0, max_value=0.9999),
    bit=st.integers(0, 7),
)
def test_any_bit_flip_raises_only_backup_errors(
    version: int,
    position: float,
    bit: int,
    processor: SignalProcessor,
    small_backups: dict[int, Path],
    tmp_path: Path,
) -> None:
    data = bytearray(small_backups[version].read_bytes())
    data[int(len(data) * position)] ^= 1 << bit
    assert_only_backup_errors(processor, bytes(data), tmp_path)


@pytest.mark.parametrize("version", [0, 1])
def test_truncation_at_every_frame_boundary_and_inside_every_frame_is_reported(
    version: int, processor: SignalProcessor, small_backups: dict[int, Path], tmp_path: Path
) -> None:
    """Every cut: exactly at each frame start, and a few bytes into it."""
    data = small_backups[version].read_bytes()
    for offset in frame_offsets(small_backups[version]):
        for cut in (offset, offset + 3, offset + 11):
            backup = tmp_path / "cut.backup"
            backup.write_bytes(data[:cut])
            with pytest.raises(BackupError) as caught:
                processor.decode(backup, tmp_path / "out")
            assert isinstance(caught.value, TruncatedBackupError | CorruptFrameError)
            assert sorted(p.name for p in tmp_path.iterdir()) == ["cut.backup"]


def test_absurd_frame_lengths_are_refused_without_allocating_them(
    processor: SignalProcessor, small_backups: dict[int, Path], tmp_path: Path
) -> None:
    """A v0 length field claiming 4 GiB (or 0) stops at once with a typed error."""
    data = bytearray(small_backups[0].read_bytes())
    second_frame = frame_offsets(small_backups[0])[1]
    for absurd in (0xFFFFFFFF, 0x7FFFFFFF, 0, 5):
        data[second_frame : second_frame + 4] = absurd.to_bytes(4, "big")
        backup = tmp_path / "absurd.backup"
        backup.write_bytes(bytes(data))
        with pytest.raises(BackupError):
            processor.decode(backup, tmp_path / "out")
        assert not (tmp_path / "out").exists()
