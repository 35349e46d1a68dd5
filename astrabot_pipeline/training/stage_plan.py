"""What a curriculum stage trains from: its model profile, its base model, its examples.

The rules every consumer follows (the Dagster stage assets, the evaluation, the
benchmarks, the tests), kept here so they cannot drift apart:

- the first stage's profile comes from ASTRABOT_MODEL_PROFILE; a later stage, and the
  evaluation, keep the profile the chain started with (a changed variable never mixes
  two base models in one chain);
- the base model is the previous stage's (a resumed adapter needs its own base), else
  the one the user configured, else the profile's own; a local profile (tiny, small) makes
  or finds it under the models folder, and the tiny one trains its tokenizer on the
  training split's messages;
- a stage trains on its family's `train` rows and scores its `validation` rows, at most
  the profile's `max_validation_examples` of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pandas as pd

from astrabot_pipeline.dataset import records_from_frame
from astrabot_pipeline.training.profiles import (
    ModelProfile,
    get_model_profile,
    model_profile_from_env,
)


def stage_profile(chain_profile: str | None) -> ModelProfile:
    """The profile a chain started with (`StageResult.profile`), else the environment's."""
    return get_model_profile(chain_profile) if chain_profile else model_profile_from_env()


def stage_base_model(
    profile: ModelProfile,
    *,
    previous_base: str | None,
    configured_base: str | None,
    models_dir: Path,
    examples: pd.DataFrame,
    seed: int = 0,
) -> str:
    """The base model a stage loads (see the module docstring for the order)."""
    if previous_base:
        return previous_base
    if configured_base:
        return configured_base
    return profile.base_model(models_dir, training_texts(examples), seed=seed)


def stage_examples(
    examples: pd.DataFrame, family: str, profile: ModelProfile
) -> tuple[list[dict], list[dict]]:
    """The family's training and validation records from the dataset frame
    (columns kind, split, messages)."""
    train, validation = (
        records_from_frame(
            examples[(examples["kind"] == family) & (examples["split"] == split)], with_id=True
        )
        for split in ("train", "validation")
    )
    if profile.max_validation_examples is not None:
        validation = validation[: profile.max_validation_examples]
    return train, validation


def single_adapter_examples(
    examples: pd.DataFrame, profile: ModelProfile, *, seed: int = 0
) -> tuple[list[dict], list[dict]]:
    """Every family's training and validation records in one shuffled list each (seeded),
    for a single adapter trained on the union (`curriculum: single`)."""
    train, validation = (
        records_from_frame(
            examples[examples["split"] == split].sample(frac=1.0, random_state=seed), with_id=True
        )
        for split in ("train", "validation")
    )
    if profile.max_validation_examples is not None:
        validation = validation[: profile.max_validation_examples]
    return train, validation


def training_texts(examples: pd.DataFrame) -> Iterator[str]:
    """Every message of the training split, all families."""
    for messages in examples.loc[examples["split"] == "train", "messages"]:
        for message in messages:
            yield message["content"]
