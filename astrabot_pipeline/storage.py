"""Private, atomic file-system writes shared by every stage.

Outputs are written beside their final path under a temporary name and renamed into
place only when complete, so a failure never leaves half an output behind.
Directories are 0700 and files 0600: the data directory holds a person's chats.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def private_dir(path: str | os.PathLike[str]) -> Path:
    """Create `path` (and parents) if needed and make it 0700.

    Only for folders that are ours (the data directory, folders inside an output): it
    chmods an existing `path`. For a folder the user named, use `make_parents`.
    """
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True, mode=PRIVATE_DIR_MODE)
    path.chmod(PRIVATE_DIR_MODE)
    return path


def make_parents(path: str | os.PathLike[str]) -> list[Path]:
    """Create `path` and its missing parents 0700; return those created, outermost first.

    Folders that already exist are left exactly as they are (never chmod'ed): a shared
    sticky /tmp, a home folder or a mount point keeps its mode. Remove the created ones
    with `remove_created` when the write they were made for fails.
    """
    path = Path(path)
    missing: list[Path] = []
    for folder in (path, *path.parents):
        if os.path.lexists(folder):
            break
        missing.append(folder)
    created = []
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # made meanwhile by someone else: not ours
        folder.chmod(PRIVATE_DIR_MODE)  # ours: the umask may have taken bits away
        created.append(folder)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "not a folder", str(path))
    return created


def remove_created(created: list[Path]) -> None:
    """Remove folders `make_parents` created, innermost first, each only while empty."""
    for folder in reversed(created):
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (someone else wrote there) or gone: keep it and its parents


def make_tree_private(root: Path) -> None:
    """chmod a tree we wrote: folders 0700, files 0600 (symlinks are not followed)."""
    if root.is_symlink():
        return
    if root.is_file():
        root.chmod(PRIVATE_FILE_MODE)
        return
    root.chmod(PRIVATE_DIR_MODE)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in (*dirnames, *filenames):
            entry = Path(dirpath, name)
            if not entry.is_symlink():
                entry.chmod(PRIVATE_DIR_MODE if entry.is_dir() else PRIVATE_FILE_MODE)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextmanager
def atomic_output(final: str | os.PathLike[str], *, directory: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling path; on success it replaces `final`, on error it vanishes.

    With `directory=True` the temporary path is an empty 0700 directory to fill. Missing
    parents are created 0700 (and removed again on error); existing ones are not touched.
    """
    final = Path(final)
    created = make_parents(final.parent)
    try:
        temp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    except BaseException:
        remove_created(created)
        raise
    if not directory:
        temp.rmdir()
    try:
        yield temp
        make_tree_private(temp)
        if directory and final.exists():
            # A directory cannot be renamed over a non-empty one: swap the old one out first.
            old = final.with_name(f".{final.name}.old-{os.getpid()}")
            _remove(old)
            final.rename(old)
            temp.rename(final)
            _remove(old)
        else:
            os.replace(temp, final)
    except BaseException:
        _remove(temp)
        remove_created(created)
        raise


def write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    with atomic_output(path) as temp:
        temp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike[str], text: str) -> Path:
    return write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], payload: Any) -> Path:
    return write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(
    path: str | os.PathLike[str], frame: pd.DataFrame, schema: pa.Schema | None = None
) -> Path:
    """Write one DataFrame as Parquet, cast to `schema` when one is given."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    with atomic_output(path) as temp:
        pq.write_table(table, temp)
    return Path(path)


def read_parquet(path: str | os.PathLike[str]) -> pd.DataFrame:
    return pq.read_table(path).to_pandas()


def read_marker(path: str | os.PathLike[str], magic: bytes, max_bytes: int) -> dict | None:
    """The JSON object a marker file of ours holds after `magic`; None when the file is
    absent, a symlink, not a regular file, larger than `max_bytes`, not ours or unreadable.

    Markers say which folders we wrote (and so may replace): one planted by someone else
    must never count, and reading it must cost little whatever was planted.
    """
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with os.fdopen(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes or not data.startswith(magic):
        return None
    try:
        content = json.loads(data[len(magic) :])
    except ValueError:
        return None
    return content if isinstance(content, dict) else None


# -- output folders the user names ------------------------------------------------------


def folder_target(out: str | os.PathLike[str], error: type[Exception], what: str) -> Path:
    """`out` made absolute with its parent's symlinks resolved (the folder itself is not,
    so a symlinked output is seen, and refused, as one). `what` names the folder's use."""
    raw = Path(out)
    if raw.name in ("", ".", ".."):  # ".", "..", "a/..": the folder itself
        raw = Path(os.path.realpath(raw))
    if raw.name in ("", ".", ".."):
        raise error(f"{raw} cannot be {what}; name a new folder")
    return Path(os.path.realpath(raw.parent)) / raw.name


def check_folder_shape(target: Path, error: type[Exception], example: str) -> bool:
    """Whether `target` exists; `error` (one line) when it may never be an output folder:
    a symlink, a file, the current folder or one holding it, a mount point.
    `example` is a folder name suggested instead. PermissionError propagates."""
    try:
        info = target.lstat()
    except FileNotFoundError:
        return False
    except NotADirectoryError:
        raise error(f"cannot create {target}: a parent is not a folder") from None
    if stat.S_ISLNK(info.st_mode):
        raise error(f"{target} is a symbolic link; name the real folder (or a new one) instead")
    if not stat.S_ISDIR(info.st_mode):
        raise error(f"{target} is a file, not a folder; choose a new folder name for --out")
    cwd = Path(os.path.realpath(Path.cwd()))
    if cwd == target or target in cwd.parents:
        raise error(
            f"{target} is the current folder or holds it; name a new folder, e.g. --out {example}"
        )
    if os.path.ismount(target):
        raise error(
            f"{target} is a mount point; name a new folder inside it, e.g. {target / example}"
        )
    return True


def tree_listing(folder: Path, *, exclude: str = "") -> dict[str, str]:
    """Every entry under `folder` (relative POSIX path -> "d" folder, "f" file, "?" other,
    symlinks included and never followed), `exclude` (a top-level name) left out."""
    entries: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath).relative_to(folder)
        for name in (*dirnames, *filenames):
            relative = (base / name).as_posix()
            if relative != exclude:
                mode = Path(dirpath, name).lstat().st_mode
                kind = "d" if stat.S_ISDIR(mode) else "f" if stat.S_ISREG(mode) else "?"
                entries[relative] = kind
    return entries
