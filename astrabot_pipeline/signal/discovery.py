"""Finding the newest input in the backup folder and fingerprinting it by content."""

from __future__ import annotations

import fcntl
import functools
import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.signal.inputs import is_supported_input

_HASH_CHUNK = 1 << 20
# An input counts as settled (fully copied) once none of its files has changed for this
# long and no process holds a write lock on one of them.
DEFAULT_QUIET_SECONDS = 30.0


class NoBackupFoundError(AstrabotError, FileNotFoundError):
    """The backup folder holds no supported input."""


def _files(path: Path) -> Iterator[Path]:
    """The files that make up an input, in a stable order (a file is its own list)."""
    if path.is_file():
        yield path
        return
    for child in sorted(path.rglob("*")):
        if child.is_file() and not child.name.startswith("."):
            yield child


def _modified_ns(path: Path) -> int:
    return max((file.stat().st_mtime_ns for file in _files(path)), default=0)


def newest_backup(directory: str | Path) -> Path:
    """The most recently modified supported input (file or folder) in `directory`."""
    directory = Path(directory)
    candidates = (
        [path for path in directory.iterdir() if is_supported_input(path)]
        if directory.is_dir()
        else []
    )
    if not candidates:
        raise NoBackupFoundError(
            f"no Signal backup found in {directory}: copy your backup (a .backup file, a "
            "signal-backup-* folder, a plaintext export, a Desktop db.sqlite, ...) there or set "
            "ASTRABOT_BACKUP_DIR to the folder that holds it (`make demo` writes a demo backup)"
        )
    return max(candidates, key=lambda path: (_modified_ns(path), path.name))


def content_sha256(path: str | Path) -> str:
    """Hex SHA-256 of an input's content: a file's bytes, or every file of a folder
    (relative name and bytes, in sorted order), streamed in 1 MiB chunks.

    The sensor asks every minute: an unchanged input (same files, sizes and mtimes) is
    not read again in this process.
    """
    path = Path(path).resolve()
    stamp = tuple((str(f), f.stat().st_size, f.stat().st_mtime_ns) for f in _files(path))
    return _hash_files(path, stamp)


@functools.lru_cache(maxsize=32)
def _hash_files(path: Path, stamp: tuple[tuple[str, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, _, _ in stamp:
        file = Path(name)
        if path.is_dir():
            digest.update(file.relative_to(path).as_posix().encode() + b"\0")
        with open(file, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    return digest.hexdigest()


def input_size(path: str | Path) -> int:
    """Bytes in an input: a file's size or the sum over a folder's files."""
    return sum(file.stat().st_size for file in _files(Path(path)))


@dataclass(frozen=True)
class Settledness:
    """Whether an input looks fully written, and if not, why (no names: safe to log)."""

    settled: bool
    reason: str = ""


def settledness(
    path: str | Path, *, quiet_seconds: float = DEFAULT_QUIET_SECONDS, now: float | None = None
) -> Settledness:
    """Whether `path` is done being copied: its newest file was modified at least
    `quiet_seconds` ago, and none of its files is locked for writing by another process.

    A copy in progress keeps moving the modification time; a writer that locks (Signal's
    own tools, `flock`) is seen by the lock probe. A file being copied under a temporary
    name and renamed at the end (rsync, most sync clients) is never seen half-written.
    """
    path = Path(path)
    now = time.time() if now is None else now
    files = list(_files(path))
    if not files:
        return Settledness(False, "the input holds no file yet")
    age = now - max(file.stat().st_mtime for file in files)
    if age < quiet_seconds:
        return Settledness(
            False,
            f"the newest backup changed {max(age, 0):.0f} s ago; waiting until it has been "
            f"unchanged for {quiet_seconds:.0f} s (it may still be copying)",
        )
    for file in files:
        if _locked_for_writing(file):
            return Settledness(False, "the newest backup is locked by a process writing it")
    return Settledness(True)


def _locked_for_writing(file: Path) -> bool:
    """True when another process holds an exclusive lock on `file` (POSIX advisory locks:
    flock, and fcntl/lockf record locks)."""
    try:
        fd = os.open(file, os.O_RDONLY)
    except OSError:
        return True  # unreadable right now: not settled
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(fd, fcntl.LOCK_UN)
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            return True  # a record lock by a writer (lockf needs the file open for reading)
        fcntl.lockf(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
