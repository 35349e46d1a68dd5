"""Where a decode may write: the rules for `--out`, the ownership marker, stale temporaries.

A decode writes a folder of plaintext chats, and `--out` is whatever the user typed (or
`$ASTRABOT_DATA_DIR/decoded/latest` under Dagster). The rules, checked before any decoding
work (`check_output_dir`) and again just before the new output is renamed into place:

- a path that does not exist is created, with its missing parents 0700; on failure the
  parents created are removed again (when empty). Existing folders are never chmod'ed.
- an empty folder is replaced by the new output (nothing is lost).
- an earlier output of ours is replaced only with `replace=True` (`astrabot decode --force`;
  the Dagster decoder always replaces `decoded/latest`). "Ours" means the folder carries
  the marker file `.astrabot-decode` (a regular file, never followed as a symlink) that
  lists every file and folder that decode wrote, and holds nothing else. A file the user
  dropped into an earlier output makes the decode refuse, naming it: nothing we did not
  write is ever deleted. Outputs of versions before the marker (`decode.json` + `tables/`)
  are recognised by their exact layout, see `_is_unmarked_output`.
- anything else is refused with `OutputFolderError`: a file, a symlink, a mount point,
  the current folder or one holding it, a folder holding the input, a non-empty folder
  that is not ours.

The output is built in a hidden sibling `.<name>.<random>.tmp` (0700) whose marker is
written first and `flock`'ed for the temporary's whole life. A temporary whose marker can
be locked belongs to a decode that died (SIGKILL, power loss): `remove_stale_temps` deletes
it (the next decode into the same parent does, and so does `astrabot purge`); a live
decode's temporary is never touched, and nothing is removed by its name alone.
"""

from __future__ import annotations

import errno
import fcntl
import json
import os
import resource
import secrets
import shutil
import sqlite3
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from astrabot_pipeline import storage
from astrabot_pipeline.signal.errors import (
    BackupError,
    InputPermissionError,
    OutOfSpaceError,
    OutputFolderError,
    OutputWriteError,
    UnreadableInputError,
)

MARKER_FILE = ".astrabot-decode"
MARKER_MAGIC = b"astrabot decode output\n"
MAX_MARKER_BYTES = 64 << 20  # a listing of ~1 million entries; a planted huge file is not read
TEMP_SUFFIX = ".tmp"
WRITING, COMPLETE = "writing", "complete"
LOW_SPACE_BYTES = 1 << 20  # below this, a failed write is blamed on a full disk
_SQLITE_FULL, _SQLITE_IOERR = 13, 10
_E = TypeVar("_E", bound=BackupError)

# What a decode of a version without the marker wrote (signal/processor.py at b7ec29e).
_UNMARKED_MANIFEST = "decode.json"
_UNMARKED_TABLES = "tables"
_UNMARKED_BLOB_DIRS = frozenset({"attachments", "avatars", "stickers"})
_UNMARKED_MANIFEST_KEYS = frozenset({"row_counts", "frames", "bytes_read", "seconds"})
_MAX_UNMARKED_MANIFEST = 1 << 20


@dataclass(frozen=True)
class OutputTarget:
    """A checked output path: absolute, parent resolved, and what is there now."""

    path: Path
    state: str  # "missing", "empty", "ours" (marker) or "unmarked" (an older version's output)


def _real(path: str | os.PathLike[str]) -> Path:
    """Symlinks resolved as far as they go (a symlink loop is left as is, not an error)."""
    return Path(os.path.realpath(path))


def check_output_dir(
    out: str | os.PathLike[str],
    *,
    replace: bool = False,
    input_path: str | os.PathLike[str] | None = None,
) -> OutputTarget:
    """Check that a decode may write to `out`; raise OutputFolderError (one line) if not.

    Reads nothing but folder listings and our own marker; writes nothing.
    """
    target = storage.folder_target(out, OutputFolderError, "an output folder")
    try:
        return OutputTarget(target, _state(target, replace=replace, input_path=input_path))
    except PermissionError:
        raise OutputFolderError(
            f"cannot look into {target} or its parent: permission denied; "
            "choose a folder you can write to"
        ) from None


def _state(target: Path, *, replace: bool, input_path: str | os.PathLike[str] | None) -> str:
    for ancestor in target.parents:
        if os.path.lexists(ancestor):
            if not ancestor.is_dir():
                raise OutputFolderError(f"cannot create {target}: {ancestor} is not a folder")
            break
    if not storage.check_folder_shape(target, OutputFolderError, "decoded"):
        return "missing"
    if input_path is not None:
        source = _real(input_path)
        if source == target or target in source.parents:
            raise OutputFolderError(
                f"the input {Path(input_path).name} lies inside {target}; "
                "choose an output folder elsewhere"
            )
    with os.scandir(target) as entries:
        names = [entry.name for entry in entries]
    if not names:
        return "empty"
    foreign = foreign_entries(target)
    if foreign is None:
        state = "unmarked" if _is_unmarked_output(target) else None
        if state is None:
            raise OutputFolderError(
                f"{target} is not empty and was not written by astrabot decode "
                f"({len(names)} {'entry' if len(names) == 1 else 'entries'}); "
                "choose an empty or new folder, or remove it yourself"
            )
    elif foreign:
        raise OutputFolderError(
            f"{target} holds an earlier astrabot decode output plus {len(foreign)} "
            f"{'entry' if len(foreign) == 1 else 'entries'} it did not write (e.g. "
            f"{foreign[0]}); move {'it' if len(foreign) == 1 else 'them'} out or choose "
            "another folder"
        )
    else:
        state = "ours"
    if not replace:
        raise OutputFolderError(
            f"{target} holds an earlier astrabot decode output; pass --force to replace it "
            "or choose a new folder"
        )
    return state


# -- the marker -----------------------------------------------------------------------


def _read_marker(folder: Path) -> dict | None:
    """The marker's content, or None when absent, a symlink, not ours, or unreadable."""
    return storage.read_marker(folder / MARKER_FILE, MARKER_MAGIC, MAX_MARKER_BYTES)


def _kind(path: Path) -> str:
    mode = path.lstat().st_mode
    return "d" if stat.S_ISDIR(mode) else "f" if stat.S_ISREG(mode) else "?"


def listing(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (see `storage.tree_listing`), the marker excluded."""
    return storage.tree_listing(folder, exclude=MARKER_FILE)


def foreign_entries(folder: Path) -> list[str] | None:
    """None when `folder` carries no complete marker of ours; else the entries (relative
    paths, sorted) that the decode which wrote the marker did not write."""
    marker = _read_marker(folder)
    if marker is None or marker.get("state") != COMPLETE:
        return None
    ours = marker.get("entries")
    if not isinstance(ours, dict):
        return None
    foreign = []
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath).relative_to(folder)
        keep = []
        for name in (*dirnames, *filenames):
            relative = (base / name).as_posix()
            if relative == MARKER_FILE:
                continue
            kind = _kind(Path(dirpath, name))
            if ours.get(relative) != kind:
                foreign.append(relative)
            elif kind == "d":
                keep.append(name)
        dirnames[:] = [name for name in dirnames if name in keep]
    return sorted(foreign)


def _is_unmarked_output(folder: Path) -> bool:
    """Whether `folder` is, entry by entry, what a decode before the marker wrote.

    Safe to replace because every entry must be one our decoder writes (decode.json with
    our manifest's keys, tables/<contract table>.parquet, signal.sqlite or another work
    database, attachments|avatars|stickers/<id>.bin), regular files and real folders
    only: a folder a person made, or an old output they added a file to, does not match.
    """
    from astrabot_pipeline.signal.tables import TABLE_NAMES

    tables = {f"{name}.parquet" for name in TABLE_NAMES}
    with os.scandir(folder) as scan:
        entries = list(scan)
    names = {entry.name for entry in entries}
    if _UNMARKED_MANIFEST not in names or _UNMARKED_TABLES not in names:
        return False
    for entry in entries:
        if entry.is_symlink():
            return False
        if entry.name == _UNMARKED_TABLES or entry.name in _UNMARKED_BLOB_DIRS:
            if not entry.is_dir(follow_symlinks=False):
                return False
            with os.scandir(entry.path) as inner:
                for item in inner:
                    if not item.is_file(follow_symlinks=False):
                        return False
                    if entry.name == _UNMARKED_TABLES and item.name not in tables:
                        return False
                    if entry.name != _UNMARKED_TABLES and not item.name.endswith(".bin"):
                        return False
        elif entry.name == _UNMARKED_MANIFEST or entry.name.endswith(
            (".sqlite", ".sqlite-wal", ".sqlite-shm", ".sqlite-journal")
        ):
            if not entry.is_file(follow_symlinks=False):
                return False
        else:
            return False
    manifest = folder / _UNMARKED_MANIFEST
    if manifest.lstat().st_size > _MAX_UNMARKED_MANIFEST:
        return False
    try:
        content = json.loads(manifest.read_bytes())
    except ValueError:
        return False
    return (
        isinstance(content, dict)
        and content.keys() >= _UNMARKED_MANIFEST_KEYS
        and isinstance(content["row_counts"], dict)
    )


class _Marker:
    """Our marker in a temporary output, created first and flock'ed until closed."""

    def __init__(self, folder: Path) -> None:
        flags = os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
        self._descriptor = os.open(folder / MARKER_FILE, flags, storage.PRIVATE_FILE_MODE)
        fcntl.flock(self._descriptor, fcntl.LOCK_EX)  # held for the temporary's whole life
        self._write({"state": WRITING, "pid": os.getpid()})

    def _write(self, content: dict) -> None:
        data = MARKER_MAGIC + json.dumps(content, sort_keys=True).encode() + b"\n"
        os.ftruncate(self._descriptor, 0)
        os.pwrite(self._descriptor, data, 0)

    def complete(self, entries: dict[str, str]) -> None:
        self._write({"state": COMPLETE, "entries": entries})
        os.fsync(self._descriptor)

    def close(self) -> None:
        os.close(self._descriptor)  # releases the lock


def _is_stale_temp(path: Path) -> bool:
    """A hidden `.*.tmp` folder (not a symlink) whose marker is ours and can be locked."""
    try:
        info = path.lstat()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid():
        return False
    if _read_marker(path) is None:
        return False
    try:
        descriptor = os.open(path / MARKER_FILE, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return False  # a live decode holds it
    finally:
        os.close(descriptor)
    return True


def stale_temps(parent: Path) -> list[Path]:
    """Temporary outputs of decodes that died, directly inside `parent`."""
    try:
        with os.scandir(parent) as entries:
            candidates = [
                Path(entry.path)
                for entry in entries
                if entry.name.startswith(".") and entry.name.endswith(TEMP_SUFFIX)
            ]
    except OSError:
        return []
    return sorted(path for path in candidates if _is_stale_temp(path))


def remove_stale_temps(parent: Path) -> list[Path]:
    """Delete the temporary outputs of dead decodes inside `parent`; return them."""
    removed = []
    for path in stale_temps(parent):
        _remove_tree(path)
        removed.append(path)
    return removed


def _remove_tree(path: Path) -> None:
    # rmtree does not follow symlinks (fd-based where the platform allows it).
    shutil.rmtree(path, ignore_errors=True)


# -- errors a user can hit while writing ----------------------------------------------


def free_bytes(folder: Path) -> int | None:
    try:
        info = os.statvfs(folder)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


def file_size_limited() -> bool:
    soft, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    return soft != resource.RLIM_INFINITY


def _inside(path: object, folder: Path) -> bool:
    if not isinstance(path, str | os.PathLike):
        return False
    candidate = Path(os.path.abspath(path))
    return candidate == folder or folder in candidate.parents


def translate_os_error(
    error: BaseException, *, output: Path, input_path: Path | None = None
) -> BackupError | None:
    """The typed, one-line error a user should see for an OSError or SQLite error met while
    decoding into `output` (None: not one we know; let it propagate)."""
    if isinstance(error, BackupError):
        return None
    parent = output.parent
    code = error.errno if isinstance(error, OSError) else None
    sqlite_code = (
        getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.Error) else None
    )
    if not isinstance(error, OSError | sqlite3.Error):
        return None
    free = free_bytes(parent)
    low = free is not None and free < LOW_SPACE_BYTES
    filename = getattr(error, "filename", None) if isinstance(error, OSError) else None
    if (
        code in (errno.ENOSPC, errno.EDQUOT)
        or (sqlite_code is not None and sqlite_code & 0xFF == _SQLITE_FULL)
        or (low and (isinstance(error, sqlite3.Error) or code is not None))
    ):
        return _typed(
            OutOfSpaceError,
            f"the disk holding {parent} is full (no space left while writing the decoded "
            "output); the partial output was removed: free some space or choose another --out",
            errno.ENOSPC,
        )
    if code == errno.EFBIG or (
        sqlite_code is not None and sqlite_code & 0xFF == _SQLITE_IOERR and file_size_limited()
    ):
        return _typed(
            OutOfSpaceError,
            "a file of the decoded output reached this process's file-size limit (ulimit -f); "
            "the partial output was removed: raise the limit and decode again",
            errno.EFBIG,
        )
    if sqlite_code is not None and sqlite_code & 0xFF == _SQLITE_IOERR:
        return _typed(
            OutputWriteError,
            f"writing the decoded database under {parent} failed (disk I/O error); "
            "check the disk, or choose another --out",
            errno.EIO,
        )
    if code in (errno.EACCES, errno.EPERM, errno.ELOOP, errno.EIO, errno.EROFS):
        if input_path is not None and filename is not None and _inside(filename, input_path):
            return unreadable_input(Path(filename).name, code)
        if code == errno.EROFS or _inside(filename, parent):
            return _typed(
                OutputWriteError,
                f"cannot write under {parent}: {os.strerror(code)}; choose a folder you can "
                "write to",
                code,
            )
    return None


def unreadable_input(name: str, code: int) -> UnreadableInputError:
    """The typed error for an input file (named by `name`) that cannot be read."""
    if code in (errno.EACCES, errno.EPERM):
        return _typed(
            InputPermissionError,
            f"cannot read {name}: permission denied; check its permissions (ls -l) or "
            "run as its owner",
            code,
        )
    if code == errno.ELOOP:
        return _typed(
            UnreadableInputError,
            f"cannot open {name}: it is a symbolic link loop (too many levels of "
            "symbolic links); point at the real file",
            code,
        )
    return _typed(UnreadableInputError, f"cannot read {name}: {os.strerror(code)}", code)


def _typed(kind: type[_E], message: str, code: int) -> _E:
    error = kind(message)
    if isinstance(error, OSError):
        error.errno = code
    return error


def check_readable_input(path: str | os.PathLike[str]) -> None:
    """Open `path` (a file or folder) for reading once; raise UnreadableInputError (or
    its PermissionError subclass) when that fails, FileNotFoundError when it is absent.
    Nothing is read from it."""
    path = Path(path)
    try:
        info = os.stat(path)
        if stat.S_ISDIR(info.st_mode):
            with os.scandir(path):
                pass
        else:
            os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except FileNotFoundError:
        raise
    except OSError as error:
        if error.errno in (errno.EACCES, errno.EPERM, errno.ELOOP, errno.EIO, errno.ENOTDIR):
            raise unreadable_input(path.name, error.errno) from None
        raise


# -- writing --------------------------------------------------------------------------


@contextmanager
def decode_output(
    out: str | os.PathLike[str],
    *,
    replace: bool = True,
    input_path: str | os.PathLike[str] | None = None,
) -> Iterator[Path]:
    """Check `out` (see the module docstring), then yield an empty private temporary folder
    carrying our locked marker; on success it replaces `out`, on any error (or Ctrl-C,
    SIGTERM) it vanishes with the parents it created. OSError and SQLite errors a user can
    hit (disk full, permissions) leave as typed BackupErrors."""
    target = check_output_dir(out, replace=replace, input_path=input_path)
    source = _real(input_path) if input_path is not None else None
    try:
        created = storage.make_parents(target.path.parent)
    except OSError as error:
        raise _setup_error(error, target.path) from None
    temp: Path | None = None
    try:
        remove_stale_temps(target.path.parent)
        try:
            temp = Path(
                tempfile.mkdtemp(
                    prefix=f".{target.path.name}.", suffix=TEMP_SUFFIX, dir=target.path.parent
                )
            )
            marker = _Marker(temp)
        except OSError as error:
            raise _setup_error(error, target.path) from None
        try:
            try:
                yield temp
            except (OSError, sqlite3.Error) as error:
                typed = translate_os_error(error, output=target.path, input_path=source)
                if typed is None:
                    raise
                raise typed from None
            try:
                storage.make_tree_private(temp)
                marker.complete(listing(temp))
                _commit(temp, target, replace=replace, input_path=input_path)
            except OSError as error:
                typed = translate_os_error(error, output=target.path)
                if typed is None:
                    raise
                raise typed from None
        finally:
            marker.close()
    except BaseException:
        if temp is not None:
            _remove_tree(temp)
        storage.remove_created(created)
        raise


def _setup_error(error: OSError, target: Path) -> BackupError:
    typed = translate_os_error(error, output=target)
    if typed is not None:
        return typed
    return _typed(
        OutputWriteError,
        f"cannot create the output beside {target}: {error.strerror or type(error).__name__}",
        error.errno or errno.EIO,
    )


def _commit(
    temp: Path, target: OutputTarget, *, replace: bool, input_path: str | os.PathLike[str] | None
) -> None:
    """Rename `temp` to the target, after checking the target again (it may have changed
    while we decoded); an earlier output of ours is moved aside to a hidden `.….old.tmp`
    name, then deleted (if we die in between, its marker makes it a stale temporary that
    the next decode removes; an unmarked older output would stay, under that name)."""
    final = target.path
    state = _state(final, replace=replace, input_path=input_path)
    if state in ("missing", "empty"):
        try:
            os.rename(temp, final)  # replaces an empty folder atomically
        except OSError as error:
            if error.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR, errno.EISDIR):
                raise OutputFolderError(
                    f"{final} changed while decoding (it is no longer empty); nothing was "
                    "replaced: choose an empty or new folder"
                ) from None
            raise
        return
    aside = final.with_name(f".{final.name}.{secrets.token_hex(6)}.old{TEMP_SUFFIX}")
    os.rename(final, aside)
    try:
        os.rename(temp, final)
    except BaseException:
        with suppress(OSError):
            os.rename(aside, final)
        raise
    _remove_tree(aside)


__all__ = [
    "MARKER_FILE",
    "OutputTarget",
    "check_output_dir",
    "check_readable_input",
    "decode_output",
    "foreign_entries",
    "listing",
    "remove_stale_temps",
    "stale_temps",
    "translate_os_error",
    "unreadable_input",
]
