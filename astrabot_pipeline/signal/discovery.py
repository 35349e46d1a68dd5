"""Finding the newest backup in the backup folder and fingerprinting it."""

from __future__ import annotations

import hashlib
from pathlib import Path

BACKUP_PATTERNS = ("*.backup",)
_HASH_CHUNK = 1 << 20


class NoBackupFoundError(FileNotFoundError):
    """The backup folder holds no supported input."""


def newest_backup(directory: str | Path) -> Path:
    """The most recently modified supported backup in `directory`."""
    directory = Path(directory)
    candidates = [
        path for pattern in BACKUP_PATTERNS for path in directory.glob(pattern) if path.is_file()
    ]
    if not candidates:
        raise NoBackupFoundError(
            f"no Signal backup (*.backup) found in {directory}: copy your backup there or set "
            "ASTRABOT_BACKUP_DIR to the folder that holds it (`make demo` writes a demo backup)"
        )
    return max(candidates, key=lambda path: (path.stat().st_mtime_ns, path.name))


def file_sha256(path: str | Path) -> str:
    """Hex SHA-256 of a file, streamed in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_HASH_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()
