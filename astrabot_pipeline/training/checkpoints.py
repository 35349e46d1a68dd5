"""A stage's folders: finding a finished run, resuming an interrupted one, saving the adapter.

Layout under a stage's `out_dir` (e.g. `models/<stage>/`), keyed by the run key
(run_key.py: a hash of the training and validation records, `StageConfig`, base model,
previous adapter and precision):

    <out_dir>/runs/<key>/checkpoint-<step>/   checkpoints while training (resumable)
    <out_dir>/<key>/                          the finished adapter, tokenizer,
                                              stage_result.json and loss_curve.png,
                                              renamed into place at once
    <out_dir>/latest.json                     {"key", "adapter_dir"} of the last finished run

A re-run with the same inputs reuses a finished `<key>/`, or resumes from the last
complete checkpoint in `runs/<key>/`; different inputs get a new key, so the adapter
of the last good run is never overwritten. `runs/<key>/` is removed once `<key>/` exists.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from astrabot_pipeline.storage import atomic_output, make_parents, write_json
from astrabot_pipeline.training.base_model import TrainingError
from astrabot_pipeline.training.stage_result import STAGE_RESULT_FILE, StageResult

if TYPE_CHECKING:
    from transformers import TrainerState

ADAPTER_CONFIG_FILE = "adapter_config.json"
LATEST_FILE = "latest.json"
RUNS_DIR = "runs"


class AdapterNotFoundError(TrainingError, FileNotFoundError):
    """The adapter to resume from is missing or incomplete."""


def require_adapter_dir(adapter_dir: str | Path) -> Path:
    """`adapter_dir` as a Path, or `AdapterNotFoundError` if it holds no saved adapter."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / ADAPTER_CONFIG_FILE).is_file():
        raise AdapterNotFoundError(
            f"no LoRA adapter in {adapter_dir} (missing {ADAPTER_CONFIG_FILE}): run the "
            "previous stage first, or start this one without previous_adapter_dir"
        )
    return adapter_dir


def latest_adapter_dir(out_dir: str | Path) -> Path:
    """The adapter of the last finished run of the stage whose root is `out_dir`."""
    out_dir = Path(out_dir)
    try:
        key = json.loads((out_dir / LATEST_FILE).read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AdapterNotFoundError(
            f"{out_dir} has no finished stage run ({LATEST_FILE} missing or unreadable): "
            "run the stage first"
        ) from error
    return require_adapter_dir(out_dir / str(key))


def finished_run(out_dir: Path, key: str) -> StageResult | None:
    """The result of a run with these exact inputs that finished before, if there is one:
    its adapter is the answer, nothing needs training."""
    final_dir = out_dir / key
    if (final_dir / STAGE_RESULT_FILE).is_file() and (final_dir / ADAPTER_CONFIG_FILE).is_file():
        return replace(
            StageResult.load(final_dir), adapter_dir=str(final_dir.resolve()), reused=True
        )
    return None


def record_latest(out_dir: Path, key: str) -> None:
    """Name run `key` the stage's last finished run (`latest_adapter_dir` reads it)."""
    final_dir = out_dir / key
    write_json(out_dir / LATEST_FILE, {"key": key, "adapter_dir": str(final_dir.resolve())})


def _complete_checkpoint(path: Path) -> bool:
    """A checkpoint the Trainer finished writing (trainer_state.json is written last)."""
    try:
        state = json.loads((path / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    has_adapter = (path / "adapter_model.safetensors").is_file() or (
        path / "adapter_model.bin"
    ).is_file()
    return isinstance(state, dict) and has_adapter and (path / "optimizer.pt").is_file()


def last_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step in `run_dir`, if any."""
    if not run_dir.is_dir():
        return None
    candidates = []
    for child in run_dir.iterdir():
        prefix, _, step = child.name.partition("-")
        if prefix == "checkpoint" and step.isdigit() and child.is_dir():
            candidates.append((int(step), child))
    for _, path in sorted(candidates, reverse=True):
        if _complete_checkpoint(path):
            return path
    return None


def checkpoint_to_resume(run_dir: Path) -> tuple[Path | None, TrainerState | None]:
    """The last complete checkpoint of the run in `run_dir` and the trainer state saved
    with it, or `(None, None)` when the run starts from its first step."""
    from transformers import TrainerState

    make_parents(run_dir)
    checkpoint = last_checkpoint(run_dir)
    if checkpoint is None:
        return None, None
    return checkpoint, TrainerState.load_from_json(str(checkpoint / "trainer_state.json"))


def load_finished_adapter(trainer, saved, checkpoint: Path, *, keep_best: bool) -> None:
    """Put a finished run's adapter (its best evaluated one, if kept) into the trainer's model."""
    source = checkpoint
    if keep_best and saved.best_model_checkpoint and Path(saved.best_model_checkpoint).is_dir():
        source = Path(saved.best_model_checkpoint)
    model = trainer.model
    model.load_adapter(str(source), adapter_name=model.active_adapter, is_trainable=True)
    trainer.state = saved


@contextmanager
def finished_adapter_folder(out_dir: Path, key: str) -> Iterator[Path]:
    """A temporary folder to fill with the finished adapter, renamed to `<out_dir>/<key>/`
    at once when the block succeeds; the run's checkpoints are removed after that."""
    final_dir = out_dir / key
    for stale in out_dir.glob(f".{key}.*.tmp"):
        # Left by a run killed while renaming its adapter into place.
        shutil.rmtree(stale, ignore_errors=True)
    with atomic_output(final_dir, directory=True) as temp:
        yield temp
    # The finished adapter is in place: its checkpoints are no longer needed.
    shutil.rmtree(out_dir / RUNS_DIR / key, ignore_errors=True)
    runs = out_dir / RUNS_DIR
    if runs.is_dir() and not any(runs.iterdir()):
        os.rmdir(runs)
