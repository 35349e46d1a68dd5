"""Decode the shared, independently cross-validated synthetic backups exactly (docs/backup-formats.md §9.2)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from astrabot_pipeline.signal import (
    DecodeResult,
    SignalProcessor,
    WrongPassphraseError,
    read_tables,
)
from astrabot_pipeline_tests.conftest import SHARED_DIR

LEGACY = SHARED_DIR / "fixtures" / "legacy"
PASSPHRASE = "12345 67890 12345 67890 12345 67890"
INCOMING_BODY = 'Hello from Alice, with a comma, and "quotes"'
OUTGOING_BODY = "Hi Alice, sending a picture"

if not LEGACY.is_dir():
    pytest.skip(
        f"shared fixtures not found at {LEGACY} (../shared is absent)", allow_module_level=True
    )


@pytest.fixture(scope="module")
def processor() -> SignalProcessor:
    return SignalProcessor(PASSPHRASE)


@pytest.fixture(scope="module", params=[0, 1], ids=["backup-v0", "backup-v1"])
def decoded(
    request: pytest.FixtureRequest,
    processor: SignalProcessor,
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[int, DecodeResult]:
    version = request.param
    out_dir = tmp_path_factory.mktemp(f"v{version}") / "decoded"
    return version, processor.decode(LEGACY / f"synthetic-v{version}.backup", out_dir)


def test_decode_reports_versions_and_all_frames(decoded: tuple[int, DecodeResult]) -> None:
    version, result = decoded
    assert result.backup_version == version
    assert result.database_version == 230
    assert result.frames == 17
    assert result.bytes_read == (LEGACY / f"synthetic-v{version}.backup").stat().st_size
    assert result.warnings == ()
    assert result.row_counts == {
        "messages": 2,
        "recipients": 2,
        "threads": 1,
        "reactions": 1,
        "mentions": 0,
        "attachments": 1,
        "recipient_names": 6,
    }


def test_messages_have_bodies_direction_and_quote_link(decoded: tuple[int, DecodeResult]) -> None:
    messages = read_tables(decoded[1].out_dir)["messages"].set_index("message_id")
    incoming, outgoing = messages.loc[1], messages.loc[2]
    assert incoming["body"] == INCOMING_BODY
    assert outgoing["body"] == OUTGOING_BODY
    assert not incoming["is_outgoing"] and outgoing["is_outgoing"]
    assert incoming["sender_id"] == 2 and outgoing["sender_id"] == 1
    assert outgoing["quote_message_id"] == 1
    assert pd.isna(incoming["quote_message_id"])
    assert incoming["sent_at"] == pd.Timestamp(1_700_000_000_000, unit="ms", tz="UTC")
    assert incoming["received_at"] == pd.Timestamp(1_700_000_000_500, unit="ms", tz="UTC")
    assert (incoming["attachment_count"], outgoing["attachment_count"]) == (0, 1)
    assert not messages["edited"].any()
    assert (messages["thread_id"] == 1).all()


def test_negative_integer_parameter_is_restored(decoded: tuple[int, DecodeResult]) -> None:
    with sqlite3.connect(decoded[1].db_path) as connection:
        rows = dict(connection.execute("SELECT _id, date_server FROM message"))
        user_version = connection.execute("PRAGMA user_version").fetchone()[0]
    assert rows == {1: 1_700_000_000_100, 2: -1}
    assert user_version == 230


def test_message_types_are_kept_verbatim(decoded: tuple[int, DecodeResult]) -> None:
    with sqlite3.connect(decoded[1].db_path) as connection:
        types = dict(connection.execute("SELECT _id, type FROM message"))
    assert types == {1: 10485780, 2: 10485783}


def test_attachment_blob_is_the_png(decoded: tuple[int, DecodeResult]) -> None:
    attachments = read_tables(decoded[1].out_dir)["attachments"]
    assert len(attachments) == 1
    row = attachments.iloc[0]
    assert (row["attachment_id"], row["message_id"]) == (1, 2)
    assert row["content_type"] == "image/png" and row["size"] == 67
    blob = Path(row["path"]).read_bytes()
    assert len(blob) == 67 and blob.startswith(b"\x89PNG")


def test_avatar_blob_is_extracted(decoded: tuple[int, DecodeResult]) -> None:
    avatar = decoded[1].out_dir / "avatars" / "2.bin"
    assert avatar.read_bytes().startswith(b"\x89PNG") and avatar.stat().st_size == 67


def test_reaction_and_key_value(decoded: tuple[int, DecodeResult]) -> None:
    reactions = read_tables(decoded[1].out_dir)["reactions"]
    assert reactions[["message_id", "author_id", "emoji"]].values.tolist() == [[2, 2, "👍"]]
    with sqlite3.connect(decoded[1].db_path) as connection:
        keys = dict(connection.execute("SELECT key, value_type FROM astrabot_key_value"))
    assert keys == {"account.e164": "string"}


def test_recipients_and_threads(decoded: tuple[int, DecodeResult]) -> None:
    tables = read_tables(decoded[1].out_dir)
    recipients = tables["recipients"].set_index("recipient_id")
    assert recipients.loc[1, "is_self"] and not recipients.loc[2, "is_self"]
    assert not recipients["is_group"].any()
    assert recipients.loc[2, "given_name"] == "Alice"
    assert recipients.loc[2, "family_name"] == "Example"
    assert recipients.loc[2, "display_name"] == "Alice"  # system name beats profile name
    assert recipients.loc[2, "e164"] == "+15550000002"
    threads = tables["threads"]
    assert threads[["thread_id", "recipient_id", "is_group"]].values.tolist() == [[1, 2, False]]
    assert threads.iloc[0]["title"] == "Alice"


def test_integrity_check_passes_and_writes_nothing(
    processor: SignalProcessor, tmp_path: Path
) -> None:
    for version in (0, 1):
        report = processor.validate_integrity(LEGACY / f"synthetic-v{version}.backup")
        assert report.ok and report.error is None
        assert (report.frames, report.statements, report.blobs, report.key_values) == (17, 12, 2, 1)
        assert report.bytes_read == report.file_size


@pytest.mark.parametrize("version", [0, 1])
def test_wrong_passphrase_is_reported_before_any_output(version: int, tmp_path: Path) -> None:
    out_dir = tmp_path / "decoded"
    processor = SignalProcessor("00000 00000 00000 00000 00000 00001")
    with pytest.raises(WrongPassphraseError, match="SIGNAL_BACKUP_PASSPHRASE"):
        processor.decode(LEGACY / f"synthetic-v{version}.backup", out_dir)
    assert not out_dir.exists()
    assert list(tmp_path.iterdir()) == []


def test_every_name_form_of_a_recipient_is_listed(decoded: tuple[int, DecodeResult]) -> None:
    names = read_tables(decoded[1].out_dir)["recipient_names"]
    alice = names[names["recipient_id"] == 2]
    assert set(alice["name"]) == {"Alice", "Example", "Alice Example"}
    assert set(alice["source"]) >= {"system_joined", "given_name", "family_name"}
