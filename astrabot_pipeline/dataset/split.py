"""Deterministic train/validation assignment by window, so no window is in both splits."""

from __future__ import annotations

import hashlib

import pandas as pd

from astrabot_pipeline.errors import SettingError

DEFAULT_VALIDATION_FRACTION = 0.1


def _bucket(window_id: str, seed: int) -> float:
    digest = hashlib.sha256(f"{seed}:{window_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(
    window_ids: pd.Series, validation_fraction: float = DEFAULT_VALIDATION_FRACTION, seed: int = 0
) -> pd.Series:
    """'train' or 'validation' per row, decided by a hash of the row's window id."""
    if not 0 < validation_fraction < 1:
        raise SettingError("validation_fraction must be between 0 and 1 (exclusive)")
    buckets = {wid: _bucket(wid, seed) for wid in window_ids.unique()}
    return window_ids.map(
        lambda wid: "validation" if buckets[wid] < validation_fraction else "train"
    ).astype("string")
