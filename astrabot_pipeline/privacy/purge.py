"""Deleting what the pipeline decoded: plaintext chats and the intermediates holding raw text.

Everything lives under the data directory (docs/architecture.md §3; its names are
data_layout.py's). Two sets:

- plaintext (`plaintext_targets`): the decoded backup (`decoded/`: signal.sqlite,
  attachments, tables), the asset outputs that still hold raw message text
  (`assets/decoded_backup/`, `assets/conversation_windows.parquet`,
  `assets/nitter_enriched_windows.parquet`) and `cache/` (resolved tweets). What starts
  at `anonymized_windows` stays, so the dataset, training and evaluation still run.
  Re-materializing `decoded_backup` (or anything upstream of `anonymized_windows`)
  decodes the backup again and writes the plaintext back.
- everything (`everything_targets`): the above plus `dataset/` (the JSONL export),
  `canaries/` (the memorization canaries' record), `models/`, `reports/`, `exports/`
  (`astrabot export` outputs), `samples/` (the evaluation's redacted sample generations),
  `secrets/identifier_digests.json` (keyed digests of the replaced identifiers) and all
  of `assets/`.

Both sets also hold the stale temporary folders of decodes that died (SIGKILL, power
loss) anywhere under the data directory: hidden `.<name>.<random>.tmp` folders carrying
the decoder's marker whose lock no live decode holds (`signal/output_dir.py`); a running
decode's temporary folder is left alone, and nothing is taken for one by its name alone.

`backups/` (the inputs), the configured backup folder and the keys in `secrets/` (they
reveal nothing without the data, and keep surrogates and digests stable across re-runs)
are never touched.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline.data_layout import (
    ASSETS,
    BACKUPS,
    CACHE,
    CANARIES,
    DATASET,
    DECODED,
    DIGEST_FILE,
    EXPORTS,
    MODELS,
    REPORTS,
    SAMPLES,
    SECRETS,
    asset_output,
    frame_output,
)
from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.signal.output_dir import stale_temps

PLAINTEXT_PATHS = (
    DECODED,
    asset_output("decoded_backup"),  # its tables, as the IO manager stores them
    frame_output("conversation_windows"),
    frame_output("nitter_enriched_windows"),
    CACHE,
)
EVERYTHING_PATHS = (
    *PLAINTEXT_PATHS,
    ASSETS,
    CANARIES,
    DATASET,
    MODELS,
    REPORTS,
    EXPORTS,
    SAMPLES,
    # Keyed digests of every identifier the privacy stage replaced: with the key beside
    # them a guessed name or number can be tested, so they go with the chats they came from.
    f"{SECRETS}/{DIGEST_FILE}",
)
NEVER_PURGED = (BACKUPS, SECRETS)


class PurgeError(AstrabotError, RuntimeError):
    """A purge target lies outside the data directory or is one of the kept folders."""


@dataclass(frozen=True)
class PurgedPath:
    """One deleted file or folder: its path, size in bytes and file count (never content)."""

    path: Path
    size: int
    files: int


def plaintext_targets(
    data_dir: str | os.PathLike[str], *, keep: tuple[Path, ...] = ()
) -> list[Path]:
    """The decoded plaintext and raw-text intermediates that exist under `data_dir`, and
    the stale temporary folders of dead decodes (none inside `keep`)."""
    return _with_stale_temps(Path(data_dir), _existing(Path(data_dir), PLAINTEXT_PATHS), keep)


def everything_targets(
    data_dir: str | os.PathLike[str], *, keep: tuple[Path, ...] = ()
) -> list[Path]:
    """Everything the pipeline wrote under `data_dir`, except the backups."""
    return _with_stale_temps(Path(data_dir), _existing(Path(data_dir), EVERYTHING_PATHS), keep)


def stale_decode_temps(
    data_dir: str | os.PathLike[str], *, skip: tuple[Path, ...] = ()
) -> list[Path]:
    """Temporary folders of decodes that died, anywhere under `data_dir` (symlinks not
    followed; `backups/`, `secrets/` and the folders in `skip` not searched)."""
    root = Path(data_dir)
    pruned = {(root / name).absolute() for name in NEVER_PURGED}
    pruned |= {Path(p).absolute() for p in skip}
    found: list[Path] = []
    for dirpath, dirnames, _ in os.walk(root):
        folder = Path(dirpath)
        stale = stale_temps(folder) if any(n.endswith(".tmp") for n in dirnames) else []
        found.extend(stale)
        gone = {path.name for path in stale}
        dirnames[:] = [
            name
            for name in dirnames
            if name not in gone and (folder / name).absolute() not in pruned
        ]
    return found


def _with_stale_temps(root: Path, targets: list[Path], keep: tuple[Path, ...]) -> list[Path]:
    """`targets` plus the stale decode temporaries outside them and outside `keep`."""
    skip = (*targets, *(p for p in keep if Path(p).absolute() != root.absolute()))
    return targets + stale_decode_temps(root, skip=skip)


def measure(path: Path) -> tuple[int, int]:
    """(bytes, files) of a file or a folder tree, symlinks not followed."""
    if not path.is_dir() or path.is_symlink():
        return path.lstat().st_size, 1
    size = files = 0
    for dirpath, _, filenames in os.walk(path):
        for name in filenames:
            size += Path(dirpath, name).lstat().st_size
            files += 1
    return size, files


def purge_paths(
    data_dir: str | os.PathLike[str],
    targets: list[Path],
    *,
    keep: tuple[Path, ...] = (),
) -> list[PurgedPath]:
    """Delete `targets` (each inside `data_dir`, none a kept folder) and say what went.

    `keep` adds folders that must survive (the configured backup folder, wherever it is).
    Raises PurgeError before deleting anything if a target is out of bounds.
    """
    root = Path(data_dir).resolve()
    protected = [root / name for name in NEVER_PURGED] + [Path(p).resolve() for p in keep]
    for target in targets:
        resolved = target.resolve()
        if resolved == root or root not in resolved.parents:
            raise PurgeError(f"refusing to delete {target}: it is not inside {root}")
        if any(resolved == kept or kept.is_relative_to(resolved) for kept in protected):
            raise PurgeError(f"refusing to delete {target}: it holds the backups or the secrets")
    purged = []
    for target in targets:
        if not (target.exists() or target.is_symlink()):
            continue  # inside an earlier target
        size, files = measure(target)
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        else:
            target.unlink()
        purged.append(PurgedPath(target, size, files))
    return purged


def purge_plaintext(
    data_dir: str | os.PathLike[str], *, keep: tuple[Path, ...] = ()
) -> list[PurgedPath]:
    """Delete the decoded plaintext and the raw-text intermediates under `data_dir`."""
    return purge_paths(data_dir, plaintext_targets(data_dir, keep=keep), keep=keep)


def _existing(root: Path, names: tuple[str, ...]) -> list[Path]:
    seen: list[Path] = []
    for name in names:
        path = root / name
        if (path.exists() or path.is_symlink()) and not any(
            parent in path.parents for parent in seen
        ):
            # A folder listed later swallows the files already listed inside it.
            seen = [p for p in seen if path not in p.parents]
            seen.append(path)
    return seen
