"""PII canaries: identifiers planted in a backup's messages, listed in a sidecar manifest.

The demo generator writes the manifest ({kind: [strings]}) beside the backup. The
privacy gate re-scans for them; the anonymizer never sees this list, so catching them
proves the general recognizers work.
"""

from __future__ import annotations

import json
from pathlib import Path

# The manifest's name: the backup's file name and this suffix, in the same folder.
CANARIES_SUFFIX = ".canaries.json"


def canaries_path_for(backup_path: str | Path) -> Path:
    """Where the canary manifest of `backup_path` lives (the demo generator writes it there)."""
    backup_path = Path(backup_path)
    return backup_path.with_name(backup_path.name + CANARIES_SUFFIX)


def load_canaries(backup: str | Path) -> list[str]:
    """Every planted canary string for `backup`; empty when it has no manifest."""
    manifest = canaries_path_for(backup)
    if not manifest.exists():
        return []
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    return sorted({value for values in entries.values() for value in values if value})
