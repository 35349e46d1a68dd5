"""Base-model loading (tiny or real), and multi-stage LoRA training with TRL."""

from astrabot_pipeline.training.base_model import (
    DEFAULT_REAL_MODEL_ID,
    BaseModelNotFoundError,
    QuantizationUnavailableError,
    TrainingError,
    device_summary,
    load_base_model,
    load_tokenizer,
)
from astrabot_pipeline.training.stages import (
    QWEN_LORA_TARGET_MODULES,
    STAGE_NAMES,
    STAGE_RESULT_FILE,
    AdapterNotFoundError,
    EmptyDatasetError,
    InvalidRecordError,
    StageConfig,
    StageResult,
    TrainingDivergedError,
    require_adapter_dir,
    train_lora_stage,
    validate_chat_records,
)
from astrabot_pipeline.training.tiny_model import (
    CHATML_TRAINING_TEMPLATE,
    build_tiny_base_model,
    is_tiny_base_model,
    train_chatml_tokenizer,
)

__all__ = [
    "CHATML_TRAINING_TEMPLATE",
    "DEFAULT_REAL_MODEL_ID",
    "QWEN_LORA_TARGET_MODULES",
    "STAGE_NAMES",
    "STAGE_RESULT_FILE",
    "AdapterNotFoundError",
    "BaseModelNotFoundError",
    "EmptyDatasetError",
    "InvalidRecordError",
    "QuantizationUnavailableError",
    "StageConfig",
    "StageResult",
    "TrainingDivergedError",
    "TrainingError",
    "build_tiny_base_model",
    "device_summary",
    "is_tiny_base_model",
    "load_base_model",
    "load_tokenizer",
    "require_adapter_dir",
    "train_chatml_tokenizer",
    "train_lora_stage",
    "validate_chat_records",
]
