"""Base-model profiles and loading (tiny, small, qwen), and multi-stage LoRA training with TRL."""

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
from astrabot_pipeline.training.chat_template import (
    CHATML_TRAINING_TEMPLATE,
    use_chatml_training_template,
)
from astrabot_pipeline.training.curriculum import (
    CURRICULUM,
    FINAL_STAGE,
    STAGE_NAMES,
    CurriculumStage,
)
from astrabot_pipeline.training.model_folder import is_small_base_model, is_tiny_base_model
from astrabot_pipeline.training.profiles import (
    MODEL_PROFILES,
    ModelProfile,
    UnknownModelProfileError,
    get_model_profile,
    model_profile_from_env,
)
from astrabot_pipeline.training.small_model import (
    SmallModelNotInstalledError,
    locate_smollm2_gguf,
    prepare_small_base_model,
)
from astrabot_pipeline.training.stages import (
    QWEN_LORA_TARGET_MODULES,
    STAGE_RESULT_FILE,
    AdapterNotFoundError,
    EmptyDatasetError,
    InvalidRecordError,
    ProgressUpdate,
    StageConfig,
    StageResult,
    StageResultError,
    TrainingDivergedError,
    format_progress,
    latest_adapter_dir,
    require_adapter_dir,
    train_lora_stage,
    validate_chat_records,
)
from astrabot_pipeline.training.tiny_model import (
    build_tiny_base_model,
    train_chatml_tokenizer,
)

__all__ = [
    "CHATML_TRAINING_TEMPLATE",
    "CURRICULUM",
    "CurriculumStage",
    "FINAL_STAGE",
    "DEFAULT_REAL_MODEL_ID",
    "MODEL_PROFILES",
    "ModelProfile",
    "SmallModelNotInstalledError",
    "UnknownModelProfileError",
    "compute_dtype",
    "four_bit_config",
    "get_model_profile",
    "is_small_base_model",
    "locate_smollm2_gguf",
    "mixed_precision",
    "model_profile_from_env",
    "prepare_small_base_model",
    "use_chatml_training_template",
    "QWEN_LORA_TARGET_MODULES",
    "STAGE_NAMES",
    "STAGE_RESULT_FILE",
    "AdapterNotFoundError",
    "BaseModelNotFoundError",
    "EmptyDatasetError",
    "InvalidRecordError",
    "ProgressUpdate",
    "QuantizationUnavailableError",
    "StageConfig",
    "StageResult",
    "StageResultError",
    "TrainingDivergedError",
    "TrainingError",
    "build_tiny_base_model",
    "device_summary",
    "format_progress",
    "is_tiny_base_model",
    "load_base_model",
    "latest_adapter_dir",
    "load_tokenizer",
    "require_adapter_dir",
    "train_chatml_tokenizer",
    "train_lora_stage",
    "validate_chat_records",
]
