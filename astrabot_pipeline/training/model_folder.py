"""Which kind of base model a folder holds: one this project made (tiny, small) or another.

A model we make is saved with a marker file beside its weights (see
`base_model.save_model_folder`); these checks read only whether that file exists, so
loading, building and reporting code can all ask without importing each other.
"""

from __future__ import annotations

import os
from pathlib import Path

# Written beside the weights: marks the directory as the tiny demo model and records how
# it was built (sizes and seed; counts only, never text).
TINY_MODEL_MARKER = "astrabot_tiny_model.json"
# Written beside the weights: marks the directory as a finished plain copy of the `small`
# profile's model and records where it came from (file name, size and hash of the GGUF;
# no user data).
SMALL_MODEL_MARKER = "astrabot_small_model.json"


def is_tiny_base_model(path: str | os.PathLike[str]) -> bool:
    """True for a directory made by `build_tiny_base_model` (not a real pretrained model)."""
    return (Path(path) / TINY_MODEL_MARKER).is_file()


def is_small_base_model(path: str | os.PathLike[str]) -> bool:
    """True for a finished plain copy made by `prepare_small_base_model`."""
    return (Path(path) / SMALL_MODEL_MARKER).is_file()


def is_made_locally(source: str | os.PathLike[str]) -> bool:
    """True for a base model this project made (the tiny model, the `small` SmolLM2 copy):
    small enough that 4-bit quantization would only cost accuracy."""
    return is_tiny_base_model(source) or is_small_base_model(source)
