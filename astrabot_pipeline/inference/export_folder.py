"""Where `astrabot export` may write: the rules for `--out` and the export's marker file.

`--out` may be a new path, an empty folder, or an earlier export of ours, which is
replaced. "Ours" means the folder holds the marker `.astrabot-export` (a regular file,
never followed as a symlink) listing every entry the export wrote, and nothing else: a
file the user added makes the export refuse, naming how many, so nothing we did not
write is ever deleted. A symlink, a file, a mount point, the current folder (or one
holding it) and any other non-empty folder are refused with `ExportFolderError`.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from astrabot_pipeline.inference.errors import ExportFolderError
from astrabot_pipeline.storage import read_marker

MARKER_FILE = ".astrabot-export"
MARKER_MAGIC = b"astrabot export\n"
MAX_MARKER_BYTES = 1 << 20


def target_path(out: str | os.PathLike[str]) -> Path:
    """`out` made absolute with its parent's symlinks resolved (the folder itself is not)."""
    raw = Path(out).expanduser()
    if raw.name in ("", ".", ".."):
        raw = Path(os.path.realpath(raw))
    if raw.name in ("", ".", ".."):
        raise ExportFolderError(f"{raw} cannot be an export folder; name a new folder")
    return Path(os.path.realpath(raw.parent)) / raw.name


def listing(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (relative POSIX path -> "d" folder, "f" file, "?" other),
    the marker excluded; symlinks are never followed."""
    entries: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(folder):
        base = Path(dirpath).relative_to(folder)
        for name in (*dirnames, *filenames):
            relative = (base / name).as_posix()
            if relative == MARKER_FILE:
                continue
            mode = Path(dirpath, name).lstat().st_mode
            entries[relative] = "d" if stat.S_ISDIR(mode) else "f" if stat.S_ISREG(mode) else "?"
    return entries


def write_marker(folder: Path, adapter_name: str) -> None:
    """Record what is in `folder` (call last, when every other file is written)."""
    payload = {"adapter": adapter_name, "entries": listing(folder)}
    (folder / MARKER_FILE).write_bytes(MARKER_MAGIC + json.dumps(payload, sort_keys=True).encode())


def _marker_entries(folder: Path) -> dict | None:
    content = read_marker(folder / MARKER_FILE, MARKER_MAGIC, MAX_MARKER_BYTES)
    entries = content.get("entries") if content is not None else None
    return entries if isinstance(entries, dict) else None


def check_export_folder(out: str | os.PathLike[str]) -> Path:
    """The absolute path an export may write to (and replace), or `ExportFolderError`.

    Reads nothing but folder listings and our own marker; writes nothing.
    """
    target = target_path(out)
    try:
        info = target.lstat()
    except FileNotFoundError:
        return target
    except NotADirectoryError:
        raise ExportFolderError(f"cannot create {target}: a parent is not a folder") from None
    except PermissionError:
        raise ExportFolderError(
            f"cannot look into {target.parent}: permission denied; choose a folder you can write to"
        ) from None
    if stat.S_ISLNK(info.st_mode):
        raise ExportFolderError(f"{target} is a symbolic link; name a new folder for --out")
    if not stat.S_ISDIR(info.st_mode):
        raise ExportFolderError(f"{target} is a file, not a folder; name a new folder for --out")
    cwd = Path(os.path.realpath(Path.cwd()))
    if cwd == target or target in cwd.parents:
        raise ExportFolderError(
            f"{target} is the current folder or holds it; name a new folder, e.g. --out export"
        )
    if os.path.ismount(target):
        raise ExportFolderError(
            f"{target} is a mount point; name a new folder inside it, e.g. {target / 'export'}"
        )
    try:
        with os.scandir(target) as scan:
            top = [entry.name for entry in scan]
        if not top:
            return target
        ours = _marker_entries(target)
        if ours is None:
            raise ExportFolderError(
                f"{target} is not empty and is not an earlier astrabot export "
                f"({len(top)} {'entry' if len(top) == 1 else 'entries'}); choose a new or "
                "empty folder, or remove it yourself"
            )
        present = listing(target)
    except PermissionError:
        raise ExportFolderError(
            f"cannot look into {target}: permission denied; choose a folder you can write to"
        ) from None
    foreign = sorted(name for name, kind in present.items() if ours.get(name) != kind)
    if foreign:
        raise ExportFolderError(
            f"{target} holds an earlier astrabot export plus {len(foreign)} "
            f"{'entry' if len(foreign) == 1 else 'entries'} it did not write (e.g. "
            f"{foreign[0]}); move {'it' if len(foreign) == 1 else 'them'} out or choose "
            "another folder"
        )
    return target


__all__ = ["MARKER_FILE", "check_export_folder", "listing", "target_path", "write_marker"]
