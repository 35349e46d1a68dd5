"""Backup v2 and the plaintext export as hostile input (issue #8, items 5, 8 and 10).

Every input is built here: export ZIPs by hand (so their declared sizes can lie and a
4 GB expansion costs milliseconds to build), `main.jsonl` files from JSON we write, and an
encrypted `main` sealed with the documented key derivation. Each test bounds its time;
the bombs also bound the memory the decoder allocates (tracemalloc).
"""

from __future__ import annotations

import gzip
import hashlib
import hmac
import json
import os
import struct
import time
import tracemalloc
import zipfile
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from astrabot_pipeline import cli
from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.signal.backup_v2 import container, decode_backup_v2, frames, jsonl
from astrabot_pipeline.signal.backup_v2.errors import (
    CorruptBackupV2Error,
    CorruptExportLineError,
    DecompressionLimitError,
    FrameTooLargeError,
)
from astrabot_pipeline.signal.backup_v2.inspect import inspect_backup_v2
from astrabot_pipeline.signal.backup_v2.keys import message_backup_key_for
from astrabot_pipeline.signal.backup_v2.limits import EXPANSION_FLOOR, MAX_FRAME_BYTES
from astrabot_pipeline.signal.errors import CorruptInputError
from astrabot_pipeline.signal.inputs import detect_input
from astrabot_pipeline_tests.conftest import SHARED_DIR

MiB = 1 << 20
TEST_SECONDS = 8
RECOVERY_KEY = "m" * 64
ACI = "11111111-1111-1111-1111-111111111111"
INFO = {"version": "1", "backupTimeMs": "1700000000000"}
FRAMES = [
    {"account": {"givenName": "Ada", "username": "ada.01"}},
    {"recipient": {"id": "1", "self": {}}},
    {"recipient": {"id": "2", "contact": {"profileGivenName": "Bob", "e164": "15550001"}}},
    {"chat": {"id": "1", "recipientId": "2"}},
    {
        "chatItem": {
            "chatId": "1",
            "authorId": "2",
            "dateSent": "1700000001000",
            "incoming": {"dateReceived": "1700000001500"},
            "standardMessage": {"text": {"body": "hello there"}},
        }
    },
    {
        "chatItem": {
            "chatId": "1",
            "authorId": "1",
            "dateSent": "1700000002000",
            "outgoing": {},
            "standardMessage": {"text": {"body": "hi back"}},
        }
    },
]


def _lines(objects: list[dict]) -> bytes:
    return b"".join(json.dumps(o).encode() + b"\n" for o in objects)


def _export(path: Path, data: bytes) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.json", json.dumps({"version": 1}))
        archive.writestr("main.jsonl", data)
    return path


def _hand_zip(
    path: Path,
    deflated: bytes,
    *,
    file_size: int,
    crc: int,
    compress_size: int | None = None,
    name: bytes = b"main.jsonl",
) -> Path:
    """One deflated member with the sizes and CRC we choose (they may lie)."""
    csize = len(deflated) if compress_size is None else compress_size
    fields = (20, 0, 8, 0, 0x21, crc, csize, file_size, len(name))
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, *fields, 0) + name
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, *fields, 0, 0, 0, 0, 0, 0)
    central += name
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local + deflated), 0)
    path.write_bytes(local + deflated + central + end)
    return path


def _repeated_deflate(block: bytes, times: int, head: bytes = b"", tail: bytes = b"") -> bytes:
    """Raw deflate of head + block*times + tail in O(len(block)) time: after a full flush
    the compressor starts afresh, so every flushed copy of `block` compresses identically."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    one = compressor.compress(block) + compressor.flush(zlib.Z_FULL_FLUSH)
    return start + one * times + compressor.compress(tail) + compressor.flush()


def _decode(path: Path, out: Path, *extra: str) -> tuple[int, str, str]:
    """Run `astrabot decode` in-process; (status, stdout, stderr) from capsys-free capture."""
    return _cli("decode", str(path), "--out", str(out), *extra)


def _cli(*argv: str) -> tuple[int, str, str]:
    import contextlib
    import io

    stdout, stderr = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
        try:
            status = cli.main(list(argv))
        except SystemExit as exit_:  # argparse / passphrase prompts
            status = int(exit_.code or 0)
    return status, stdout.getvalue(), stderr.getvalue()


@pytest.fixture(autouse=True)
def _no_secrets_and_a_time_bound(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No secret from the caller's environment; every test (input building included)
    finishes within TEST_SECONDS, the tighter bounds are asserted in the tests."""
    for name in ("SIGNAL_BACKUP_PASSPHRASE", "SIGNAL_ACI", "SIGNAL_DESKTOP_KEY"):
        monkeypatch.delenv(name, raising=False)
    started = time.perf_counter()
    yield
    assert time.perf_counter() - started < TEST_SECONDS


def _assert_one_line_failure(status: int, stderr: str, *needles: str) -> None:
    assert status == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


def _only(folder: Path, *names: str) -> None:
    """Nothing but the inputs is left in `folder` (no output, no temporary sibling)."""
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


class _Peak:
    """Time and Python-allocated peak memory of the block."""

    def __enter__(self) -> _Peak:
        tracemalloc.start()
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self.started
        self.peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()


# -- item 5: decompression bombs and line lengths -----------------------------------------


def test_a_300_kb_zip_holding_one_300_mb_line_is_refused_before_inflating(tmp_path: Path) -> None:
    head = _lines([INFO]) + b'{"account": {"username": "'
    deflated = _repeated_deflate(b"a" * MiB, 300, head, b'"}}\n')
    assert len(deflated) < 400_000
    export = _hand_zip(tmp_path / "export.zip", deflated, file_size=300 * MiB + 60, crc=0)
    with _Peak() as peak, pytest.raises(DecompressionLimitError, match="declares 314,572,"):
        decode_backup_v2(export, tmp_path / "work", recovery_key=None, aci=None)
    assert peak.seconds < 2 and peak.peak < 16 * MiB


def test_a_4_mb_zip_expanding_to_4_gb_is_refused_with_exit_2(tmp_path: Path) -> None:
    deflated = _repeated_deflate(b"\n" * MiB, 4000, _lines([INFO]))
    export = _hand_zip(tmp_path / "export.zip", deflated, file_size=4000 * MiB + 50, crc=0)
    started = time.perf_counter()
    status, _, stderr = _decode(export, tmp_path / "out")
    _assert_one_line_failure(status, stderr, "main.jsonl declares 4,194,304,050 bytes", "bomb")
    assert time.perf_counter() - started < 3
    _only(tmp_path, "export.zip")


def test_100_kb_of_zipped_blank_lines_is_refused_at_once(tmp_path: Path) -> None:
    export = _export(tmp_path / "export.zip", _lines([INFO]) + b"\n" * (100 * MiB))
    assert export.stat().st_size < 200_000
    started = time.perf_counter()
    status, _, stderr = _decode(export, tmp_path / "out")
    _assert_one_line_failure(status, stderr, "decompression bomb")
    assert time.perf_counter() - started < 2


def test_blank_lines_cost_no_python_work_per_line_and_still_count(tmp_path: Path) -> None:
    # A bare main.jsonl has no compression ratio to check: 48 MiB of blank lines are read,
    # skipped at C speed, and the line after them is numbered by its physical line.
    blank = 48 * MiB
    data = _lines([INFO]) + b"\n" * blank + _lines(FRAMES) + b"{not json\n"
    main = tmp_path / "main.jsonl"
    main.write_bytes(data)
    with _Peak() as peak, pytest.raises(CorruptExportLineError) as caught:
        decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None)
    line = 1 + blank + len(FRAMES) + 1
    assert str(caught.value) == f"line {line} of main.jsonl is not JSON"
    assert caught.value.line == line
    assert peak.seconds < 3 and peak.peak < 16 * MiB


def test_a_line_longer_than_any_frame_is_refused_with_its_number(tmp_path: Path) -> None:
    main = tmp_path / "main.jsonl"
    main.write_bytes(_lines([INFO]) + b"\n" + b'{"x": "' + b"a" * (MAX_FRAME_BYTES + 1) + b'"}\n')
    with _Peak() as peak, pytest.raises(FrameTooLargeError, match="line 3 of main.jsonl is long"):
        decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None)
    assert peak.seconds < 2 and peak.peak < 3 * MAX_FRAME_BYTES


def test_a_line_of_a_million_empty_objects_is_refused_before_parsing(tmp_path: Path) -> None:
    # 3 MiB of `{},` under one frame kind would parse into a million protobuf messages.
    objects = b"{}," * MiB + b"{}"
    main = tmp_path / "main.jsonl"
    main.write_bytes(_lines([INFO]) + b'{"chatItem": {"revisions": [' + objects + b"]}}\n")
    with _Peak() as peak, pytest.raises(FrameTooLargeError, match="line 2 of main.jsonl holds"):
        decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None)
    assert peak.seconds < 2 and peak.peak < 4 * len(objects)


def test_a_zip_member_lying_about_its_size_is_stopped_at_the_declared_size(
    tmp_path: Path,
) -> None:
    # The central directory says 1 MiB; the deflate stream holds 300 MiB. Reading stops at
    # the declared size and the CRC check names the damage: typed, fast, bounded.
    deflated = _repeated_deflate(b"\n" * MiB, 300, _lines([INFO]))
    export = _hand_zip(tmp_path / "export.zip", deflated, file_size=MiB, crc=0)
    started = time.perf_counter()
    status, _, stderr = _decode(export, tmp_path / "out")
    _assert_one_line_failure(status, stderr, "main.jsonl is damaged", "CRC")
    assert time.perf_counter() - started < 2
    _only(tmp_path, "export.zip")


def test_a_declared_compressed_size_beyond_the_file_does_not_raise_the_limit(
    tmp_path: Path,
) -> None:
    data = _lines([INFO]) + b"\n" * (8 * MiB)
    deflated = zlib.compress(data, 9)[2:-4]
    export = _hand_zip(
        tmp_path / "export.zip",
        deflated,
        file_size=len(data),
        crc=zlib.crc32(data),
        compress_size=1 << 30,  # a lie: the limit follows the real file size
    )
    with pytest.raises(DecompressionLimitError) as caught:
        decode_backup_v2(export, tmp_path / "work", recovery_key=None, aci=None)
    assert f"from {export.stat().st_size:,} compressed bytes" in str(caught.value)


@pytest.mark.parametrize("method", [zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA], ids=["bzip2", "lzma"])
def test_a_member_compressed_with_an_unbounded_method_is_refused_unread(
    tmp_path: Path, method: int
) -> None:
    # zipfile reads bzip2/LZMA without an output bound: one small read could inflate to
    # gigabytes. Signal writes deflate, so other methods are refused before reading.
    export = tmp_path / "export.zip"
    with zipfile.ZipFile(export, "w", method) as archive:
        archive.writestr("main.jsonl", _lines([INFO, *FRAMES]))
    with pytest.raises(CorruptBackupV2Error, match=f"compression method {method}"):
        decode_backup_v2(export, tmp_path / "work", recovery_key=None, aci=None)


def test_inflated_bytes_are_counted_even_when_no_size_is_declared() -> None:
    # zipfile trusts the declared size; the reader also counts what it inflates, so a
    # stream that lies or has no size at all is still stopped at the limit.
    stream = _ZeroStream()
    lines = jsonl._Lines(stream, what="test stream", expected_size=None, limit=2 * MiB)
    with pytest.raises(DecompressionLimitError, match="inflates past 2,097,152 bytes"):
        for _ in lines:
            pass
    assert stream.served <= 2 * MiB + jsonl.READ_CHUNK


class _ZeroStream:
    """An endless stream of newlines, like a deflate stream that never ends."""

    served = 0

    def read(self, size: int) -> bytes:
        self.served += size
        return b"\n" * size


def test_an_encrypted_main_whose_gzip_inflates_past_the_limit_is_refused(tmp_path: Path) -> None:
    plain = _delimited([frames.BackupInfo(version=1).SerializeToString()]) + b"\x00" * (
        EXPANSION_FLOOR + MiB
    )
    main = _seal(tmp_path / "main", plain)
    started = time.perf_counter()
    with pytest.raises(DecompressionLimitError, match="gzip stream inflates past"):
        decode_backup_v2(main, tmp_path / "work", recovery_key=RECOVERY_KEY, aci=ACI)
    assert time.perf_counter() - started < 3


def test_a_run_of_empty_protobuf_records_is_counted_without_per_record_work(
    tmp_path: Path,
) -> None:
    records = [frames.BackupInfo(version=1).SerializeToString()]
    records += [frames.Frame(recipient=frames.Recipient(id=1, self={})).SerializeToString()]
    plain = _delimited(records) + b"\x00" * (3 * MiB)  # 3 Mi empty frames, then one more
    plain += _delimited([frames.Frame(chat=frames.Chat(id=1, recipientId=1)).SerializeToString()])
    main = _seal(tmp_path / "main", plain)
    started = time.perf_counter()
    result = SignalProcessor(RECOVERY_KEY, aci=ACI).decode(main, tmp_path / "out")
    assert time.perf_counter() - started < 4
    assert result.records == 2 + 3 * MiB + 1 and result.format_version == 1
    assert result.row_counts["threads"] == 1


def test_invalid_utf8_in_an_encrypted_mains_strings_is_repaired_and_counted(
    tmp_path: Path,
) -> None:
    # Binary proto2 strings are not UTF-8-checked at parse time; they must not crash later.
    item = frames.ChatItem(chatId=1, authorId=1, dateSent=5)
    item.outgoing.SetInParent()
    item.standardMessage.text.body = "\x01"
    records = [
        frames.BackupInfo(version=1).SerializeToString(),
        b"\x0a\x03\x22\x01\xff",  # Frame.account.givenName = b"\xff"
        frames.Frame(recipient=frames.Recipient(id=1, self={})).SerializeToString(),
        frames.Frame(chat=frames.Chat(id=1, recipientId=1)).SerializeToString(),
        frames.Frame(chatItem=item).SerializeToString().replace(b"\x0a\x01\x01", b"\x0a\x01\xfe"),
    ]
    main = _seal(tmp_path / "main", _delimited(records))
    backup = decode_backup_v2(main, tmp_path / "work", recovery_key=RECOVERY_KEY, aci=ACI)
    assert "2 text field(s) were not valid UTF-8" in "\n".join(backup.warnings)
    assert backup.tables["messages"]["body"].tolist() == ["\ufffd"]


def test_a_binary_record_larger_than_any_frame_is_refused(tmp_path: Path) -> None:
    claim = bytes([0x80, 0x80, 0x80, 0x08])  # a varint length of 16 MiB; no bytes follow
    started = time.perf_counter()
    with pytest.raises(FrameTooLargeError, match="claims 16,777,216 bytes"):
        list(container.delimited_records([_delimited([b"info"]) + claim]))
    assert time.perf_counter() - started < 1


def _delimited(records: list[bytes]) -> bytes:
    out = bytearray()
    for record in records:
        size = len(record)
        while size >= 0x80:
            out.append((size & 0x7F) | 0x80)
            size >>= 7
        out.append(size)
        out += record
    return bytes(out)


def _seal(path: Path, plain: bytes) -> Path:
    """An encrypted backup-v2 `main`: IV || AES-CBC(PKCS7(gzip(plain))) || HMAC."""
    key = message_backup_key_for(RECOVERY_KEY, ACI)
    padder = padding.PKCS7(128).padder()
    padded = padder.update(gzip.compress(plain, 9)) + padder.finalize()
    iv = os.urandom(16)
    encryptor = Cipher(algorithms.AES(key.aes_key), modes.CBC(iv)).encryptor()
    body = iv + encryptor.update(padded) + encryptor.finalize()
    path.write_bytes(body + hmac.new(key.hmac_key, body, hashlib.sha256).digest())
    return path


# -- item 8: broken containers are typed errors, exit 2 ------------------------------------


def test_a_zip_with_a_corrupt_central_directory_exits_2_with_one_line(tmp_path: Path) -> None:
    export = _export(tmp_path / "export.zip", _lines([INFO, *FRAMES]))
    data = bytearray(export.read_bytes())
    central = data.rindex(b"PK\x01\x02")
    data[central : central + 4] = b"XX\x01\x02"
    export.write_bytes(bytes(data))
    status, _, stderr = _decode(export, tmp_path / "out")
    _assert_one_line_failure(status, stderr, "export.zip", "central directory is damaged")
    with pytest.raises(CorruptBackupV2Error, match="central directory is damaged"):
        decode_backup_v2(export, tmp_path / "work", recovery_key=None, aci=None)
    _only(tmp_path, "export.zip", "work")


def test_a_zip_cut_before_its_central_directory_exits_2(tmp_path: Path) -> None:
    export = _export(tmp_path / "export.zip", _lines([INFO, *FRAMES]))
    data = export.read_bytes()
    export.write_bytes(data[: data.rindex(b"PK\x01\x02") - 10])
    with pytest.raises(CorruptInputError, match="no end-of-archive record"):
        detect_input(export)
    status, _, stderr = _decode(export, tmp_path / "out")
    _assert_one_line_failure(status, stderr, "cut short")


def test_an_sqlite_header_followed_by_garbage_exits_2_with_one_line(tmp_path: Path) -> None:
    bogus = tmp_path / "signal.db"
    bogus.write_bytes(b"SQLite format 3\x00" + os.urandom(8192))
    with pytest.raises(CorruptInputError, match="cannot be read as one"):
        detect_input(bogus)
    status, _, stderr = _decode(bogus, tmp_path / "out")
    _assert_one_line_failure(status, stderr, "signal.db starts like an SQLite database")
    _only(tmp_path, "signal.db")


@pytest.mark.parametrize("zipped", [False, True], ids=["bare", "zipped"])
def test_invalid_utf8_names_its_line_but_never_the_bytes(tmp_path: Path, zipped: bool) -> None:
    data = _lines([INFO, *FRAMES[:3]]) + b'{"recipient": {"id": "9", "x": "caf\xe9\xff"}}\n'
    if zipped:
        path = _export(tmp_path / "export.zip", data)
    else:
        path = tmp_path / "main.jsonl"
        path.write_bytes(data)
    status, _, stderr = _decode(path, tmp_path / "out")
    _assert_one_line_failure(status, stderr, "line 5 of main.jsonl is not valid UTF-8")
    assert "xe9" not in stderr and "0xe9" not in stderr and "caf" not in stderr


# -- item 10: exports decode honestly --------------------------------------------------------


def test_a_utf8_bom_at_the_start_is_accepted(tmp_path: Path) -> None:
    main = tmp_path / "main.jsonl"
    main.write_bytes(b"\xef\xbb\xbf" + _lines([INFO, *FRAMES]))
    backup = decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None)
    assert backup.tables["messages"]["body"].tolist() == ["hello there", "hi back"]
    export = _export(tmp_path / "export.zip", b"\xef\xbb\xbf\n" + _lines([INFO, *FRAMES]))
    backup = decode_backup_v2(export, tmp_path / "work", recovery_key=None, aci=None)
    assert len(backup.tables["messages"]) == 2 and backup.stats.lines == 2 + len(FRAMES)


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        (b"{not json", "is not JSON"),
        (b"[1, 2]", "is not a JSON object"),
        (b'{"chat": {"id": "x"}}', "is not a valid Frame"),
        (b'{"chat": {"id": 1}} trailing', "is not JSON"),
    ],
)
def test_every_error_numbers_lines_the_same_way(
    tmp_path: Path, bad_line: bytes, message: str
) -> None:
    # Physical, 1-based, blank lines counted: the bad line is line 6 below.
    data = _lines([INFO]) + b"\n   \n" + _lines(FRAMES[:2]) + bad_line + b"\n" + _lines(FRAMES)
    main = tmp_path / "main.jsonl"
    main.write_bytes(data)
    with pytest.raises(CorruptExportLineError) as caught:
        decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None)
    assert str(caught.value) == f"line 6 of main.jsonl {message}"
    assert caught.value.line == 6


def test_a_backupinfo_that_is_not_first_is_reported_by_line(tmp_path: Path) -> None:
    main = tmp_path / "main.jsonl"
    main.write_bytes(b"\n" + _lines(FRAMES))
    with pytest.raises(CorruptExportLineError, match="line 2 of main.jsonl is a frame"):
        decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None)


def _cut_export(tmp_path: Path) -> tuple[Path, int]:
    whole = _lines([INFO, *FRAMES])
    last = json.dumps(FRAMES[-1]).encode()
    data = whole + last[: len(last) // 2]  # the file ends inside line 8
    return _export(tmp_path / "export.zip", data), len(last) // 2


def test_a_cut_last_line_is_an_error_without_salvage(tmp_path: Path) -> None:
    export, _ = _cut_export(tmp_path)
    status, _, stderr = _decode(export, tmp_path / "out")
    _assert_one_line_failure(status, stderr, "line 8 of main.jsonl is cut short")
    _only(tmp_path, "export.zip")


def test_salvage_keeps_every_frame_before_a_cut_last_line(tmp_path: Path) -> None:
    export, lost = _cut_export(tmp_path)
    out = tmp_path / "out"
    status, stdout, stderr = _decode(export, out, "--salvage")
    assert status == 0, stderr
    assert "line 8 of main.jsonl is cut short" in stderr
    assert f"{lost:,} byte(s) of main.jsonl from line 8 on were not decoded" in stderr
    assert "decoded 7 records" in stdout and f"salvaged a damaged backup: {lost} bytes" in stdout
    manifest = json.loads((out / "decode.json").read_text())
    assert manifest["bytes_not_decoded"] == lost and manifest["records"] == 7
    backup = SignalProcessor().decode(export, tmp_path / "again", salvage=True)
    assert backup.read_tables()["messages"]["body"].tolist() == ["hello there", "hi back"]


def test_salvage_stops_at_a_corrupt_middle_line_and_counts_the_rest(tmp_path: Path) -> None:
    tail = _lines(FRAMES[4:])
    data = _lines([INFO, *FRAMES[:4]]) + b"{broken\n" + tail
    main = tmp_path / "main.jsonl"
    main.write_bytes(data)
    backup = decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None, salvage=True)
    assert backup.stats.records == 5 and backup.stats.bytes_not_decoded == len(b"{broken\n" + tail)
    assert backup.warnings[0].startswith("salvaged: line 6 of main.jsonl is not JSON")
    assert len(backup.tables["messages"]) == 0 and len(backup.tables["threads"]) == 1


def test_dangling_references_are_counted_and_kept_with_placeholders(tmp_path: Path) -> None:
    objects = [
        INFO,
        *FRAMES[:3],
        {"chat": {"id": "1", "recipientId": "2"}},
        {"chat": {"id": "2", "recipientId": "77"}},  # no recipient 77
        {
            "chatItem": {
                "chatId": "2",
                "authorId": "88",  # no recipient 88
                "dateSent": "1700000003000",
                "incoming": {},
                "standardMessage": {
                    "text": {"body": "from nobody"},
                    "quote": {"targetSentTimestamp": "5", "authorId": "2"},  # no such message
                    "reactions": [{"emoji": "x", "authorId": "99", "sentTimestamp": "1"}],
                },
            }
        },
        {  # no chat 3: nowhere to put it
            "chatItem": {
                "chatId": "3",
                "authorId": "2",
                "dateSent": "1700000004000",
                "incoming": {},
                "standardMessage": {"text": {"body": "lost"}},
            }
        },
    ]
    main = tmp_path / "main.jsonl"
    main.write_bytes(_lines(objects))
    backup = decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None)
    warnings = "\n".join(backup.warnings)
    for text in (
        "1 chat item(s) name an author that no Recipient frame defines",
        "1 chat(s) name a recipient that no Recipient frame defines",
        "1 reaction(s) name an author that no Recipient frame defines",
        "1 quote(s) name a message that is not in the backup",
        "1 chat item(s) name a chat that no Chat frame defines",
    ):
        assert text in warnings
    assert "from nobody" not in warnings
    recipients = backup.tables["recipients"].set_index("recipient_id")
    assert {77, 88, 99} <= set(recipients.index)
    assert recipients.loc[[77, 88, 99], "display_name"].isna().all()
    messages = backup.tables["messages"]
    assert messages["body"].tolist() == ["from nobody"]
    assert messages["quote_message_id"].isna().all()


def test_numbers_beyond_what_the_tables_hold_are_counted_not_overflowed(tmp_path: Path) -> None:
    top = str((1 << 64) - 1)
    objects = [
        INFO,
        *FRAMES[:4],
        {"recipient": {"id": top, "self": {}}},  # an id beyond int64
        {"chat": {"id": "2", "recipientId": top}},
        {"chatItem": {**FRAMES[4]["chatItem"], "dateSent": top}},  # sent after 2262
        {"chatItem": {**FRAMES[4]["chatItem"], "authorId": top}},
        {
            "chatItem": {
                **FRAMES[4]["chatItem"],
                "incoming": {"dateReceived": top},
                "standardMessage": {
                    "text": {
                        "body": "kept",
                        "bodyRanges": [
                            {
                                "start": 4294967295,
                                "length": 1,
                                "mentionAci": "EREREREREREREREREREREQ==",
                            }
                        ],
                    },
                    "reactions": [
                        {"emoji": "a", "authorId": top, "sentTimestamp": "1"},
                        {"emoji": "b", "authorId": "2", "sentTimestamp": top},
                    ],
                },
            }
        },
    ]
    main = tmp_path / "main.jsonl"
    main.write_bytes(_lines(objects))
    status, stdout, stderr = _decode(main, tmp_path / "out")
    assert status == 0, stderr
    assert "4 frame(s), chat item(s) or reaction(s) use an id beyond" in stderr
    assert "1 chat item(s) without a direction or a usable sent date" in stderr
    assert "1 mention(s) with a start or length beyond" in stderr
    tables = SignalProcessor().decode(main, tmp_path / "again").read_tables()
    assert tables["messages"]["body"].tolist() == ["kept"]
    assert tables["messages"]["received_at"].isna().all()
    assert tables["reactions"][["author_id", "emoji"]].values.tolist() == [[2, "b"]]
    assert tables["reactions"]["sent_at"].isna().all()


def test_a_direct_story_reply_keeps_its_text_as_a_message(tmp_path: Path) -> None:
    def reply(sent: str, content: dict) -> dict:
        return {
            "chatItem": {
                "chatId": "1",
                "authorId": "2",
                "dateSent": sent,
                "incoming": {},
                "directStoryReplyMessage": {
                    **content,
                    "reactions": [{"emoji": "+", "authorId": "1", "sentTimestamp": "9"}],
                },
            }
        }

    objects = [
        INFO,
        *FRAMES[:4],
        reply("1700000005000", {"textReply": {"text": {"body": "nice view"}}}),
        reply("1700000006000", {"emoji": "❤️"}),
    ]
    main = tmp_path / "main.jsonl"
    main.write_bytes(_lines(objects))
    backup = decode_backup_v2(main, tmp_path / "work", recovery_key=None, aci=None)
    messages = backup.tables["messages"]
    assert messages["body"].tolist() == ["nice view"]
    assert messages["sender_id"].tolist() == [2] and not messages["is_outgoing"].any()
    assert backup.tables["reactions"]["message_id"].tolist() == messages["message_id"].tolist()


def test_decode_json_reports_records_and_the_backupinfo_version(tmp_path: Path) -> None:
    export = _export(tmp_path / "export.zip", _lines([INFO, *FRAMES]) + b"\n\n")
    status, stdout, stderr = _decode(export, tmp_path / "out")
    assert status == 0, stderr
    assert "decoded 7 records (format version 1)" in stdout and "frames" not in stdout
    manifest = json.loads((tmp_path / "out" / "decode.json").read_text())
    assert manifest["records"] == 7 and manifest["format_version"] == 1
    assert manifest["frames"] is None and manifest["backup_version"] is None
    assert manifest["input_kind"] == "backup-v2-export"
    assert manifest["bytes_not_decoded"] == 0


@pytest.mark.parametrize("form", ["zip", "jsonl"])
def test_inspect_counts_an_exports_frames_and_writes_nothing(tmp_path: Path, form: str) -> None:
    data = _lines([INFO, *FRAMES])
    if form == "zip":
        path = _export(tmp_path / "export.zip", data)
    else:
        path = tmp_path / "main.jsonl"
        path.write_bytes(data)
    before = sorted(tmp_path.iterdir())
    status, stdout, stderr = _cli("inspect", str(path))
    assert status == 0, stderr
    assert "format version (BackupInfo): 1" in stdout
    assert "records: 7 (BackupInfo and 6 frames)" in stdout
    assert "  chatItem: 2" in stdout and "  recipient: 2" in stdout
    assert "  standardMessage: 2" in stdout
    assert "hello" not in stdout and "Ada" not in stdout
    assert sorted(tmp_path.iterdir()) == before


def test_inspect_refuses_a_bomb_like_decode_does(tmp_path: Path) -> None:
    export = _export(tmp_path / "export.zip", _lines([INFO]) + b"\n" * (50 * MiB))
    status, _, stderr = _cli("inspect", str(export))
    _assert_one_line_failure(status, stderr, "decompression bomb")


FIXTURE = SHARED_DIR / "fixtures" / "backup-v2" / "legacy-account.binproto.encrypted"


@pytest.mark.skipif(not FIXTURE.is_file(), reason="../shared backup-v2 fixtures are absent")
def test_inspect_reads_an_encrypted_main_with_its_recovery_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SIGNAL_BACKUP_PASSPHRASE", RECOVERY_KEY)
    monkeypatch.setenv("SIGNAL_ACI", ACI)
    status, stdout, stderr = _cli("inspect", str(FIXTURE))
    assert status == 0, stderr
    assert "format version (BackupInfo): 1" in stdout and "records: 4" in stdout
    report = inspect_backup_v2(FIXTURE, recovery_key=RECOVERY_KEY, aci=ACI)
    assert report.frames_by_kind == {"account": 1, "chat": 1, "recipient": 1}
