"""Which training examples a stage consumed, in the order it consumed them.

The membership audit compares the examples a model was trained on with examples it never
saw; on a short budget a stage trains on a few of its examples only, so its members are
the ones its sampler actually handed to a training step, not its whole training split.
The record is taken where the data loader fetches a batch from the training set (the
sampler's order, whatever sampler the Trainer chose), and cut to the batches the
completed steps used (the loader fetches one batch ahead). It is written, as example ids
only (never text), wherever the Trainer saves the adapter: into every checkpoint before
the checkpoint's trainer state (which marks it complete), and into the finished adapter's
folder; a resumed run starts from its checkpoint's record (the batches it skips are not
fetched again). A checkpoint written before the record existed leaves the earlier part unknown:
the record then holds fewer members, never a wrong one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from astrabot_pipeline.storage import write_json

MEMBERS_FILE = "members.json"
_HOOKED = "_astrabot_members_hook"


def read_members(folder: str | Path) -> list[list[str]] | None:
    """The batches of example ids a checkpoint or adapter folder records as consumed, in
    order (an id appears once per time it was consumed); None when it holds no record."""
    try:
        payload = json.loads((Path(folder) / MEMBERS_FILE).read_text("utf-8"))
    except (OSError, ValueError):
        return None
    batches = payload.get("batches") if isinstance(payload, dict) else None
    if not isinstance(batches, list) or not all(
        isinstance(batch, list) and all(isinstance(i, str) for i in batch) for batch in batches
    ):
        return None
    return batches


def member_ids(folder: str | Path) -> set[str]:
    """The distinct example ids an adapter folder records as trained on (empty: none known)."""
    return {i for batch in read_members(folder) or [] for i in batch}


class ConsumedExamples:
    """Records the training set's fetched batches (`hook`) and turns them into the batches
    the completed steps consumed. `ids[i]` names the training set's row i; each step uses
    `batches_per_step` batches; `previous` holds the batches the run consumed before
    `resumed_from_step` (read from the checkpoint it resumes)."""

    def __init__(
        self,
        ids: Sequence[str],
        *,
        batches_per_step: int,
        previous: Sequence[Sequence[str]] = (),
        resumed_from_step: int = 0,
    ) -> None:
        if batches_per_step < 1:
            raise ValueError("a step uses at least one batch")
        self.ids = list(ids)
        self.batches_per_step = batches_per_step
        self.previous = [list(batch) for batch in previous]
        self.resumed_from_step = resumed_from_step
        self.fetched: list[list[int]] = []

    def hook(self, dataset: Any) -> None:
        """Record every batch the data loader fetches from `dataset` (once per dataset)."""
        if getattr(dataset, _HOOKED, False):
            return
        fetch = dataset.__getitems__

        def recording(indices):
            self.fetched.append([int(i) for i in indices])
            return fetch(indices)

        # The loader looks `__getitems__` up on the dataset object itself.
        dataset.__getitems__ = recording
        setattr(dataset, _HOOKED, True)

    def consumed(self, global_step: int) -> list[list[str]]:
        """The batches of ids the first `global_step` steps consumed, in order (those of
        an earlier attempt only as far as its record goes)."""
        wanted = global_step * self.batches_per_step
        done_before = self.resumed_from_step * self.batches_per_step
        if wanted <= done_before:
            # A record that is not whole (an earlier attempt resumed without one) cannot
            # be cut at a step: none of it is claimed.
            complete = len(self.previous) == done_before
            return self.previous[:wanted] if complete else []
        return self.previous + [
            [self.ids[i] for i in batch] for batch in self.fetched[: wanted - done_before]
        ]

    def write(self, folder: str | Path, global_step: int) -> None:
        batches = self.consumed(global_step)
        write_json(
            Path(folder) / MEMBERS_FILE,
            {
                "step": global_step,
                "batches": batches,
                "distinct": len({i for batch in batches for i in batch}),
            },
        )


__all__ = [
    "MEMBERS_FILE",
    "ConsumedExamples",
    "member_ids",
    "read_members",
]
