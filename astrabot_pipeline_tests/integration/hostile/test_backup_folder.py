"""The watched backup folder (the sensor reads it every minute): a named pipe, a symbolic
link out of the folder, a file that only looks like a backup by its name, a sparse or
oversized file and a large real backup each cost a `stat` or two, never a hang, a read of
someone else's file or a full hash on every tick (docs/hostile-input.md)."""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from astrabot_pipeline import settings
from astrabot_pipeline.defs.automation import new_backup_sensor
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.signal import SignalProcessor, discovery
from astrabot_pipeline.signal.discovery import (
    BackupTooLargeError,
    HashCache,
    NoBackupFoundError,
    content_sha256,
    newest_backup,
)
from astrabot_pipeline.signal.errors import UnsupportedBackupError
from astrabot_pipeline.signal.inspect import inspect_input
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE
from astrabot_pipeline_tests.conftest import backdate, legacy_backup_stub

# What /etc/shadow starts with: its first four bytes read as a header length are 1919905652.
# Each call below takes milliseconds; the limit leaves room for a loaded machine.
LIMIT = 5.0
SHADOW = b"root:$6$Zq0CIm7o$x9:19000:0:99999:7:::\n"


def within(seconds: float, call: Callable[[], Any], *, pipe: Path | None = None) -> Any:
    """`call()`'s result (or raised error, returned) when it ends within `seconds`; fails
    the test otherwise. A call blocked opening `pipe` is released (its write end opened and
    closed, as often as it blocks again) so no thread is left waiting forever."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = call()
        except Exception as error:  # handed to the test, which asserts on it
            outcome["value"] = error

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    blocked = thread.is_alive()
    for _ in range(50):
        if not thread.is_alive() or pipe is None:
            break
        with contextlib.suppress(OSError):  # ENXIO: no reader right now
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        thread.join(0.1)
    assert not blocked, f"still running after {seconds} s (blocked on the named pipe?)"
    return outcome["value"]


def sensor_outcome(resource: SignalBackupResource):
    return new_backup_sensor(dg.build_sensor_context(resources={"signal": resource}))


@pytest.fixture
def folder(tmp_path) -> Path:
    backups = tmp_path / "backups"
    backups.mkdir()
    return backups


def test_a_named_pipe_is_passed_over_at_once_by_discovery_and_the_sensor(folder):
    resource = SignalBackupResource(backup_dir=str(folder))
    sensor_outcome(resource)  # Dagster's first sensor evaluation warms up outside the limit
    os.mkfifo(folder / "x.backup")
    skip = within(LIMIT, lambda: sensor_outcome(resource), pipe=folder / "x.backup")
    assert isinstance(skip, dg.SkipReason) and "no backup" in skip.skip_message
    older = backdate(legacy_backup_stub(folder / "real.backup"), 600)
    assert within(LIMIT, lambda: newest_backup(folder), pipe=folder / "x.backup") == older


def test_decode_and_inspect_refuse_a_named_pipe_in_one_line(tmp_path):
    pipe = tmp_path / "x.backup"
    os.mkfifo(pipe)
    processor = SignalProcessor(DEMO_PASSPHRASE)
    for call in (
        lambda: processor.decode(pipe, tmp_path / "out"),
        lambda: inspect_input(pipe, DEMO_PASSPHRASE),
    ):
        error = within(LIMIT, call, pipe=pipe)
        assert isinstance(error, UnsupportedBackupError) and "named pipe" in str(error)
    assert not (tmp_path / "out").exists()
    # The command itself: one line, exit 2 (a subprocess: the CLI installs signal handlers).
    env = {k: v for k, v in os.environ.items() if k != "SIGNAL_BACKUP_PASSPHRASE"}
    command = [str(Path(sys.executable).parent / "astrabot"), "inspect", str(pipe)]
    child = subprocess.Popen(
        command, env=env, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    try:
        _, err = child.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        pytest.fail("astrabot inspect blocked on a named pipe")
    assert child.returncode == 2
    assert err.strip().splitlines() == [
        "astrabot inspect: x.backup is a named pipe, not a file or folder: a backup is read "
        "only from a regular file or a backup folder; use the backup itself"
    ]


def test_a_symlink_is_followed_only_into_the_folder_or_a_place_the_user_named(tmp_path, folder):
    secret = tmp_path / "shadow"
    secret.write_bytes(SHADOW)
    (folder / "x.backup").symlink_to(secret)
    os.mkfifo(tmp_path / "pipe")
    (folder / "p.backup").symlink_to(tmp_path / "pipe")
    (folder / "loop.backup").symlink_to(folder / "loop.backup")
    found = within(LIMIT, lambda: newest_backup(folder), pipe=tmp_path / "pipe")
    assert isinstance(found, NoBackupFoundError)
    assert isinstance(sensor_outcome(SignalBackupResource(backup_dir=str(folder))), dg.SkipReason)
    # A backup kept elsewhere counts once the user names its place.
    elsewhere = tmp_path / "sync"
    elsewhere.mkdir()
    kept = legacy_backup_stub(elsewhere / "signal-2026.backup")
    (folder / "linked.backup").symlink_to(kept)
    with pytest.raises(NoBackupFoundError):
        newest_backup(folder)
    assert newest_backup(folder, link_targets=[elsewhere]) == folder / "linked.backup"
    inside = legacy_backup_stub(folder / ".hidden-original")
    (folder / "inside.backup").symlink_to(inside)
    os.utime(inside, (1, 1))
    os.utime(kept, (2, 2))
    assert newest_backup(folder) == folder / "inside.backup"


def test_a_file_that_is_a_backup_only_by_its_name_is_never_hashed(folder):
    (folder / "notes.backup").write_bytes(SHADOW)
    (folder / "main.jsonl").write_bytes(SHADOW)
    with pytest.raises(NoBackupFoundError):
        newest_backup(folder)


def test_the_decoders_refusal_quotes_no_byte_of_the_file(tmp_path):
    given = tmp_path / "x.backup"  # named on the command line: read, and refused
    given.write_bytes(SHADOW)
    for call in (
        lambda: SignalProcessor(DEMO_PASSPHRASE).decode(given, tmp_path / "out"),
        lambda: inspect_input(given, DEMO_PASSPHRASE),
    ):
        with pytest.raises(UnsupportedBackupError) as refused:
            call()
        message = str(refused.value)
        assert "not a Signal Android .backup file" in message
        assert "1919905652" not in message and "root" not in message


def test_a_sparse_file_is_refused_from_its_allocated_blocks_without_reading_it(folder):
    sparse = legacy_backup_stub(folder / "huge.backup")
    os.truncate(sparse, 4 << 30)  # 4 GiB long, one block stored
    error = within(LIMIT, lambda: newest_backup(folder))
    assert isinstance(error, BackupTooLargeError)
    assert "sparse file (4.3 GB long" in str(error)


def test_an_input_above_the_size_cap_is_refused_with_the_setting_to_raise(folder):
    backdate(legacy_backup_stub(folder / "signal.backup", b"x" * 2_000), 600)
    capped = SignalBackupResource(backup_dir=str(folder), max_backup_bytes=1_000)
    skip = sensor_outcome(capped)
    assert isinstance(skip, dg.SkipReason)
    assert skip.skip_message == (
        "signal.backup holds 0.0 GB, more than the 0.0 GB an input may hold; if it is your "
        "backup, raise ASTRABOT_MAX_BACKUP_GB"
    )
    assert settings.max_backup_bytes({"ASTRABOT_MAX_BACKUP_GB": "50"}) == 50 * 10**9
    assert settings.max_backup_bytes({}) == 200 * 10**9
    with pytest.raises(SettingError, match="ASTRABOT_MAX_BACKUP_GB"):
        settings.max_backup_bytes({"ASTRABOT_MAX_BACKUP_GB": "lots"})


def test_a_backup_is_hashed_once_per_version_whatever_the_process(tmp_path, folder, monkeypatch):
    backup = backdate(legacy_backup_stub(folder / "signal-2026.backup", os.urandom(4096)), 600)
    cache_file = tmp_path / "data" / discovery.HASH_CACHE_FILE
    resource = SignalBackupResource(backup_dir=str(folder), hash_cache=str(cache_file))
    request = sensor_outcome(resource)
    assert isinstance(request, dg.RunRequest)
    digest = request.run_key
    # A later tick in a fresh process (no in-memory cache) does not open the backup.
    discovery._hash_files.cache_clear()

    def no_read(path, *args, **kwargs):
        raise AssertionError("the backup was read again")

    monkeypatch.setattr(discovery, "open_regular", no_read)
    assert content_sha256(backup, cache=HashCache(cache_file)) == digest
    assert stat.S_IMODE(cache_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(cache_file.parent.stat().st_mode) == 0o700
    assert b"signal-2026" not in cache_file.read_bytes()  # hashes, no names
    # A new version (rewritten in place: same inode, new mtime) is read again.
    monkeypatch.undo()
    backup.write_bytes(backup.read_bytes()[:-1] + b"!")
    backdate(backup, 300)
    assert content_sha256(backup, cache=HashCache(cache_file)) != digest


def test_a_link_inside_a_backup_folder_input_is_not_part_of_it(tmp_path, folder):
    snapshot = folder / "signal-backup-2026-01-01-00-00-00"
    (snapshot / "files").mkdir(parents=True)
    (snapshot / "main").write_bytes(b"\x00" * 64)
    outside = tmp_path / "shadow"
    outside.write_bytes(SHADOW)
    (snapshot / "files" / "a").symlink_to(outside)
    before = content_sha256(snapshot)
    outside.write_bytes(b"changed")
    discovery._hash_files.cache_clear()
    assert content_sha256(snapshot) == before
    assert discovery.input_size(snapshot) == 64
    # A folder whose `main` itself is a link is no input at all.
    (snapshot / "main").unlink()
    (snapshot / "main").symlink_to(outside)
    with pytest.raises(NoBackupFoundError):
        newest_backup(folder)
