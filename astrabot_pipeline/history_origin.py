"""Whether the history being trained on is the generated demo, the one fact some defaults
turn on: the demo trains with the short `demo` budget and carries memorization canaries;
any other history trains with `epochs:1` and never gets canaries unless asked.

How the demo is recognised: the demo generator (synthetic/demo_backup.py), and only it,
writes a canary manifest beside its backup (`<backup>.canaries.json`, privacy/canaries.py).
`decoded_backup` records the fact when it decodes, in `history_origin.json` at the top of
the data folder (outside `decoded/`, so deleting the plaintext after the privacy gate
keeps it), and the dataset and training stages read it from there. No record (a data
folder from before this file, or one never decoded) reads as "not the demo": the safe
side, since it plants nothing and trains on the whole history.
"""

from __future__ import annotations

import json
from pathlib import Path

from astrabot_pipeline.data_layout import HISTORY_ORIGIN_FILE
from astrabot_pipeline.privacy.canaries import canaries_path_for
from astrabot_pipeline.storage import write_json


def is_generated_demo_backup(backup_path: str | Path) -> bool:
    """True when the demo generator wrote `backup_path` (its canary manifest is beside it)."""
    return canaries_path_for(backup_path).is_file()


def record_history_origin(data_dir: str | Path, *, generated_demo: bool) -> Path:
    """Write whether the history just decoded is the generated demo (atomic, private)."""
    return write_json(Path(data_dir) / HISTORY_ORIGIN_FILE, {"generated_demo": generated_demo})


def is_generated_demo_history(data_dir: str | Path) -> bool:
    """What `decoded_backup` recorded under `data_dir`; False when nothing (readable) was."""
    try:
        payload = json.loads((Path(data_dir) / HISTORY_ORIGIN_FILE).read_text())
    except (OSError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("generated_demo") is True
