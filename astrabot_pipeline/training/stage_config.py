"""A stage's hyperparameters (`StageConfig`) and the checks that reject impossible ones.

Defaults suit the tiny CPU model; the model profiles (profiles.py) set their own.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, replace
from typing import Any

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.training.precision import check_precision_setting

# The attention and MLP projections of Qwen2/Qwen3 decoder layers.
QWEN_LORA_TARGET_MODULES = (
    "q_proj",
    "k_proj",
    "v_proj",
    "o_proj",
    "gate_proj",
    "up_proj",
    "down_proj",
)
LR_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")


@dataclass
class StageConfig:
    """Hyperparameters of one stage; defaults suit the tiny CPU model.

    `num_train_epochs`, when set, replaces `max_steps`; so does `max_minutes`: as many
    steps as fit in that many minutes at the speed of the first steps, a count the run
    stores so a resume continues it (run_plan.py). `eval_steps=0` evaluates only
    before and after training; `eval_steps>0` also evaluates every that many steps and
    keeps the adapter with the lowest validation loss. `save_steps=0` picks a checkpoint
    interval: `eval_steps` when evaluating, else about a fifth of the run.
    """

    name: str
    max_steps: int = 60
    learning_rate: float = 2e-3
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    batch_size: int = 8
    max_length: int = 256
    seed: int = 0
    assistant_only_loss: bool = True
    warmup_ratio: float = 0.0
    gradient_accumulation_steps: int = 1
    lora_target_modules: tuple[str, ...] = QWEN_LORA_TARGET_MODULES
    eval_steps: int = 0
    num_train_epochs: float | None = None
    save_steps: int = 0
    max_minutes: float | None = None
    lr_scheduler_type: str = "linear"
    precision: str = "auto"  # "auto", "bf16" or "fp32" (training/precision.py)

    def __post_init__(self) -> None:
        if not self.name:
            raise SettingError("a stage needs a name")
        for field_name in (
            "max_steps",
            "lora_r",
            "batch_size",
            "max_length",
            "gradient_accumulation_steps",
        ):
            if getattr(self, field_name) < 1:
                raise SettingError(f"StageConfig.{field_name} must be at least 1")
        for field_name in ("eval_steps", "save_steps"):
            if getattr(self, field_name) < 0:
                raise SettingError(f"StageConfig.{field_name} must be 0 (automatic) or more")
        if self.learning_rate <= 0:
            raise SettingError("StageConfig.learning_rate must be positive")
        if not 0 <= self.lora_dropout < 1:
            raise SettingError("StageConfig.lora_dropout must be in [0, 1)")
        if not 0 <= self.warmup_ratio < 1:
            raise SettingError("StageConfig.warmup_ratio must be in [0, 1)")
        if self.num_train_epochs is not None and not self.num_train_epochs > 0:
            raise SettingError(
                "StageConfig.num_train_epochs must be positive (or None for max_steps)"
            )
        if self.max_minutes is not None and not self.max_minutes > 0:
            raise SettingError("StageConfig.max_minutes must be positive (or None)")
        if self.max_minutes is not None and self.num_train_epochs is not None:
            raise SettingError("StageConfig takes num_train_epochs or max_minutes, not both")
        if self.lr_scheduler_type not in LR_SCHEDULERS:
            raise SettingError(
                f"StageConfig.lr_scheduler_type must be one of {list(LR_SCHEDULERS)}"
            )
        check_precision_setting(self.precision)
        if isinstance(self.lora_target_modules, str):
            raise SettingError("StageConfig.lora_target_modules must be a list of module names")
        self.lora_target_modules = tuple(self.lora_target_modules)
        if not self.lora_target_modules or not all(
            isinstance(m, str) and m for m in self.lora_target_modules
        ):
            raise SettingError("StageConfig.lora_target_modules must name at least one module")
        if self.eval_steps and self.save_steps and self.save_steps % self.eval_steps:
            raise SettingError(
                "StageConfig.save_steps must be a multiple of eval_steps, so the best "
                "evaluated adapter has a checkpoint to keep"
            )

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["lora_target_modules"] = list(self.lora_target_modules)
        return payload

    def planned_steps(self, train_examples: int) -> int:
        """Optimizer steps for `train_examples` examples (one device); with `max_minutes`,
        `max_steps` until the run's plan settles the count (run_plan.py)."""
        if self.num_train_epochs is None:
            return self.max_steps
        per_epoch = math.ceil(train_examples / self.batch_size)
        per_epoch = max(1, per_epoch // self.gradient_accumulation_steps)
        return max(1, math.ceil(per_epoch * self.num_train_epochs))

    def with_fixed_steps(self, steps: int) -> StageConfig:
        """These settings with `steps` optimizer steps in place of a time budget."""
        return replace(self, max_steps=steps, max_minutes=None)

    def logging_interval(self, train_examples: int) -> int:
        """Steps between logged losses: a tenth of the run, at most `eval_steps`."""
        planned = self.planned_steps(train_examples)
        return max(1, min(planned // 10, self.eval_steps or planned))

    def checkpoint_interval(self, train_examples: int) -> int:
        """Steps between checkpoints: `save_steps`, else `eval_steps`, else a fifth of the run."""
        if self.save_steps:
            return self.save_steps
        if self.eval_steps:
            return self.eval_steps
        return max(1, self.planned_steps(train_examples) // 5)
