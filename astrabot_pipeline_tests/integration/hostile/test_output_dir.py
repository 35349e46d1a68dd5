"""`astrabot decode --out`: the output folder is checked before any work, nothing we did not
write is deleted or re-permissioned, dead decodes' temporaries are cleaned by their marker,
and a user's mistakes (locked input, symlink loop, full disk) end in one line, exit 2."""

from __future__ import annotations

import ctypes
import errno
import fcntl
import json
import os
import resource
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from astrabot_pipeline.privacy.purge import plaintext_targets, purge_paths
from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.signal.errors import (
    BackupError,
    InputPermissionError,
    OutputFolderError,
    UnreadableInputError,
)
from astrabot_pipeline.signal.output_dir import (
    MARKER_FILE,
    MARKER_MAGIC,
    check_output_dir,
    stale_temps,
)
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup

WRONG = "999998888877777666665555544444"
ASTRABOT = str(Path(sys.executable).parent / "astrabot")
PR_CAPBSET_DROP, CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH = 24, 1, 2


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_backup(tmp_path_factory.mktemp("in"), n_messages=200, seed=5)


def astrabot(*args: str, passphrase: str | None = DEMO_PASSPHRASE, **kwargs):
    env = {k: v for k, v in os.environ.items() if k != "SIGNAL_BACKUP_PASSPHRASE"}
    if passphrase is not None:
        env["SIGNAL_BACKUP_PASSPHRASE"] = passphrase
    env |= kwargs.pop("env", {})
    return subprocess.run(
        [ASTRABOT, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        **kwargs,
    )


def one_line_error(done: subprocess.CompletedProcess) -> str:
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def snapshot(folder: Path) -> dict[str, tuple[int, bytes | None]]:
    """Every entry under `folder` with its mode and (file) content."""
    entries = {".": (folder.lstat().st_mode, None)}
    for path in folder.rglob("*"):
        content = path.read_bytes() if path.is_file() and not path.is_symlink() else None
        entries[str(path.relative_to(folder))] = (path.lstat().st_mode, content)
    return entries


def hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


def fake_temp(parent: Path, name: str, *, marker: bool = True) -> Path:
    """A temporary output as a dead decode leaves it: marker (unlocked) and partial data."""
    temp = parent / name
    temp.mkdir(mode=0o700)
    (temp / "signal.sqlite").write_bytes(b"partial plaintext")
    if marker:
        (temp / MARKER_FILE).write_bytes(MARKER_MAGIC + b'{"pid": 1, "state": "writing"}\n')
    return temp


# -- refusals before any work ----------------------------------------------------------


def test_out_dir_with_foreign_files_is_refused_before_decoding(demo, tmp_path):
    out = tmp_path / "documents"
    out.mkdir()
    (out / "precious.txt").write_text("the user's own file")
    before = snapshot(out)
    # A wrong passphrase would fail the decode; the refusal comes first, before any key
    # derivation or read of the backup.
    with pytest.raises(OutputFolderError, match="not empty and was not written by astrabot"):
        SignalProcessor(WRONG).decode(demo.path, out)
    line = one_line_error(astrabot("decode", str(demo.path), "--out", str(out), passphrase=None))
    assert "not empty and was not written by astrabot decode (1 entry)" in line
    with pytest.raises(OutputFolderError, match="not written by astrabot"):
        SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, out, replace=True)  # --force
    assert snapshot(out) == before
    assert hidden(tmp_path) == []


def test_out_on_an_existing_file_is_refused_and_the_file_kept(demo, tmp_path):
    target = tmp_path / "notes.txt"
    target.write_text("keep me")
    line = one_line_error(astrabot("decode", str(demo.path), "--out", str(target), "--force"))
    assert "is a file, not a folder" in line
    assert target.read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_out_on_a_home_folder_is_refused_and_nothing_in_it_changes(demo, tmp_path, monkeypatch):
    home = tmp_path / "home" / "someone"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519").write_text("key")
    (home / "thesis.tex").write_text("years of work")
    home.chmod(0o751)
    monkeypatch.setenv("HOME", str(home))
    before = snapshot(home)
    with pytest.raises(OutputFolderError, match=r"\(2 entries\)"):
        SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, Path("~").expanduser(), replace=True)
    assert snapshot(home) == before
    assert stat.S_IMODE(home.stat().st_mode) == 0o751


def test_out_dot_is_refused_at_once_and_the_current_folder_keeps_its_mode(
    demo, tmp_path, monkeypatch
):
    here = tmp_path / "here"
    here.mkdir(mode=0o755)
    here.chmod(0o755)
    started = time.monotonic()
    done = astrabot("decode", str(demo.path), "--out", ".", "--force", cwd=here)
    assert "is the current folder" in one_line_error(done)
    assert time.monotonic() - started < 10
    assert list(here.iterdir()) == []
    assert stat.S_IMODE(here.stat().st_mode) == 0o755
    (here / "x").mkdir()  # an empty current folder would be replaceable: still refused
    monkeypatch.chdir(here / "x")
    for out in (".", ".."):
        with pytest.raises(OutputFolderError, match="is the current folder or holds it"):
            SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, out, replace=True)
    assert [p.name for p in here.iterdir()] == ["x"] and list((here / "x").iterdir()) == []


def test_a_symlinked_out_is_refused_and_its_target_untouched(demo, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, elsewhere)  # even one of our outputs
    (tmp_path / "link").symlink_to(elsewhere)
    before = snapshot(elsewhere)
    with pytest.raises(OutputFolderError, match="is a symbolic link"):
        SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, tmp_path / "link", replace=True)
    assert snapshot(elsewhere) == before
    assert (tmp_path / "link").is_symlink()


def test_a_marker_that_is_a_symlink_does_not_make_a_folder_ours(demo, tmp_path):
    ours = tmp_path / "ours"
    SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, ours)
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("x")
    (victim / MARKER_FILE).symlink_to(ours / MARKER_FILE)
    with pytest.raises(OutputFolderError, match="was not written by astrabot"):
        SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, victim, replace=True)
    assert (victim / "precious.txt").read_text() == "x"


def test_the_input_inside_out_is_refused(demo, tmp_path):
    out = tmp_path / "out"
    SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, out)
    with pytest.raises(OutputFolderError, match="lies inside"):
        SignalProcessor().decode(out / "signal.sqlite", out, replace=True)
    assert (out / "signal.sqlite").is_file()


# -- permissions of folders we did not create -----------------------------------------


def test_a_sticky_world_writable_parent_keeps_its_mode_after_success_and_failure(demo, tmp_path):
    shared = tmp_path / "shared-tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    with pytest.raises(BackupError, match="passphrase"):
        SignalProcessor(WRONG).decode(demo.path, shared / "a" / "b" / "out")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert list(shared.iterdir()) == []  # the parents it created went with the failure
    result = SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, shared / "a" / "out")
    assert stat.S_IMODE(shared.stat().st_mode) == 0o1777
    assert stat.S_IMODE((shared / "a").stat().st_mode) == 0o700  # created by us: private
    assert stat.S_IMODE(result.out_dir.stat().st_mode) == 0o700
    assert hidden(shared / "a") == []


# -- --force and our marker ------------------------------------------------------------


def test_force_replaces_an_empty_folder_and_an_earlier_output_of_ours(demo, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, out, replace=False)  # empty: no loss
    assert (out / MARKER_FILE).is_file() and (out / "tables" / "messages.parquet").is_file()
    first = (out / MARKER_FILE).read_bytes()
    done = astrabot("decode", str(demo.path), "--out", str(out))
    assert "pass --force to replace it" in one_line_error(done)
    assert (out / MARKER_FILE).read_bytes() == first
    done = astrabot("decode", str(demo.path), "--out", str(out), "--force")
    assert done.returncode == 0, done.stderr
    assert hidden(tmp_path) == []
    listed = json.loads((out / MARKER_FILE).read_bytes()[len(MARKER_MAGIC) :])["entries"]
    assert listed["tables/messages.parquet"] == "f" and listed["tables"] == "d"


def test_force_refuses_our_output_once_a_foreign_file_is_in_it_and_keeps_the_file(demo, tmp_path):
    out = tmp_path / "out"
    SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, out)
    (out / "tables" / "my-analysis.csv").write_text("the user's own work")
    before = snapshot(out)
    done = astrabot("decode", str(demo.path), "--out", str(out), "--force")
    line = one_line_error(done)
    assert "1 entry it did not write (e.g. tables/my-analysis.csv)" in line
    assert snapshot(out) == before


def test_an_output_of_the_version_without_a_marker_is_replaced_only_while_untouched(demo, tmp_path):
    out = tmp_path / "decoded" / "latest"  # what the Dagster decoder re-runs into
    SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, out)
    (out / MARKER_FILE).unlink()  # exactly what the previous version left
    assert check_output_dir(out, replace=True).state == "unmarked"
    SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, out)
    assert (out / MARKER_FILE).is_file()
    (out / MARKER_FILE).unlink()
    (out / "todo.txt").write_text("mine")
    with pytest.raises(OutputFolderError, match="not written by astrabot"):
        SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, out)
    assert (out / "todo.txt").read_text() == "mine"


# -- stale temporaries -----------------------------------------------------------------


def test_a_stale_temp_is_removed_by_the_next_decode_while_a_live_one_is_kept(demo, tmp_path):
    stale = fake_temp(tmp_path, ".out.dead0001.tmp")
    live = fake_temp(tmp_path, ".out.live0001.tmp")
    unmarked = fake_temp(tmp_path, ".notes.keep0001.tmp", marker=False)  # a name alone
    (tmp_path / ".evil.link0001.tmp").symlink_to(stale)
    with open(live / MARKER_FILE, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # as the running decode holds it
        assert stale_temps(tmp_path) == [stale]
        SignalProcessor(DEMO_PASSPHRASE).decode(demo.path, tmp_path / "out")
        assert not stale.exists()
        assert (live / "signal.sqlite").read_bytes() == b"partial plaintext"
    assert (unmarked / "signal.sqlite").is_file()
    assert hidden(tmp_path) == [".evil.link0001.tmp", ".notes.keep0001.tmp", ".out.live0001.tmp"]


def test_purge_removes_stale_decode_temps_under_the_data_folder_but_not_live_ones(tmp_path):
    data = tmp_path / "data"
    exports = data / "exports"
    exports.mkdir(parents=True)
    stale = fake_temp(exports, ".mine.dead0002.tmp")
    live = fake_temp(exports, ".mine.live0002.tmp")
    (data / "backups").mkdir()
    kept = fake_temp(data / "backups", ".b.x.tmp")  # backups/ is never searched
    with open(live / MARKER_FILE, "rb") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        targets = plaintext_targets(data)
        assert targets == [stale]
        purged = purge_paths(data, targets)
    assert [item.path for item in purged] == [stale] and purged[0].files == 2
    assert not stale.exists() and live.exists() and kept.exists()


# -- typed one-line errors -------------------------------------------------------------


def _drop_file_permission_override() -> None:
    """In the child: lose CAP_DAC_OVERRIDE/READ_SEARCH so root obeys file modes."""
    libc = ctypes.CDLL(None, use_errno=True)
    for capability in (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH):
        if libc.prctl(PR_CAPBSET_DROP, capability, 0, 0, 0) != 0:
            os._exit(97)


def test_an_unreadable_input_is_a_typed_one_line_error_in_decode_and_inspect(demo, tmp_path):
    locked = tmp_path / "locked.backup"
    locked.write_bytes(demo.path.read_bytes())
    locked.chmod(0o000)
    preexec = _drop_file_permission_override if os.geteuid() == 0 else None
    out = tmp_path / "out"
    done = astrabot("decode", str(locked), "--out", str(out), preexec_fn=preexec)
    if done.returncode == 97:
        pytest.skip("running as root without CAP_SETPCAP: cannot make a file unreadable")
    assert "cannot read locked.backup: permission denied" in one_line_error(done)
    done = astrabot("inspect", str(locked), preexec_fn=preexec)
    assert "cannot read locked.backup: permission denied" in one_line_error(done)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked.backup"]
    if os.geteuid() != 0:
        with pytest.raises(InputPermissionError) as caught:
            SignalProcessor(DEMO_PASSPHRASE).decode(locked, out)
        assert isinstance(caught.value, PermissionError) and caught.value.errno == errno.EACCES


def test_inspect_and_decode_of_a_symlink_loop_say_so_in_one_line(tmp_path):
    loop = tmp_path / "loop.backup"
    loop.symlink_to(loop)
    started = time.monotonic()
    assert "symbolic link loop" in one_line_error(astrabot("inspect", str(loop)))
    assert time.monotonic() - started < 20
    (tmp_path / "empty").mkdir()
    for out in (tmp_path / "o", tmp_path / "empty"):
        with pytest.raises(UnreadableInputError) as caught:
            SignalProcessor(DEMO_PASSPHRASE).decode(loop, out)
        assert caught.value.errno == errno.ELOOP
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "loop.backup"]


def _file_size_limit() -> None:
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # writes past the limit fail with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))


def test_a_full_disk_is_a_typed_one_line_error_and_leaves_nothing(demo, tmp_path):
    parent = tmp_path / "parent"
    parent.mkdir(mode=0o755)
    parent.chmod(0o755)
    out = parent / "new" / "out"
    done = astrabot("decode", str(demo.path), "--out", str(out), preexec_fn=_file_size_limit)
    assert "file-size limit (ulimit -f)" in one_line_error(done)
    assert list(parent.iterdir()) == []
    assert stat.S_IMODE(parent.stat().st_mode) == 0o755


def test_a_really_full_filesystem_is_a_typed_one_line_error(demo, tmp_path):
    mount = tmp_path / "small"
    mount.mkdir()
    tried = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=300k,mode=0755", "tmpfs", str(mount)],
        capture_output=True,
        check=False,
    )
    if tried.returncode != 0:
        pytest.skip("cannot mount a small tmpfs here (needs root and CAP_SYS_ADMIN)")
    try:
        done = astrabot("decode", str(demo.path), "--out", str(mount / "out"))
        assert "is full" in one_line_error(done)
        assert list(mount.iterdir()) == []
        assert stat.S_IMODE(mount.stat().st_mode) == 0o755
    finally:
        subprocess.run(["umount", str(mount)], check=False)
