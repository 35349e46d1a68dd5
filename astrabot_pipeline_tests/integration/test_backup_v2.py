"""Backup v2: libsignal's real encrypted test cases and jsonproto frames (docs/backup-formats.md §9.5)."""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from astrabot_pipeline.signal.backup_v2 import (
    ForwardSecrecyTokenRequiredError,
    MissingAciError,
    MissingRecoveryKeyError,
    container,
    decode_backup_v2,
    derive_account_backup_key,
    derive_backup_id,
    derive_message_backup_key,
    frames,
    jsonl,
    message_backup_key_for,
    normalize_frames,
    normalize_recovery_key,
    read_backup_frames,
)
from astrabot_pipeline.signal.backup_v2.keys import aci_bytes
from astrabot_pipeline.signal.errors import PassphraseFormatError, WrongPassphraseError
from astrabot_pipeline.signal.tables import SCHEMAS, TABLE_NAMES
from astrabot_pipeline_tests.conftest import SHARED_DIR

FIXTURES = SHARED_DIR / "fixtures" / "backup-v2"
JSONPROTO = FIXTURES / "jsonproto"
RECOVERY_KEY = "m" * 64
ACI = "11111111-1111-1111-1111-111111111111"
FORWARD_SECRECY_TOKEN = b"\xab" * 32
ENCRYPTED = ["legacy-account", "new-account"]

if not FIXTURES.is_dir():
    pytest.skip(
        f"backup-v2 fixtures not found at {FIXTURES} (../shared is absent)",
        allow_module_level=True,
    )


def _encrypted(name: str) -> Path:
    return FIXTURES / f"{name}.binproto.encrypted"


def _json_objects(path: Path) -> list[dict]:
    return json.loads(jsonl.strip_json_comments(path.read_text(encoding="utf-8")))


def _decode_objects(objects: list[dict]):
    info, frames = jsonl.parse_json_objects(objects)
    return normalize_frames(info, frames)


# -- keys --------------------------------------------------------------------------------


def test_derived_keys_match_the_documented_vectors() -> None:
    backup_key = derive_account_backup_key(normalize_recovery_key(RECOVERY_KEY))
    backup_id = derive_backup_id(backup_key, aci_bytes(ACI))
    keys = derive_message_backup_key(backup_key, backup_id)
    assert backup_key.hex() == "2afc757bc8e86cc317848227ab79c41298d6b0688c5f40960c600966512bd736"
    assert backup_id.hex() == "687b4288aab129fd7dcb3941aa3c7e39"
    assert keys.hmac_key.hex() == (
        "bfb00e1f5fb1db5e59fef8f9b11deb32cf75a7344a0b909f9ebbb3c0a31461a7"
    )
    assert keys.aes_key.hex() == (
        "0127f5d81d408be7a96de0217db1b03f3d5be252f5654470d476d39249269d40"
    )
    assert keys.hmac_key.hex() not in repr(keys)


def test_libsignal_unit_vector_matches_its_published_prefixes_and_suffixes() -> None:
    aep = "dtjs858asj6tv0jzsqrsmj0ubp335pisj98e9ssnss8myoc08drhtcktyawvx45l"
    backup_key = derive_account_backup_key(normalize_recovery_key(aep))
    backup_id = derive_backup_id(backup_key, aci_bytes("659aa5f4-a28d-fcc1-1ea1-b997537a3d95"))
    keys = derive_message_backup_key(backup_key, backup_id)
    assert keys.hmac_key.hex().startswith("f425e22a")
    assert keys.hmac_key.hex().endswith("3026649")
    assert keys.aes_key.hex().startswith("e143f4ad")
    assert keys.aes_key.hex().endswith("5fd6df")


def test_recovery_key_in_display_form_normalizes_to_the_pool() -> None:
    shown = " ".join(["MMMM"] * 16)
    assert normalize_recovery_key(shown) == b"m" * 64
    assert normalize_recovery_key("=#" * 32) == b"0o" * 32


def test_a_30_digit_passphrase_for_a_v2_backup_explains_the_recovery_key() -> None:
    with pytest.raises(PassphraseFormatError, match="64-character recovery key"):
        decode_backup_v2(
            _encrypted("legacy-account"),
            Path("unused"),
            recovery_key="12345 67890 12345 67890 12345 67890",
            aci=ACI,
        )


# -- encrypted container -------------------------------------------------------------------


@pytest.mark.parametrize("name", ENCRYPTED)
def test_encrypted_fixture_decrypts_to_its_source_frames(name: str) -> None:
    info, frames = read_backup_frames(
        _encrypted(name),
        recovery_key=RECOVERY_KEY,
        aci=ACI,
        forward_secrecy_token=FORWARD_SECRECY_TOKEN,
    )
    decrypted = [info, *frames]
    source_path = FIXTURES / f"{name}.binproto.encrypted.source.jsonproto"
    expected_info, expected_frames = jsonl.read_json_array(source_path.read_text("utf-8"))
    expected = [expected_info, *expected_frames]
    kinds = [frame.WhichOneof("item") for frame in decrypted[1:]]
    assert kinds == [frame.WhichOneof("item") for frame in expected[1:]]
    assert kinds == ["account", "recipient", "chat"]
    for message in decrypted:
        message.DiscardUnknownFields()
    assert decrypted == expected
    assert info.version == 1 and info.backupTimeMs == 1705692409729


def test_remote_backup_metadata_is_parsed_and_its_token_is_required() -> None:
    layout = container.inspect_container(_encrypted("new-account"))
    assert layout.has_forward_secrecy and layout.forward_secrecy_pairs == 1
    assert not container.inspect_container(_encrypted("legacy-account")).has_forward_secrecy
    with pytest.raises(ForwardSecrecyTokenRequiredError, match="forward-secrecy token"):
        read_backup_frames(_encrypted("new-account"), recovery_key=RECOVERY_KEY, aci=ACI)


@pytest.mark.parametrize(
    ("recovery_key", "aci"),
    [("n" * 64, ACI), (RECOVERY_KEY, "22222222-2222-2222-2222-222222222222")],
    ids=["wrong-recovery-key", "wrong-aci"],
)
def test_wrong_key_is_reported_before_anything_is_decrypted(
    recovery_key: str, aci: str, tmp_path: Path
) -> None:
    with pytest.raises(WrongPassphraseError, match="recovery key or SIGNAL_ACI"):
        decode_backup_v2(_encrypted("legacy-account"), tmp_path, recovery_key=recovery_key, aci=aci)


def test_a_tampered_ciphertext_fails_authentication(tmp_path: Path) -> None:
    data = bytearray(_encrypted("legacy-account").read_bytes())
    data[40] ^= 0x01
    tampered = tmp_path / "main"
    tampered.write_bytes(bytes(data))
    with pytest.raises(WrongPassphraseError):
        decode_backup_v2(tampered, tmp_path, recovery_key=RECOVERY_KEY, aci=ACI)


def test_missing_aci_and_missing_recovery_key_say_what_to_set(tmp_path: Path) -> None:
    with pytest.raises(MissingAciError, match="SIGNAL_ACI"):
        decode_backup_v2(
            _encrypted("legacy-account"), tmp_path, recovery_key=RECOVERY_KEY, aci=None
        )
    with pytest.raises(MissingRecoveryKeyError, match="SIGNAL_BACKUP_PASSPHRASE"):
        decode_backup_v2(_encrypted("legacy-account"), tmp_path, recovery_key=None, aci=ACI)


def test_on_device_backup_folder_decodes_its_newest_snapshot(tmp_path: Path) -> None:
    root = tmp_path / "SignalBackups"
    for stamp in ("2025-01-01-00-00-00", "2025-02-01-00-00-00"):
        snapshot = root / f"signal-backup-{stamp}"
        snapshot.mkdir(parents=True)
        shutil.copy(_encrypted("legacy-account"), snapshot / "main")
    backup = decode_backup_v2(root, tmp_path / "work", recovery_key=RECOVERY_KEY, aci=ACI)
    assert set(backup.tables) == set(TABLE_NAMES)
    assert backup.database_version == 1
    assert backup.self_id == 2
    assert len(backup.tables["messages"]) == 0
    recipients = backup.tables["recipients"]
    assert recipients.loc[recipients["is_self"], "aci"].tolist() == [ACI]
    assert backup.tables["threads"][["thread_id", "recipient_id"]].values.tolist() == [[1, 2]]


def test_records_split_across_any_chunk_boundary_are_reassembled() -> None:
    records = [b"", b"x" * 200, b"abc", b"y" * 20000]
    stream = b"".join(_varint(len(r)) + r for r in records)
    one_byte_chunks = (stream[i : i + 1] for i in range(len(stream)))
    assert list(container.delimited_records(one_byte_chunks)) == records


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


# -- jsonproto frames ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "is_outgoing"),
    [("incoming-message-with-edits", False), ("outgoing-message-with-edits", True)],
)
def test_edited_message_is_one_row_with_its_latest_text(name: str, is_outgoing: bool) -> None:
    backup = _decode_objects(_json_objects(JSONPROTO / f"{name}.jsonproto"))
    messages = backup.tables["messages"]
    assert len(messages) == 1
    row = messages.iloc[0]
    assert row["body"].startswith("Latest revision")
    assert bool(row["edited"]) and bool(row["is_outgoing"]) == is_outgoing
    assert row["sent_at"].value // 1_000_000 == 3000
    assert row["sender_id"] == (backup.self_id if is_outgoing else 4)
    reactions = backup.tables["reactions"]
    assert sorted(reactions["emoji"]) == sorted(["👀", "🥂"])
    assert set(reactions["author_id"]) == {1, 4}
    for table, frame in backup.tables.items():
        assert list(frame.columns) == SCHEMAS[table].names


def test_incoming_edit_mentions_resolve_to_the_mentioned_contact() -> None:
    backup = _decode_objects(_json_objects(JSONPROTO / "incoming-message-with-edits.jsonproto"))
    mentions = backup.tables["mentions"]
    assert mentions[["recipient_id", "start", "length"]].values.tolist() == [[5, 17, 1]]
    assert backup.tables["messages"].iloc[0]["received_at"].value // 1_000_000 == 3002
    threads = backup.tables["threads"]
    assert threads[["is_group", "title"]].values.tolist() == [[True, "Millenium Falcon Mechanics"]]
    recipients = backup.tables["recipients"].set_index("recipient_id")
    assert recipients.loc[5, "aci"] == "0ae8c6c8-2707-4ea7-b224-7417227d3890"
    assert recipients.loc[1, "display_name"] == "Boba Fett" and recipients.loc[1, "is_self"]
    names = backup.tables["recipient_names"]
    assert {"Han", "Solo", "Chew", "Bacca", "Boba", "Fett"} <= set(names["name"])


@pytest.mark.parametrize(
    "name", ["simple-chat-update-message", "expiration-timer-chat-update-message"]
)
def test_update_items_are_not_messages(name: str) -> None:
    backup = _decode_objects(_json_objects(JSONPROTO / f"{name}.jsonproto"))
    assert len(backup.tables["messages"]) == 0
    assert len(backup.tables["threads"]) >= 1
    assert backup.self_id == 1


def test_quotes_resolve_via_any_revision_and_attachments_are_listed() -> None:
    objects = _json_objects(JSONPROTO / "outgoing-message-with-edits.jsonproto")
    objects.append(
        {
            "chatItem": {
                "chatId": "1",
                "authorId": "4",
                "dateSent": "5000",
                "incoming": {"dateReceived": "5001"},
                "standardMessage": {
                    "quote": {"targetSentTimestamp": "1000", "authorId": "1", "type": "NORMAL"},
                    "text": {"body": "nice https://example.org/a//b"},
                    "attachments": [
                        {
                            "pointer": {
                                "contentType": "image/png",
                                "fileName": "cat.png",
                                "locatorInfo": {"size": 67},
                            },
                            "flag": "NONE",
                        }
                    ],
                },
            }
        }
    )
    backup = _decode_objects(objects)
    messages = backup.tables["messages"].set_index("message_id")
    assert messages.loc[2, "quote_message_id"] == 1
    assert messages.loc[2, "attachment_count"] == 1
    assert messages.loc[2, "body"] == "nice https://example.org/a//b"
    attachments = backup.tables["attachments"]
    assert attachments[["message_id", "content_type", "file_name", "size"]].values.tolist() == [
        [2, "image/png", "cat.png", 67]
    ]
    assert attachments["path"].isna().all()


def test_plaintext_export_zip_and_bare_jsonl_decode_like_the_frames(tmp_path: Path) -> None:
    objects = _json_objects(JSONPROTO / "incoming-message-with-edits.jsonproto")
    lines = "\n".join(json.dumps(obj, ensure_ascii=False) for obj in objects) + "\n"
    export = tmp_path / "signal-export.zip"
    with zipfile.ZipFile(export, "w") as archive:
        archive.writestr("metadata.json", json.dumps({"version": 1}))
        archive.writestr("main.jsonl", lines)
    bare = tmp_path / "main.jsonl"
    bare.write_text(lines, encoding="utf-8")
    expected = _decode_objects(objects)
    for path in (export, bare, tmp_path):
        backup = decode_backup_v2(path, tmp_path / "work", recovery_key=None, aci=None)
        for table in TABLE_NAMES:
            assert backup.tables[table].equals(expected.tables[table]), table


def test_comment_stripping_keeps_slashes_and_commas_inside_strings() -> None:
    text = '[{"a": "x//y, ]", // note\n "b": [1, 2,],}, // end\n]'
    assert json.loads(jsonl.strip_json_comments(text)) == [{"a": "x//y, ]", "b": [1, 2]}]


def test_a_multi_chunk_backup_streams_through_decrypt_and_gunzip(tmp_path: Path) -> None:
    info = frames.BackupInfo(version=1, backupTimeMs=1)
    items = [frames.Frame(recipient=frames.Recipient(id=1, self={}))]
    items.append(frames.Frame(chat=frames.Chat(id=1, recipientId=1)))
    for index in range(3000):
        item = frames.ChatItem(chatId=1, authorId=1, dateSent=1000 + index)
        item.outgoing.SetInParent()
        item.standardMessage.text.body = os.urandom(24).hex()
        items.append(frames.Frame(chatItem=item))
    plain = b"".join(
        _varint(len(raw)) + raw
        for raw in (message.SerializeToString() for message in [info, *items])
    )
    key = message_backup_key_for(RECOVERY_KEY, ACI)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(gzip.compress(plain)) + padder.finalize()
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key.aes_key), modes.CBC(iv)).encryptor()
    body = iv + encryptor.update(padded) + encryptor.finalize()
    main = tmp_path / "main"
    main.write_bytes(body + hmac.new(key.hmac_key, body, hashlib.sha256).digest())
    assert main.stat().st_size > container.CHUNK_SIZE  # several read chunks

    backup = decode_backup_v2(main, tmp_path, recovery_key=RECOVERY_KEY, aci=ACI)
    messages = backup.tables["messages"]
    assert len(messages) == 3000 and messages["is_outgoing"].all()
    assert messages["message_id"].is_unique
