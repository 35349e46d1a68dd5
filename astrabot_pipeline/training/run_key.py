"""The run key: a digest of everything a stage's outcome depends on, naming its folders.

Same inputs (training and validation records, `StageConfig`, base model, previous
adapter, precision), same key, so a re-run reuses or resumes that run; any change, a new
key, so the adapter of the last good run is never overwritten (checkpoints.py).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from astrabot_pipeline.training.checkpoints import ADAPTER_CONFIG_FILE
from astrabot_pipeline.training.stage_config import StageConfig

_KEY_LENGTH = 16


def _canonical_hash(payload: Any) -> str:
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def dataset_hash(
    train: Sequence[Mapping[str, Any]], validation: Sequence[Mapping[str, Any]]
) -> str:
    """A digest of the (validated) training and validation records, in order."""
    return _canonical_hash({"train": list(train), "validation": list(validation)})


def _files_digest(directory: Path, names: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        path = directory / name
        digest.update(name.encode())
        if path.is_file():
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def _base_model_identity(base_model_path: str | Path) -> dict[str, str]:
    """The base model's name, plus a digest of its config when it is a local directory."""
    path = Path(base_model_path).expanduser()
    if path.is_dir():
        return {"path": str(path.resolve()), "config": _files_digest(path, ["config.json"])}
    return {"id": str(base_model_path)}


def run_key(
    data_hash: str,
    config: StageConfig,
    base_model_path: str | Path,
    previous_adapter_dir: Path | None,
    precision: str,
) -> str:
    """The directory key of a stage run: same inputs, same key; any change, a new one.
    `precision` is the arithmetic chosen ("auto" resolves per machine): a checkpoint
    trained in fp32 is never resumed in bf16."""
    previous = None
    if previous_adapter_dir is not None:
        previous = _files_digest(
            previous_adapter_dir,
            [ADAPTER_CONFIG_FILE, "adapter_model.safetensors", "adapter_model.bin"],
        )
    payload = {
        "dataset": data_hash,
        "config": config.to_dict(),
        "base_model": _base_model_identity(base_model_path),
        "previous_adapter": previous,
        "precision": precision,
    }
    return _canonical_hash(payload)[:_KEY_LENGTH]
