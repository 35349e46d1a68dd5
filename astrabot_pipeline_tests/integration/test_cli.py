"""`astrabot` commands, run as a user would, in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup

WRONG = "999998888877777666665555544444"


def astrabot(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    command = [str(Path(sys.executable).parent / "astrabot"), *args]
    base = {k: v for k, v in os.environ.items() if k != "SIGNAL_BACKUP_PASSPHRASE"}
    return subprocess.run(
        command, env=base | (env or {}), capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_backup(tmp_path_factory.mktemp("cli"), n_messages=300, seed=11)


def test_decode_writes_sqlite_and_tables_with_the_passphrase_from_the_environment(demo, tmp_path):
    out = tmp_path / "decoded"
    done = astrabot(
        "decode",
        str(demo.path),
        "--out",
        str(out),
        env={"SIGNAL_BACKUP_PASSPHRASE": DEMO_PASSPHRASE},
    )
    assert done.returncode == 0, done.stderr
    assert (out / "signal.sqlite").is_file()
    assert {p.name for p in (out / "tables").iterdir()} >= {
        "messages.parquet",
        "recipients.parquet",
        "threads.parquet",
    }
    assert DEMO_PASSPHRASE not in done.stdout + done.stderr


def test_decode_reads_the_passphrase_from_a_file(demo, tmp_path):
    secret = tmp_path / "pass"
    secret.write_text(DEMO_PASSPHRASE + "\n")
    done = astrabot(
        "decode", str(demo.path), "--out", str(tmp_path / "o"), "--passphrase-file", str(secret)
    )
    assert done.returncode == 0, done.stderr


def test_a_wrong_passphrase_exits_non_zero_says_so_and_leaves_no_output(demo, tmp_path):
    out = tmp_path / "decoded"
    done = astrabot(
        "decode", str(demo.path), "--out", str(out), env={"SIGNAL_BACKUP_PASSPHRASE": WRONG}
    )
    assert done.returncode != 0
    assert "passphrase" in done.stderr.lower()
    assert WRONG not in done.stderr + done.stdout
    assert not out.exists()
    assert list(tmp_path.iterdir()) == []


def test_without_any_passphrase_the_user_is_told_where_to_put_it(demo, tmp_path):
    done = astrabot("decode", str(demo.path), "--out", str(tmp_path / "o"))
    assert done.returncode != 0
    assert "SIGNAL_BACKUP_PASSPHRASE" in done.stderr


def test_the_passphrase_is_never_accepted_as_an_argument(demo, tmp_path):
    done = astrabot(
        "decode", str(demo.path), "--out", str(tmp_path / "o"), "--passphrase", DEMO_PASSPHRASE
    )
    assert done.returncode == 2
    assert "unrecognized arguments" in done.stderr


def test_on_a_terminal_the_passphrase_is_asked_for_without_echo(demo, tmp_path):
    import pty

    out = tmp_path / "decoded"
    env = {k: v for k, v in os.environ.items() if k != "SIGNAL_BACKUP_PASSPHRASE"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: astrabot on a pseudo-terminal
        command = str(Path(sys.executable).parent / "astrabot")
        os.execve(command, [command, "decode", str(demo.path), "--out", str(out)], env)
    screen = b""
    while b"passphrase" not in screen.lower():
        screen += os.read(fd, 1024)
    os.write(fd, DEMO_PASSPHRASE.encode() + b"\n")
    while True:
        try:
            chunk = os.read(fd, 1024)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, screen.decode(errors="replace")
    assert DEMO_PASSPHRASE.encode() not in screen  # not echoed
    assert (out / "tables" / "messages.parquet").is_file()


def test_a_missing_backup_is_named_in_the_error(tmp_path):
    missing = tmp_path / "nowhere.backup"
    done = astrabot(
        "decode",
        str(missing),
        "--out",
        str(tmp_path / "o"),
        env={"SIGNAL_BACKUP_PASSPHRASE": DEMO_PASSPHRASE},
    )
    assert done.returncode == 2
    assert f"no such backup file: {missing}" in done.stderr
