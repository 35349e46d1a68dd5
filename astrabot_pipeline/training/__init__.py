"""Base-model profiles and loading (tiny, small, qwen), and multi-stage LoRA training with TRL.

The names below load their module on first use (lazy_exports.py), so the Dagster
definitions and the commands that need no model start without importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from astrabot_pipeline.lazy_exports import lazy_exports

if TYPE_CHECKING:
    from astrabot_pipeline.training.base_model import (
        DEFAULT_REAL_MODEL_ID,
        BaseModelNotFoundError,
        QuantizationUnavailableError,
        TrainingError,
        compute_dtype,
        device_summary,
        four_bit_config,
        load_base_model,
        load_tokenizer,
        mixed_precision,
    )
    from astrabot_pipeline.training.chat_records import (
        EmptyDatasetError,
        InvalidRecordError,
        validate_chat_records,
    )
    from astrabot_pipeline.training.chat_template import (
        CHATML_TRAINING_TEMPLATE,
        use_chatml_training_template,
    )
    from astrabot_pipeline.training.checkpoints import (
        AdapterNotFoundError,
        latest_adapter_dir,
        require_adapter_dir,
    )
    from astrabot_pipeline.training.curriculum import (
        CURRICULUM,
        FINAL_STAGE,
        STAGE_NAMES,
        CurriculumStage,
    )
    from astrabot_pipeline.training.lora_stage import (
        TrainingDivergedError,
        train_lora_stage,
    )
    from astrabot_pipeline.training.model_folder import (
        is_small_base_model,
        is_tiny_base_model,
    )
    from astrabot_pipeline.training.profiles import (
        MODEL_PROFILES,
        ModelProfile,
        UnknownModelProfileError,
        get_model_profile,
        model_profile_from_env,
    )
    from astrabot_pipeline.training.progress import (
        ProgressUpdate,
        format_progress,
    )
    from astrabot_pipeline.training.small_model import (
        SmallModelNotInstalledError,
        locate_smollm2_gguf,
        prepare_small_base_model,
    )
    from astrabot_pipeline.training.stage_config import (
        QWEN_LORA_TARGET_MODULES,
        StageConfig,
    )
    from astrabot_pipeline.training.stage_result import (
        STAGE_RESULT_FILE,
        StageResult,
        StageResultError,
    )
    from astrabot_pipeline.training.tiny_model import (
        build_tiny_base_model,
        train_chatml_tokenizer,
    )

_EXPORTS = {
    "base_model": (
        "DEFAULT_REAL_MODEL_ID",
        "BaseModelNotFoundError",
        "QuantizationUnavailableError",
        "TrainingError",
        "compute_dtype",
        "device_summary",
        "four_bit_config",
        "load_base_model",
        "load_tokenizer",
        "mixed_precision",
    ),
    "chat_template": (
        "CHATML_TRAINING_TEMPLATE",
        "use_chatml_training_template",
    ),
    "curriculum": (
        "CURRICULUM",
        "FINAL_STAGE",
        "STAGE_NAMES",
        "CurriculumStage",
    ),
    "model_folder": (
        "is_small_base_model",
        "is_tiny_base_model",
    ),
    "profiles": (
        "MODEL_PROFILES",
        "ModelProfile",
        "UnknownModelProfileError",
        "get_model_profile",
        "model_profile_from_env",
    ),
    "small_model": (
        "SmallModelNotInstalledError",
        "locate_smollm2_gguf",
        "prepare_small_base_model",
    ),
    "chat_records": (
        "EmptyDatasetError",
        "InvalidRecordError",
        "validate_chat_records",
    ),
    "checkpoints": (
        "AdapterNotFoundError",
        "latest_adapter_dir",
        "require_adapter_dir",
    ),
    "lora_stage": (
        "TrainingDivergedError",
        "train_lora_stage",
    ),
    "progress": (
        "ProgressUpdate",
        "format_progress",
    ),
    "stage_config": (
        "QWEN_LORA_TARGET_MODULES",
        "StageConfig",
    ),
    "stage_result": (
        "STAGE_RESULT_FILE",
        "StageResult",
        "StageResultError",
    ),
    "tiny_model": (
        "build_tiny_base_model",
        "train_chatml_tokenizer",
    ),
}

__all__ = [
    "AdapterNotFoundError",
    "BaseModelNotFoundError",
    "CHATML_TRAINING_TEMPLATE",
    "CURRICULUM",
    "CurriculumStage",
    "DEFAULT_REAL_MODEL_ID",
    "EmptyDatasetError",
    "FINAL_STAGE",
    "InvalidRecordError",
    "MODEL_PROFILES",
    "ModelProfile",
    "ProgressUpdate",
    "QWEN_LORA_TARGET_MODULES",
    "QuantizationUnavailableError",
    "STAGE_NAMES",
    "STAGE_RESULT_FILE",
    "SmallModelNotInstalledError",
    "StageConfig",
    "StageResult",
    "StageResultError",
    "TrainingDivergedError",
    "TrainingError",
    "UnknownModelProfileError",
    "build_tiny_base_model",
    "compute_dtype",
    "device_summary",
    "format_progress",
    "four_bit_config",
    "get_model_profile",
    "is_small_base_model",
    "is_tiny_base_model",
    "latest_adapter_dir",
    "load_base_model",
    "load_tokenizer",
    "locate_smollm2_gguf",
    "mixed_precision",
    "model_profile_from_env",
    "prepare_small_base_model",
    "require_adapter_dir",
    "train_chatml_tokenizer",
    "train_lora_stage",
    "use_chatml_training_template",
    "validate_chat_records",
]

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, __all__)
