"""Train / validation / test / audit by window and time, so no window is in two splits.

Windows are ordered by when they started: the newest ones are the test slice (what the
evaluation scores: "does it write like me now?"), the ones just before them validation,
everything older training. The assignment is per window, for every example family at
once: conversational and adaptive examples come from the same windows, so a per-family
assignment would put one window's replies in one stage's training data and another
family's test slice.

The audit slice is then carved out of the training windows: a seeded random sample that
no stage trains on, the non-members of the evaluation's membership audit. Random, not the
newest: members and non-members drawn from different times differ in distribution, and
an attack that only tells old text from new would look like one that finds members
(Duan et al. 2024, "Do Membership Inference Attacks Work on Large Language Models?").
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from astrabot_pipeline.errors import SettingError

SPLITS = ("train", "validation", "test", "audit", "contact_audit")
DEFAULT_VALIDATION_FRACTION = 0.1
DEFAULT_TEST_FRACTION = 0.1
MIN_WINDOWS = 3  # one per split
DEFAULT_MIN_TEST_EXAMPLES = 200
DEFAULT_MIN_TEST_FROM_REPLIES = 2000
DEFAULT_MAX_TEST_FRACTION = 0.15
DEFAULT_AUDIT_FRACTION = 0.1
# An audit needs a few windows of its own, and must leave the stages enough to train on.
MIN_AUDIT_WINDOWS = 2
MIN_TRAINING_WINDOWS_AFTER_AUDIT = 10


@dataclass(frozen=True)
class TestSliceSize:
    """A test slice big enough to decide: when the owner has `from_owner_replies` replies
    or more, the newest windows are added to it until it holds `min_examples` examples,
    but it never takes more than `max_fraction` of the windows."""

    min_examples: int = DEFAULT_MIN_TEST_EXAMPLES
    from_owner_replies: int = DEFAULT_MIN_TEST_FROM_REPLIES
    max_fraction: float = DEFAULT_MAX_TEST_FRACTION

    def __post_init__(self) -> None:
        if self.min_examples < 0 or self.from_owner_replies < 0:
            raise SettingError("the test slice's example counts must not be negative")
        if not 0 < self.max_fraction < 1:
            raise SettingError("the test slice's max_fraction must be between 0 and 1")

    def test_windows(
        self, newest_first_examples: list[int], owner_replies: int, at_least: int
    ) -> int:
        """How many of the newest windows (their example counts newest first) are test."""
        count = len(newest_first_examples)
        if owner_replies < self.from_owner_replies:
            return at_least
        cap = max(at_least, math.floor(count * self.max_fraction))
        windows, examples = 0, 0
        while windows < cap and (windows < at_least or examples < self.min_examples):
            examples += newest_first_examples[windows]
            windows += 1
        return windows


def assign_splits(
    window_starts: pd.Series,
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION,
    test_fraction: float = DEFAULT_TEST_FRACTION,
    *,
    examples_per_window: pd.Series | None = None,
    owner_replies: int = 0,
    test_slice: TestSliceSize | None = None,
) -> pd.Series:
    """The split of each window (`window_starts`: start time indexed by window id).

    The newest `test_fraction` of windows (at least one) is test, the
    `validation_fraction` before them (at least one) validation, the rest train. Fewer
    than MIN_WINDOWS windows all go to train. With `examples_per_window` (indexed like
    `window_starts`), the test slice grows as `test_slice` says for a history of
    `owner_replies` replies, always leaving a validation and a training window.
    """
    for name, value in (("validation", validation_fraction), ("test", test_fraction)):
        if not 0 < value < 1:
            raise SettingError(f"{name}_fraction must be between 0 and 1 (exclusive)")
    if validation_fraction + test_fraction >= 1:
        raise SettingError("validation_fraction + test_fraction must leave windows to train on")
    frame = pd.DataFrame(
        {"start": window_starts.to_numpy(), "key": window_starts.index.astype(str)}
    )
    order = frame.sort_values(["start", "key"], kind="stable").index.to_numpy()
    count = len(order)
    labels = ["train"] * count
    if count >= MIN_WINDOWS:
        n_test = max(1, math.floor(count * test_fraction))
        n_validation = max(1, math.floor(count * validation_fraction))
        if examples_per_window is not None:
            sizes = examples_per_window.reindex(window_starts.index).fillna(0).astype(int)
            newest_first = [int(sizes.iloc[position]) for position in order[::-1]]
            grown = (test_slice or TestSliceSize()).test_windows(
                newest_first, owner_replies, n_test
            )
            n_test = min(grown, count - n_validation - 1)
        for rank, position in enumerate(order):
            if rank >= count - n_test:
                labels[position] = "test"
            elif rank >= count - n_test - n_validation:
                labels[position] = "validation"
    return pd.Series(labels, index=window_starts.index, dtype="string")


@dataclass(frozen=True)
class AuditSlice:
    """The membership audit's slice: `fraction` of all windows (rounded down), drawn at
    random (`seed`) from the training windows, as long as that is at least
    MIN_AUDIT_WINDOWS windows and leaves MIN_TRAINING_WINDOWS_AFTER_AUDIT to train on.
    A fraction of 0 turns the audit slice off."""

    fraction: float = DEFAULT_AUDIT_FRACTION
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.fraction < 1:
            raise SettingError("the audit slice's fraction must be at least 0 and below 1")

    def carve(self, splits: pd.Series) -> tuple[pd.Series, str | None]:
        """`splits` (per window, from `assign_splits`) with the audit windows relabelled
        "audit", and why there is no audit slice (None when there is one)."""
        if self.fraction == 0:
            return splits, "the audit slice is turned off (audit_fraction 0)"
        train = sorted(str(window) for window in splits.index[splits == "train"])
        wanted = math.floor(len(splits) * self.fraction)
        if wanted < MIN_AUDIT_WINDOWS or len(train) - wanted < MIN_TRAINING_WINDOWS_AFTER_AUDIT:
            return splits, (
                f"the history is too small to hold windows out for the audit: "
                f"{len(splits)} windows, {len(train)} of them for training; an audit slice "
                f"of {MIN_AUDIT_WINDOWS} or more windows ({self.fraction:.0%} of them) must "
                f"leave {MIN_TRAINING_WINDOWS_AFTER_AUDIT} to train on"
            )
        chosen = set(
            np.random.default_rng(self.seed).choice(len(train), size=wanted, replace=False).tolist()
        )
        audit = {train[i] for i in chosen}
        carved = splits.copy()
        carved[splits.index.astype(str).isin(audit)] = "audit"
        return carved, None


DEFAULT_CONTACT_AUDIT_FRACTION = 0.25
DEFAULT_CONTACT_AUDIT_MIN_REPLIES = 20
# Contacts held out, and at least as many left in training, for a contact-level audit.
MIN_AUDIT_CONTACTS = 2


@dataclass(frozen=True)
class ContactAudit:
    """The contact-level audit's held-out contacts: every window of a seeded random
    `fraction` (at least MIN_AUDIT_CONTACTS) of the contacts whose one-to-one chat holds
    at least `min_replies` of the owner's replies is trained on by no stage. Group chats
    stay in training; a contact is their one-to-one thread."""

    fraction: float = DEFAULT_CONTACT_AUDIT_FRACTION
    min_replies: int = DEFAULT_CONTACT_AUDIT_MIN_REPLIES
    seed: int = 0

    def __post_init__(self) -> None:
        if not 0 < self.fraction < 1:
            raise SettingError("the contact audit's fraction must be between 0 and 1")
        if self.min_replies < 1:
            raise SettingError("the contact audit's min_replies must be at least 1")

    def held_out(self, replies_per_contact: Mapping[Any, int]) -> tuple[list[Any], str | None]:
        """The one-to-one threads held out (`replies_per_contact`: the owner's replies in
        each one-to-one thread), and why none are (None when some are)."""
        eligible = sorted(
            (
                thread
                for thread, replies in replies_per_contact.items()
                if replies >= self.min_replies
            ),
            key=str,
        )
        wanted = max(MIN_AUDIT_CONTACTS, math.floor(len(eligible) * self.fraction))
        if len(eligible) - wanted < MIN_AUDIT_CONTACTS:
            return [], (
                f"{len(eligible)} contacts have a one-to-one chat with {self.min_replies} or "
                f"more of the owner's replies; a contact-level audit holds out "
                f"{MIN_AUDIT_CONTACTS} or more ({self.fraction:.0%}) and needs as many left "
                "in training"
            )
        chosen = np.random.default_rng(self.seed).choice(len(eligible), size=wanted, replace=False)
        return sorted((eligible[i] for i in chosen.tolist()), key=str), None


def held_out_sample(examples: pd.DataFrame, max_examples: int) -> pd.DataFrame:
    """Up to `max_examples` test examples, every family in its share of the test slice.

    Within a family the oldest windows come first, so the sample is the same on every
    run; a family's share is rounded down but never to zero.
    """
    test = examples[examples["split"] == "test"]
    if len(test) <= max_examples:
        return test
    parts = []
    for _, family in test.groupby("kind", sort=True):
        share = max(1, len(family) * max_examples // len(test))
        parts.append(family.head(share))
    return pd.concat(parts)
