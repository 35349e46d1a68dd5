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
from pathlib import Path

from astrabot_pipeline.inference.errors import ExportFolderError
from astrabot_pipeline.storage import check_folder_shape, folder_target, read_marker, tree_listing

MARKER_FILE = ".astrabot-export"
MARKER_MAGIC = b"astrabot export\n"
MAX_MARKER_BYTES = 1 << 20


def target_path(out: str | os.PathLike[str]) -> Path:
    """`out` (a leading `~` expanded) made absolute with its parent's symlinks resolved."""
    return folder_target(Path(out).expanduser(), ExportFolderError, "an export folder")


def listing(folder: Path) -> dict[str, str]:
    """Every entry under `folder` (see `storage.tree_listing`), the marker excluded."""
    return tree_listing(folder, exclude=MARKER_FILE)


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
        if not check_folder_shape(target, ExportFolderError, "export"):
            return target
    except PermissionError:
        raise ExportFolderError(
            f"cannot look into {target.parent}: permission denied; choose a folder you can write to"
        ) from None
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
