"""Finding the newest input in the backup folder and fingerprinting it by content.

Anything can land in the watched folder, and the sensor looks every minute
(docs/hostile-input.md, "The backup folder"): only regular files and folders are
candidates (a named pipe would block the reader forever); a symbolic link counts only when
it points inside the folder or to a place the user named; a file must look like its kind
before it is hashed; an input above the size cap, or a sparse file (a long file with
nothing stored), is refused with a message; and a hash is computed once per file version,
then read back from a private cache keyed by device, inode, size and modification time.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import os
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline import storage
from astrabot_pipeline.data_layout import BACKUP_HASHES_FILE, CACHE
from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.signal.inputs import is_supported_input, open_regular

_HASH_CHUNK = 1 << 20
# An input counts as settled (fully copied) once none of its files has changed for this
# long and no process holds a write lock on one of them.
DEFAULT_QUIET_SECONDS = 30.0
DEFAULT_MAX_BACKUP_BYTES = 200 * 10**9  # settings.MAX_BACKUP_GB_ENV overrides it
# A file at least this long that stores less than 1/SPARSE_RATIO of its length is sparse
# (`truncate -s 4G x.backup` stores nothing): an encrypted backup is incompressible and
# stores every byte, and even text on a compressing file system stays far above 1/64.
SPARSE_MIN_BYTES = 64 << 20
SPARSE_RATIO = 64
# Where the pipeline keeps the hashes, relative to the data directory; hashes and file
# identities only (no names), 0600, written atomically.
HASH_CACHE_FILE = Path(CACHE) / BACKUP_HASHES_FILE
_CACHE_MAGIC = b"astrabot-backup-sha256\n"
_CACHE_MAX_BYTES = 1 << 20
_CACHE_ENTRIES = 64


class NoBackupFoundError(AstrabotError, FileNotFoundError):
    """The backup folder holds no supported input."""


class BackupTooLargeError(AstrabotError, ValueError):
    """The newest input is larger than the size cap, or a sparse file that stores nothing."""


def _files(path: Path) -> Iterator[Path]:
    """The files that make up an input, in a stable order (a file is its own list): in a
    folder only regular files, never through a symbolic link, hidden ones left out."""
    if not path.is_dir():
        if path.exists():
            yield path
        return
    for child in sorted(path.rglob("*")):
        if not child.name.startswith(".") and stat.S_ISREG(child.lstat().st_mode):
            yield child


def _within(path: Path, folder: Path) -> bool:
    return path == folder or folder in path.parents


def _is_candidate(entry: Path, folder: Path, link_targets: Iterable[Path]) -> bool:
    """Whether a folder entry may be read at all: a regular file or folder, or a symbolic
    link whose resolved target is one and lies inside `folder` or one of `link_targets`."""
    try:
        info = entry.lstat()
        if stat.S_ISLNK(info.st_mode):
            target = entry.resolve(strict=True)
            if not any(_within(target, allowed) for allowed in (folder, *link_targets)):
                return False
            info = target.stat()
    except (OSError, RuntimeError):  # vanished, unreadable, a link loop
        return False
    return stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)


def candidates(directory: str | Path, *, link_targets: Iterable[str | Path] = ()) -> list[Path]:
    """The supported inputs in `directory` that may be read (see the module docstring)."""
    folder = Path(directory).resolve()
    if not folder.is_dir():
        return []
    allowed = [Path(target).resolve() for target in link_targets]
    return [
        entry
        for entry in sorted(folder.iterdir())
        if _is_candidate(entry, folder, allowed) and is_supported_input(entry)
    ]


def _modified_ns(path: Path) -> int:
    return max((file.stat().st_mtime_ns for file in _files(path)), default=0)


def newest_backup(
    directory: str | Path,
    *,
    link_targets: Iterable[str | Path] = (),
    max_bytes: int = DEFAULT_MAX_BACKUP_BYTES,
) -> Path:
    """The most recently modified supported input (file or folder) in `directory`.

    NoBackupFoundError when there is none; BackupTooLargeError when the newest is larger
    than `max_bytes` or sparse (an older input is not silently taken instead).
    """
    found = candidates(directory, link_targets=link_targets)
    if not found:
        raise NoBackupFoundError(
            f"no Signal backup found in {directory}: copy your backup (a .backup file, a "
            "signal-backup-* folder, a plaintext export, a Desktop db.sqlite, ...) there or set "
            "ASTRABOT_BACKUP_DIR to the folder that holds it (`make demo` writes a demo backup)"
        )
    newest = max(found, key=lambda path: (_modified_ns(path), path.name))
    check_input_size(newest, max_bytes=max_bytes)
    return newest


def check_input_size(path: str | Path, *, max_bytes: int = DEFAULT_MAX_BACKUP_BYTES) -> None:
    """BackupTooLargeError when the input at `path` holds more than `max_bytes`, or is a
    sparse file: long, with (almost) nothing stored. Only `stat` is asked, nothing read."""
    path = Path(path)
    files = [file.stat() for file in _files(path)]
    size = sum(info.st_size for info in files)
    if size > max_bytes:
        raise BackupTooLargeError(
            f"{path.name} holds {size / 1e9:,.1f} GB, more than the {max_bytes / 1e9:,.1f} GB "
            "an input may hold; if it is your backup, raise ASTRABOT_MAX_BACKUP_GB"
        )
    for info in files:
        if info.st_size >= SPARSE_MIN_BYTES and info.st_blocks * 512 * SPARSE_RATIO < info.st_size:
            raise BackupTooLargeError(
                f"{path.name} is a sparse file ({info.st_size / 1e9:,.1f} GB long, "
                f"{info.st_blocks * 512 / 1e6:,.1f} MB stored): not a backup (a copied backup "
                "stores every byte); remove it from the backup folder"
            )


class HashCache:
    """The content hash of each input version seen, in a private file (0600, replaced
    atomically) that survives restarts of the code server; a real backup of tens of GB is
    then read once, not on every sensor tick.

    A key is the SHA-256 of the input's stamp (each file's device, inode, size and
    modification time in nanoseconds, and a folder's relative names): the file holds
    hashes only, no name. A file rewritten in place keeps its inode but not its mtime;
    one replaced by a copy gets a new inode.
    """

    def __init__(self, file: str | Path) -> None:
        self.file = Path(file)

    def _entries(self) -> dict[str, str]:
        content = storage.read_marker(self.file, _CACHE_MAGIC, _CACHE_MAX_BYTES) or {}
        entries = content.get("entries")
        if not isinstance(entries, dict):
            return {}
        return {k: v for k, v in entries.items() if isinstance(k, str) and isinstance(v, str)}

    def get(self, key: str) -> str | None:
        return self._entries().get(key)

    def put(self, key: str, digest: str) -> None:
        entries = self._entries()
        entries.pop(key, None)
        entries[key] = digest
        kept = dict(list(entries.items())[-_CACHE_ENTRIES:])
        payload = json.dumps({"entries": kept}, sort_keys=False).encode()
        # A read-only data folder: the next tick hashes again, nothing is lost.
        with contextlib.suppress(OSError):
            storage.write_bytes(self.file, _CACHE_MAGIC + payload)


def content_sha256(path: str | Path, *, cache: HashCache | None = None) -> str:
    """Hex SHA-256 of an input's content: a file's bytes, or every file of a folder
    (relative name and bytes, in sorted order), streamed in 1 MiB chunks.

    The sensor asks every minute: an unchanged input (same files, inodes, sizes and mtimes)
    is not read again in this process, nor, with a `cache`, in any later one.
    """
    path = Path(path).resolve()
    stamp = tuple(_stamp(path, file) for file in _files(path))
    key = hashlib.sha256(repr(stamp).encode()).hexdigest()
    cached = cache.get(key) if cache is not None else None
    if cached is not None:
        return cached
    digest = _hash_files(path, stamp)
    if cache is not None:
        cache.put(key, digest)
    return digest


def _stamp(root: Path, file: Path) -> tuple[str, int, int, int, int]:
    info = file.stat()
    name = file.relative_to(root).as_posix() if file != root else ""
    return (name, info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=32)
def _hash_files(path: Path, stamp: tuple[tuple[str, int, int, int, int], ...]) -> str:
    digest = hashlib.sha256()
    for name, *_ in stamp:
        if path.is_dir():
            digest.update(name.encode() + b"\0")
        with open_regular(path / name if name else path) as handle:
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
        fd = os.open(file, os.O_RDONLY | os.O_NONBLOCK)  # a named pipe must not block
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
