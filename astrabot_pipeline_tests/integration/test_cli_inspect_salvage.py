"""`astrabot inspect`, `decode --salvage`, `--no-verify-mac` and the progress bar."""

from __future__ import annotations

import io
import json
import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from astrabot_pipeline.cli.progress import ProgressBar
from astrabot_pipeline.signal.legacy.events import BlobEvent
from astrabot_pipeline.signal.legacy.reader import BackupReader
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup

WRONG = "999998888877777666665555544444"


def astrabot(
    *args: str, passphrase: str | None = DEMO_PASSPHRASE, cwd: Path | None = None
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SIGNAL_BACKUP_PASSPHRASE"}
    if passphrase is not None:
        env["SIGNAL_BACKUP_PASSPHRASE"] = passphrase
    command = [str(Path(sys.executable).parent / "astrabot"), *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def tree(root: Path) -> list[tuple[str, int]]:
    return sorted((str(p.relative_to(root)), p.stat().st_size) for p in root.rglob("*"))


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_backup(tmp_path_factory.mktemp("inspect"), n_messages=300, seed=5)


@pytest.fixture
def truncated(demo, tmp_path) -> Path:
    data = demo.path.read_bytes()
    path = tmp_path / "in" / "truncated.backup"
    path.parent.mkdir()
    path.write_bytes(data[: len(data) * 6 // 10])
    return path


@pytest.fixture
def corrupted_attachment(demo, tmp_path) -> Path:
    """The demo backup with one bit flipped inside the first attachment's encrypted data."""
    reader = BackupReader(demo.path, DEMO_PASSPHRASE)
    blob = next(event for event in reader if isinstance(event, BlobEvent))
    blob_end = reader.bytes_read - 10  # the 10-byte MAC follows the blob's data
    data = bytearray(demo.path.read_bytes())
    data[blob_end - blob.length // 2] ^= 0x01
    path = tmp_path / "in" / "bad-attachment.backup"
    path.parent.mkdir()
    path.write_bytes(bytes(data))
    return path


def test_inspect_prints_versions_and_counts_and_writes_nothing(demo, tmp_path):
    before_backup_dir, before_cwd = tree(demo.path.parent), tree(tmp_path)
    done = astrabot("inspect", str(demo.path), cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "format version: 1" in out
    assert "database version: " in out and "database version: None" not in out
    assert "  statement: " in out and "  message: " in out and "  attachment: " in out
    assert "bytes)" in out  # blob byte totals
    assert tree(demo.path.parent) == before_backup_dir
    assert tree(tmp_path) == before_cwd
    assert DEMO_PASSPHRASE not in out + done.stderr


def test_inspect_counts_one_insert_per_chat_message_at_least(demo, tmp_path):
    done = astrabot("inspect", str(demo.path), cwd=tmp_path)
    rows = {
        line.split(":")[0].strip(): int(line.split(":")[1].replace(",", ""))
        for line in done.stdout.split("table rows")[1].splitlines()[1:]
        if line.startswith("  ")
    }
    assert rows["message"] >= demo.message_count
    assert rows["recipient"] > 0 and rows["thread"] > 0


def test_inspect_with_a_wrong_passphrase_fails_and_says_so(demo, tmp_path):
    done = astrabot("inspect", str(demo.path), passphrase=WRONG, cwd=tmp_path)
    assert done.returncode == 2
    assert "passphrase is wrong" in done.stderr
    assert WRONG not in done.stderr + done.stdout


def test_without_salvage_a_truncated_backup_gives_an_error_and_no_output(truncated, tmp_path):
    out = tmp_path / "decoded"
    done = astrabot("decode", str(truncated), "--out", str(out))
    assert done.returncode == 2
    assert "truncated" in done.stderr
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in"]


def test_salvage_keeps_the_messages_before_the_damage_and_names_the_offset(
    demo, truncated, tmp_path
):
    out = tmp_path / "decoded"
    done = astrabot("decode", str(truncated), "--out", str(out), "--salvage")
    assert done.returncode == 0, done.stderr
    assert "salvaged: decoding stopped at frame" in done.stderr
    assert "byte offset" in done.stderr and "bytes (" in done.stderr
    assert "salvaged a damaged backup" in done.stdout
    manifest = json.loads((out / "decode.json").read_text())
    assert 0 < manifest["row_counts"]["messages"] < demo.message_count
    assert manifest["bytes_not_decoded"] > 0
    assert manifest["warnings"][0].startswith("salvaged:")
    assert (out / "tables" / "messages.parquet").is_file()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp leftovers


def test_salvage_never_applies_to_a_wrong_passphrase(truncated, tmp_path):
    out = tmp_path / "decoded"
    done = astrabot("decode", str(truncated), "--out", str(out), "--salvage", passphrase=WRONG)
    assert done.returncode == 2
    assert "passphrase is wrong" in done.stderr
    assert not out.exists()


def test_no_attachments_still_mac_checks_every_blob(corrupted_attachment, tmp_path):
    out = tmp_path / "decoded"
    done = astrabot("decode", str(corrupted_attachment), "--out", str(out), "--no-attachments")
    assert done.returncode == 2
    assert "attachment data failed its MAC check" in done.stderr
    assert not out.exists()


def test_no_verify_mac_decodes_a_damaged_blob_but_warns(corrupted_attachment, tmp_path):
    out = tmp_path / "decoded"
    done = astrabot(
        "decode",
        str(corrupted_attachment),
        "--out",
        str(out),
        "--no-attachments",
        "--no-verify-mac",
    )
    assert done.returncode == 0, done.stderr
    assert "MAC verification was disabled" in done.stderr
    assert (out / "tables" / "messages.parquet").is_file()


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_progress_bar_draws_percent_and_rate_only_on_a_terminal():
    terminal, pipe = _Terminal(), io.StringIO()
    for stream in (terminal, pipe):
        bar = ProgressBar("decoding", stream, interval=0.0)
        bar(10_000, 4_000_000, 8_000_000)
        bar(20_000, 8_000_000, 8_000_000)
        bar.close()
        bar.close()  # a second close (an error after the end) writes nothing more
    drawn = terminal.getvalue()
    assert drawn.startswith("\rdecoding:")
    assert " 50%" in drawn and "100%" in drawn and "4.00MB/8.00MB" in drawn
    assert "20,000 frames" in drawn and "B/s" in drawn and drawn.endswith("\n")
    assert drawn.count("\n") == 1
    assert pipe.getvalue() == ""


def test_the_progress_bar_ends_its_line_when_closed_on_an_error():
    terminal = _Terminal()
    bar = ProgressBar("checking", terminal, interval=0.0)
    bar(5, 1_000_000, 8_000_000)
    bar.close()
    print("astrabot inspect: the backup is damaged", file=terminal)
    last_lines = terminal.getvalue().rsplit("\r", 1)[-1].splitlines()
    assert "12%" in last_lines[0] and last_lines[1] == "astrabot inspect: the backup is damaged"


def test_decode_draws_its_progress_bar_on_a_terminal_even_one_of_unknown_size(demo, tmp_path):
    controller, terminal = pty.openpty()  # a pty nobody sized: 0 columns, 0 rows
    command = [str(Path(sys.executable).parent / "astrabot"), "decode", str(demo.path)]
    env = {**os.environ, "SIGNAL_BACKUP_PASSPHRASE": DEMO_PASSPHRASE}
    with subprocess.Popen(
        [*command, "--out", str(tmp_path / "o")], env=env, stdout=subprocess.PIPE, stderr=terminal
    ) as child:
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 1 << 16)
            except OSError:  # EIO: the child has closed its end
                break
            if not chunk:
                break
            drawn += chunk
        assert child.wait(timeout=120) == 0
    os.close(controller)
    assert b"\rdecoding: 100%|" in drawn and b"frames]" in drawn and b"B/s" in drawn
    assert DEMO_PASSPHRASE.encode() not in drawn


def test_decode_prints_one_plain_summary_line_when_not_on_a_terminal(demo, tmp_path):
    done = astrabot("decode", str(demo.path), "--out", str(tmp_path / "o"))
    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr + done.stdout
    assert done.stdout.count("\n") == 1
    assert "MB/s" in done.stdout
