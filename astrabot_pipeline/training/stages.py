"""One LoRA fine-tuning stage with TRL's SFTTrainer; stages chain by resuming an adapter.

The curriculum (conversational -> adaptive -> burst) is a sequence of calls to
`train_lora_stage`, each given the previous stage's adapter directory. Loss is on the
assistant (backup owner) tokens only, through the chat template's `{% generation %}`
markers. Nothing here logs or stores message text: only counts, losses and timings.
"""

from __future__ import annotations

import json
import math
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.settings import harden_process
from astrabot_pipeline.storage import atomic_output
from astrabot_pipeline.training.base_model import (
    TrainingError,
    cuda_available,
    load_base_model,
    mixed_precision_flags,
    quiet_progress_bars,
)

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
STAGE_NAMES = ("conversational", "adaptive", "burst")
STAGE_RESULT_FILE = "stage_result.json"
ADAPTER_CONFIG_FILE = "adapter_config.json"
CHAT_ROLES = frozenset({"system", "user", "assistant"})

ProgressCallback = Callable[[dict[str, float]], None]


class EmptyDatasetError(TrainingError, ValueError):
    """A stage was given no training (or no validation) examples."""


class InvalidRecordError(TrainingError, ValueError):
    """A chat record does not have the `{"messages": [{"role", "content"}, ...]}` shape."""


class TrainingDivergedError(TrainingError, ArithmeticError):
    """The loss became NaN or infinite; nothing was saved."""


class AdapterNotFoundError(TrainingError, FileNotFoundError):
    """The adapter to resume from is missing or incomplete."""


@dataclass
class StageConfig:
    """Hyperparameters of one stage; defaults suit the tiny CPU model."""

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

    def __post_init__(self) -> None:
        if not self.name:
            raise SettingError("a stage needs a name")
        for field_name in ("max_steps", "lora_r", "batch_size", "max_length"):
            if getattr(self, field_name) < 1:
                raise SettingError(f"StageConfig.{field_name} must be at least 1")
        if self.learning_rate <= 0:
            raise SettingError("StageConfig.learning_rate must be positive")
        if not 0 <= self.lora_dropout < 1:
            raise SettingError("StageConfig.lora_dropout must be in [0, 1)")


@dataclass
class StageResult:
    """What a stage produced: where its adapter is, and numbers only (never text)."""

    stage: str
    adapter_dir: str
    base_model: str
    train_loss: float
    validation_loss_before: float
    validation_loss_after: float
    steps: int
    seconds: float
    train_examples: int
    validation_examples: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> StageResult:
        return cls(**{key: payload[key] for key in cls.__dataclass_fields__})

    @classmethod
    def load(cls, adapter_dir: str | Path) -> StageResult:
        """Read the result a stage saved beside its adapter."""
        return cls.from_dict(json.loads((Path(adapter_dir) / STAGE_RESULT_FILE).read_text()))


def validate_chat_records(records: Sequence[Mapping[str, Any]], what: str) -> list[dict]:
    """Check the record shape and return plain `{"messages": [...]}` dicts.

    Errors name the record index and the problem, never the content.
    """
    if records is None or len(records) == 0:
        raise EmptyDatasetError(
            f"the {what} set is empty: build the dataset first (mixed_dataset) and check that "
            "the backup has enough conversations with the owner's replies"
        )
    clean: list[dict] = []
    for index, record in enumerate(records):
        messages = record.get("messages") if isinstance(record, Mapping) else None
        if messages is None or isinstance(messages, (str, bytes)) or len(messages) == 0:
            raise InvalidRecordError(f"{what} record {index} has no 'messages' list")
        turns = []
        for turn in messages:
            if not isinstance(turn, Mapping) or turn.get("role") not in CHAT_ROLES:
                raise InvalidRecordError(
                    f"{what} record {index}: every message needs a role in {sorted(CHAT_ROLES)}"
                )
            if not isinstance(turn.get("content"), str):
                raise InvalidRecordError(f"{what} record {index}: message content must be a string")
            turns.append({"role": turn["role"], "content": turn["content"]})
        if not any(t["role"] == "assistant" and t["content"] for t in turns):
            raise InvalidRecordError(
                f"{what} record {index} has no non-empty assistant message, so there is nothing "
                "to learn from it: drop it in the dataset stage"
            )
        clean.append({"messages": turns})
    return clean


def _lora_config(config: StageConfig):
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=list(config.lora_target_modules),
        bias="none",
        task_type="CAUSAL_LM",
    )


def require_adapter_dir(adapter_dir: str | Path) -> Path:
    """`adapter_dir` as a Path, or `AdapterNotFoundError` if it holds no saved adapter."""
    adapter_dir = Path(adapter_dir)
    if not (adapter_dir / ADAPTER_CONFIG_FILE).is_file():
        raise AdapterNotFoundError(
            f"no LoRA adapter in {adapter_dir} (missing {ADAPTER_CONFIG_FILE}): run the "
            "previous stage first, or start this one without previous_adapter_dir"
        )
    return adapter_dir


def _progress_callback(progress: ProgressCallback):
    from transformers import TrainerCallback

    class _ForwardNumericLogs(TrainerCallback):
        """Hands the trainer's numeric logs (loss, learning rate, ...) to `progress`."""

        def on_log(self, args, state, control, logs=None, **kwargs):
            numbers = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            numbers["step"] = float(state.global_step)
            progress(numbers)

    return _ForwardNumericLogs()


def train_lora_stage(
    base_model_path: str | Path,
    train_records: Sequence[Mapping[str, Any]],
    validation_records: Sequence[Mapping[str, Any]],
    out_dir: Path,
    config: StageConfig,
    *,
    previous_adapter_dir: Path | None = None,
    progress: ProgressCallback | None = None,
) -> StageResult:
    """Train (or continue training) a LoRA adapter on chat records; save it into `out_dir`.

    With `previous_adapter_dir`, that adapter is loaded trainable and trained further, so
    its LoRA rank/alpha win over `config`'s. Validation loss (assistant tokens) is measured
    before and after. `out_dir` receives the adapter, the tokenizer and
    `stage_result.json`, all at once, only if the stage succeeds.
    """
    harden_process()
    started = time.perf_counter()
    train = validate_chat_records(train_records, "training")
    validation = validate_chat_records(validation_records, "validation")
    if previous_adapter_dir is not None:
        previous_adapter_dir = require_adapter_dir(previous_adapter_dir)

    with quiet_progress_bars():
        return _run_stage(
            base_model_path,
            train,
            validation,
            Path(out_dir),
            config,
            previous_adapter_dir=previous_adapter_dir,
            progress=progress,
            started=started,
        )


def _run_stage(
    base_model_path: str | Path,
    train: list[dict],
    validation: list[dict],
    out_dir: Path,
    config: StageConfig,
    *,
    previous_adapter_dir: Path | None,
    progress: ProgressCallback | None,
    started: float,
) -> StageResult:
    from datasets import Dataset
    from peft import PeftModel
    from transformers import PrinterCallback
    from trl import SFTConfig, SFTTrainer

    model, tokenizer = load_base_model(str(base_model_path))
    peft_config = None
    if previous_adapter_dir is not None:
        model = PeftModel.from_pretrained(model, str(previous_adapter_dir), is_trainable=True)
    else:
        peft_config = _lora_config(config)

    with atomic_output(out_dir, directory=True) as temp:
        scratch = temp / "_trainer"
        use_cuda = cuda_available()
        args = SFTConfig(
            output_dir=str(scratch),
            max_steps=config.max_steps,
            learning_rate=config.learning_rate,
            # As whole steps: transformers 5 dropped `warmup_ratio` from the arguments.
            warmup_steps=math.ceil(config.max_steps * config.warmup_ratio),
            gradient_accumulation_steps=config.gradient_accumulation_steps,
            per_device_train_batch_size=config.batch_size,
            per_device_eval_batch_size=config.batch_size,
            max_length=config.max_length,
            assistant_only_loss=config.assistant_only_loss,
            packing=False,
            seed=config.seed,
            data_seed=config.seed,
            # bf16 where the GPU has it, fp16 on older GPUs, neither on a CPU.
            **mixed_precision_flags(),
            # Recomputing activations only pays off for a real model on a GPU.
            activation_checkpointing=use_cuda,
            use_cpu=not use_cuda,
            eval_strategy="no",
            save_strategy="no",
            logging_steps=max(1, config.max_steps // 10),
            report_to="none",
            disable_tqdm=True,
            dataloader_num_workers=0,
            push_to_hub=False,
        )
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=Dataset.from_list(train),
            eval_dataset=Dataset.from_list(validation),
            processing_class=tokenizer,
            peft_config=peft_config,
            callbacks=[_progress_callback(progress)] if progress else None,
        )
        # With tqdm off the Trainer prints every log dict to stdout; `progress` gets them instead.
        trainer.remove_callback(PrinterCallback)
        loss_before = float(trainer.evaluate()["eval_loss"])
        train_output = trainer.train()
        loss_after = float(trainer.evaluate()["eval_loss"])
        if not all(map(math.isfinite, (train_output.training_loss, loss_after))):
            raise TrainingDivergedError(
                f"stage {config.name!r} diverged (loss is not finite): lower its learning_rate "
                f"(now {config.learning_rate}) and run it again"
            )

        trainer.save_model(str(temp))
        shutil.rmtree(scratch, ignore_errors=True)
        result = StageResult(
            stage=config.name,
            adapter_dir=str(out_dir.resolve()),
            base_model=str(base_model_path),
            train_loss=float(train_output.training_loss),
            validation_loss_before=loss_before,
            validation_loss_after=loss_after,
            steps=int(train_output.global_step),
            seconds=round(time.perf_counter() - started, 3),
            train_examples=len(train),
            validation_examples=len(validation),
        )
        (temp / STAGE_RESULT_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
    return result
