"""One LoRA fine-tuning stage with TRL's SFTTrainer; stages chain by resuming an adapter.

The curriculum (conversational -> adaptive -> burst) is a sequence of calls to
`train_lora_stage`, each given the previous stage's adapter directory. Loss is on the
assistant (backup owner) tokens only, through the chat template's `{% generation %}`
markers. Nothing here logs or stores message text: only counts, losses and timings.

Layout under a stage's `out_dir` (e.g. `models/<stage>/`), keyed by a hash of the
inputs (training and validation records, `StageConfig`, base model, previous adapter):

    <out_dir>/runs/<key>/checkpoint-<step>/   checkpoints while training (resumable)
    <out_dir>/<key>/                          the finished adapter, tokenizer,
                                              stage_result.json and loss_curve.png,
                                              renamed into place at once
    <out_dir>/latest.json                     {"key", "adapter_dir"} of the last finished run

A re-run with the same inputs reuses a finished `<key>/`, or resumes from the last
complete checkpoint in `runs/<key>/`; different inputs get a new key, so the adapter
of the last good run is never overwritten. `runs/<key>/` is removed once `<key>/` exists.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from astrabot_pipeline.durations import minutes_seconds
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.settings import harden_process
from astrabot_pipeline.storage import atomic_output, make_parents, write_json
from astrabot_pipeline.training.base_model import (
    TrainingError,
    cuda_available,
    load_base_model,
    model_widths,
    quiet_progress_bars,
)
from astrabot_pipeline.training.loss_plot import LOSS_CURVE_FILE, render_loss_curve
from astrabot_pipeline.training.members import ConsumedExamples, read_members
from astrabot_pipeline.training.precision import (
    Precision,
    check_precision_setting,
    choose_precision,
)
from astrabot_pipeline.training.run_plan import RunPlan, plan_run
from astrabot_pipeline.training.token_budget import BudgetFit, fit_to_token_budget, token_length

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
STAGE_RESULT_FILE = "stage_result.json"
ADAPTER_CONFIG_FILE = "adapter_config.json"
LATEST_FILE = "latest.json"
RUNS_DIR = "runs"
CHAT_ROLES = frozenset({"system", "user", "assistant"})
LR_SCHEDULERS = ("linear", "cosine", "constant", "constant_with_warmup")
# At most one progress update per this many seconds (plus the last one).
PROGRESS_INTERVAL_SECONDS = 10.0
_KEY_LENGTH = 16
# Attention implementations (besides FlashAttention's, see `_padding_free_attention`) that
# keep the examples of a padding-free batch apart.
PADDING_FREE_ATTENTION = ("sdpa", "eager")

ProgressCallback = Callable[[dict[str, float]], None]


class EmptyDatasetError(TrainingError, ValueError):
    """A stage was given no training (or no validation) examples."""


class InvalidRecordError(TrainingError, ValueError):
    """A chat record does not have the `{"messages": [{"role", "content"}, ...]}` shape."""


class TrainingDivergedError(TrainingError, ArithmeticError):
    """The loss became NaN or infinite; nothing was saved."""


class AdapterNotFoundError(TrainingError, FileNotFoundError):
    """The adapter to resume from is missing or incomplete."""


class StageResultError(TrainingError, ValueError):
    """A saved stage_result.json cannot be read as a StageResult."""


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


@dataclass
class StageResult:
    """What a stage produced: where its adapter is, and numbers only (never text).

    `seconds` is the whole call (loading included), `runtime_seconds` the training
    loop of this call only; `steps` is the final global step, `steps_trained` the steps
    this call took (fewer when it resumed from `resumed_from_step`). `loss_history`
    holds `{"step", "train_loss", "validation_loss"}` rows (step 0: before training);
    `token_budget` what fitting each split into `max_length` took (`BudgetFit.counts`).
    `reused` is True when the same inputs had already been trained and nothing ran;
    `skipped` when the stage had no examples of its family and passes the previous
    stage's adapter (and numbers) on under its own name. `plan` is what the stage
    planned before its first step (`RunPlan.to_dict`: examples, steps, tokens, the
    measured speed and the time it estimated).
    Fields after `validation_examples` have defaults so results of older versions load.
    """

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
    max_length: int = 256
    tokens_seen: int = 0
    runtime_seconds: float = 0.0
    steps_trained: int = 0
    resumed_from_step: int = 0
    best_step: int | None = None
    run_key: str = ""
    batching: str = ""
    profile: str = ""
    seed: int = 0
    dataset_hash: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    library_versions: dict[str, str] = field(default_factory=dict)
    loss_history: list[dict[str, Any]] = field(default_factory=list)
    token_budget: dict[str, dict[str, int]] = field(default_factory=dict)
    reused: bool = False
    skipped: bool = False
    plan: dict[str, Any] = field(default_factory=dict)
    reply_line_cap: int | None = None  # generation's line cap (dataset/reply_lines.py)
    precision: str = ""  # what the stage trained in: "bf16", "fp16" or "fp32"
    precision_reason: str = ""  # why, in words (training/precision.py)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> StageResult:
        """Tolerant reader: missing newer keys take their defaults, unknown keys are ignored."""
        known = {f.name for f in fields(cls)}
        required = [
            f.name for f in fields(cls) if f.default is MISSING and f.default_factory is MISSING
        ]
        missing = [name for name in required if name not in payload]
        if missing:
            raise StageResultError(
                f"stage result lacks {', '.join(missing)}: re-run the stage to rewrite it"
            )
        return cls(**{key: value for key, value in payload.items() if key in known})

    @classmethod
    def load(cls, adapter_dir: str | Path) -> StageResult:
        """Read the result a stage saved beside its adapter."""
        path = Path(adapter_dir) / STAGE_RESULT_FILE
        try:
            payload = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise StageResultError(f"{path} is not valid JSON: re-run the stage") from error
        if not isinstance(payload, Mapping):
            raise StageResultError(f"{path} does not hold a JSON object: re-run the stage")
        return cls.from_dict(payload)


# The key a training record's row travels under through the token-budget fitting.
ROW_KEY = "_row"


def record_ids(records: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each record's `example_id` (the dataset's), or its position where it has none."""
    return [
        str(record.get("example_id", i)) if isinstance(record, Mapping) else str(i)
        for i, record in enumerate(records)
    ]


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


def _canonical_hash(payload: Any) -> str:
    encoded = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def dataset_hash(
    train: Sequence[Mapping[str, Any]], validation: Sequence[Mapping[str, Any]]
) -> str:
    """A digest of the (validated) training and validation records, in order."""
    return _canonical_hash({"train": list(train), "validation": list(validation)})


def _files_digest(directory: Path, names: Sequence[str]) -> str:
    digest = hashlib.sha256()
    for name in names:
        path = directory / name
        digest.update(name.encode())
        if path.is_file():
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
    return digest.hexdigest()


def _base_model_identity(base_model_path: str | Path) -> dict[str, str]:
    """The base model's name, plus a digest of its config when it is a local directory."""
    path = Path(base_model_path).expanduser()
    if path.is_dir():
        return {"path": str(path.resolve()), "config": _files_digest(path, ["config.json"])}
    return {"id": str(base_model_path)}


def run_key(
    data_hash: str,
    config: StageConfig,
    base_model_path: str | Path,
    previous_adapter_dir: Path | None,
    precision: str,
) -> str:
    """The directory key of a stage run: same inputs, same key; any change, a new one.
    `precision` is the arithmetic chosen ("auto" resolves per machine): a checkpoint
    trained in fp32 is never resumed in bf16."""
    previous = None
    if previous_adapter_dir is not None:
        previous = _files_digest(
            previous_adapter_dir,
            [ADAPTER_CONFIG_FILE, "adapter_model.safetensors", "adapter_model.bin"],
        )
    payload = {
        "dataset": data_hash,
        "config": config.to_dict(),
        "base_model": _base_model_identity(base_model_path),
        "previous_adapter": previous,
        "precision": precision,
    }
    return _canonical_hash(payload)[:_KEY_LENGTH]


def latest_adapter_dir(out_dir: str | Path) -> Path:
    """The adapter of the last finished run of the stage whose root is `out_dir`."""
    out_dir = Path(out_dir)
    try:
        key = json.loads((out_dir / LATEST_FILE).read_text())["key"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise AdapterNotFoundError(
            f"{out_dir} has no finished stage run ({LATEST_FILE} missing or unreadable): "
            "run the stage first"
        ) from error
    return require_adapter_dir(out_dir / str(key))


def library_versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    versions = {}
    for package in ("torch", "transformers", "trl", "peft", "datasets", "accelerate"):
        try:
            versions[package] = version(package)
        except PackageNotFoundError:
            versions[package] = "absent"
    return versions


def _complete_checkpoint(path: Path) -> bool:
    """A checkpoint the Trainer finished writing (trainer_state.json is written last)."""
    try:
        state = json.loads((path / "trainer_state.json").read_text())
    except (OSError, ValueError):
        return False
    has_adapter = (path / "adapter_model.safetensors").is_file() or (
        path / "adapter_model.bin"
    ).is_file()
    return isinstance(state, dict) and has_adapter and (path / "optimizer.pt").is_file()


def last_checkpoint(run_dir: Path) -> Path | None:
    """The complete checkpoint with the highest step in `run_dir`, if any."""
    if not run_dir.is_dir():
        return None
    candidates = []
    for child in run_dir.iterdir():
        prefix, _, step = child.name.partition("-")
        if prefix == "checkpoint" and step.isdigit() and child.is_dir():
            candidates.append((int(step), child))
    for _, path in sorted(candidates, reverse=True):
        if _complete_checkpoint(path):
            return path
    return None


def _padding_free_attention(model) -> bool:
    """True when the loaded model's attention keeps examples flattened into one row apart.

    TRL's padding-free collator concatenates a batch into one row whose position ids restart
    at 0 for every example, with no attention mask. FlashAttention's variable-length kernels
    take those boundaries directly; with SDPA and eager attention, transformers builds a
    block-diagonal causal mask from the restarts (`masking_utils.find_packed_sequence_indices`,
    used when there is no attention mask and no cache: TRL passes `use_cache=False`). Measured
    on SmolLM2-135M (Llama) and the tiny Qwen2/Qwen3 models, on a CPU: per-token logits of
    packed examples equal each example run alone (max difference 8e-5 in fp32, as for a padded
    batch), and TRL's loss and LoRA gradients equal the padded batch's.

    A mask does not skip work, though: SDPA/eager attention over the flattened row costs
    (sum of lengths)^2 instead of batch x longest^2. On a CPU, with short rows (the `small`
    profile: 2 examples of ~100 tokens), that is noise beside the padding saved; on CUDA a
    row of 4 x 1024 tokens would pay 4x the attention work and a 4096^2 mask, unmeasured, so
    there only FlashAttention goes padding-free. Any other implementation (flex, paged,
    custom kernels), and SDPA/eager on CUDA, get padded, length-grouped batches.
    """
    implementation = str(getattr(model.config, "_attn_implementation", "") or "")
    if "flash" in implementation:
        return True
    return implementation in PADDING_FREE_ATTENTION and not cuda_available()


def _scored_positions(labels):
    """A (batch, length) mask of the positions whose next token is scored (label not -100)."""
    import torch

    scored = torch.zeros_like(labels, dtype=torch.bool)
    scored[:, :-1] = labels[:, 1:] != -100
    return scored


def _owner_token_trainer():
    """SFTTrainer whose loss projects only the scored positions through the LM head.

    TRL's fused LM head scores only those positions on CUDA/XPU, but on other devices it
    projects every position (and projects again in the backward pass). With the loss on the
    owner's tokens only, most positions are context: on a CPU this class asks the model for
    the logits of the scored positions alone (`logits_to_keep`), then takes the same
    token-mean cross-entropy and logs the same entropy and token accuracy.
    """
    import torch
    from trl import SFTTrainer

    class OwnerTokenSFTTrainer(SFTTrainer):
        # Set by the stage: records which training examples the steps consume (members.py).
        consumed: ConsumedExamples | None = None

        def get_train_dataloader(self):
            loader = super().get_train_dataloader()
            if self.consumed is not None:
                self.consumed.hook(loader.dataset)
            return loader

        def _save(self, output_dir=None, state_dict=None):
            # Every save of the adapter (a checkpoint's comes before its trainer state)
            # records the examples trained on so far beside it.
            super()._save(output_dir, state_dict)
            if self.consumed is not None and output_dir is not None:
                self.consumed.write(output_dir, self.state.global_step)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            labels = inputs.get("labels")
            if return_outputs or labels is None or labels.device.type in ("cuda", "xpu"):
                return super().compute_loss(model, inputs, return_outputs, num_items_in_batch)
            assert self.model is not None  # the Trainer was built with one
            mode = "train" if self.model.training else "eval"
            scored = _scored_positions(labels)
            targets = labels[:, 1:][scored[:, :-1]]
            model_inputs = {k: v for k, v in inputs.items() if k != "labels"}
            logits = model(**model_inputs, use_cache=False, logits_to_keep=scored).logits
            logits = logits.reshape(-1, logits.shape[-1]).float()
            count = targets.numel() if num_items_in_batch is None else num_items_in_batch
            loss = torch.nn.functional.cross_entropy(logits, targets, reduction="sum")
            loss = loss / torch.as_tensor(count).clamp(min=1)
            if self.args.average_tokens_across_devices and num_items_in_batch is not None:
                loss = loss * self.accelerator.num_processes
            with torch.no_grad():
                log_probs = torch.log_softmax(logits, dim=-1)
                entropy = -(log_probs.exp() * log_probs).sum(-1)
                correct = logits.argmax(-1) == targets
                valid = max(targets.numel(), 1)
                self._metrics[mode]["entropy"].append(entropy.sum().item() / valid)
                self._metrics[mode]["mean_token_accuracy"].append(correct.sum().item() / valid)
            if mode == "train":
                if "attention_mask" in inputs:
                    self._total_train_tokens += int(inputs["attention_mask"].sum())
                else:
                    self._total_train_tokens += inputs["input_ids"].numel()
            self._metrics[mode]["num_tokens"] = [self._total_train_tokens]
            return loss

    return OwnerTokenSFTTrainer


def format_progress(update: Mapping[str, float]) -> str:
    """One log line from a progress update: numbers only."""
    parts = [f"step {int(update.get('step', 0))}/{int(update.get('max_steps', 0))}"]
    if "loss" in update:
        parts.append(f"loss {update['loss']:.4f}")
    if "eval_loss" in update:
        parts.append(f"validation loss {update['eval_loss']:.4f}")
    if "learning_rate" in update:
        parts.append(f"lr {update['learning_rate']:.2e}")
    if "tokens_per_second" in update:
        parts.append(f"{update['tokens_per_second']:.0f} tokens/s")
    if "eta_seconds" in update:
        parts.append(f"ETA {minutes_seconds(update['eta_seconds'])}")
    return ", ".join(parts)


class ProgressUpdate(dict[str, float]):
    """A progress update: a `dict[str, float]` whose `str()` is its log line."""

    def __str__(self) -> str:
        return format_progress(self)


def _progress_callback(
    progress: ProgressCallback, interval: float = PROGRESS_INTERVAL_SECONDS, clock=time.monotonic
):
    from transformers import TrainerCallback

    class TrainingProgress(TrainerCallback):
        """Turns the trainer's logs into throttled numeric updates (loss, lr, tokens/s, ETA).

        At most one update every `interval` seconds, plus the last one at the end of
        training. Updates are `ProgressUpdate`s: floats only, `str()` gives the line.
        """

        def __init__(self) -> None:
            self.started: float | None = None
            self.first_step = 0
            self.first_tokens = 0
            self.last_emit: float | None = None
            self.latest: ProgressUpdate | None = None
            self.emitted_latest = True

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = clock()
            self.last_emit = None  # the first training log is always shown
            self.first_step = state.global_step
            self.first_tokens = state.num_input_tokens_seen or 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            numbers = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            update = ProgressUpdate(numbers)
            update["step"] = float(state.global_step)
            update["max_steps"] = float(state.max_steps)
            now = clock()
            if self.started is not None:
                elapsed = max(now - self.started, 1e-9)
                done = state.global_step - self.first_step
                tokens = (state.num_input_tokens_seen or 0) - self.first_tokens
                if tokens > 0:
                    update["tokens_per_second"] = tokens / elapsed
                if done > 0:
                    update["eta_seconds"] = max(
                        0.0, (state.max_steps - state.global_step) * elapsed / done
                    )
            self.latest, self.emitted_latest = update, False
            if self.last_emit is None or now - self.last_emit >= interval:
                self._emit(now)

        def on_train_end(self, args, state, control, **kwargs):
            if not self.emitted_latest:
                self._emit(clock())

        def _emit(self, now: float) -> None:
            self.last_emit, self.emitted_latest = now, True
            if self.latest is not None:
                progress(self.latest)

    return TrainingProgress()


def loss_history(log_history: Sequence[Mapping[str, Any]], loss_before: float) -> list[dict]:
    """`{"step", "train_loss", "validation_loss"}` rows from the Trainer's log history."""
    rows: dict[int, dict[str, Any]] = {
        0: {"step": 0, "train_loss": None, "validation_loss": loss_before}
    }
    for entry in log_history:
        step = int(entry.get("step", 0))
        row = rows.setdefault(step, {"step": step, "train_loss": None, "validation_loss": None})
        if "loss" in entry:
            row["train_loss"] = float(entry["loss"])
        if "eval_loss" in entry and step > 0:
            row["validation_loss"] = float(entry["eval_loss"])
    return [rows[step] for step in sorted(rows)]


def train_lora_stage(
    base_model_path: str | Path,
    train_records: Sequence[Mapping[str, Any]],
    validation_records: Sequence[Mapping[str, Any]],
    out_dir: Path,
    config: StageConfig,
    *,
    previous_adapter_dir: Path | None = None,
    progress: ProgressCallback | None = None,
    profile: str = "",
    progress_interval: float = PROGRESS_INTERVAL_SECONDS,
    on_plan: Callable[[RunPlan], None] | None = None,
    reply_line_cap: int | None = None,
) -> StageResult:
    """Train (or continue training) a LoRA adapter on chat records, under `out_dir`.

    With `previous_adapter_dir`, that adapter is loaded trainable and trained further, so
    its LoRA rank/alpha/targets win over `config`'s. Validation loss (assistant tokens) is
    measured before and after (and every `config.eval_steps` steps, keeping the best
    adapter). The adapter lands in `out_dir/<key>/` (see the module docstring), whose
    path is the result's `adapter_dir`; the same inputs again reuse it, or resume an
    interrupted run from its last checkpoint. `profile` and `reply_line_cap` (the owner's
    burst length that generation caps replies at) are recorded in the result.
    Before the first step the stage makes its plan (run_plan.py) and hands it to `on_plan`.
    """
    harden_process()
    started = time.perf_counter()
    train_ids = record_ids(train_records)
    train = validate_chat_records(train_records, "training")
    validation = validate_chat_records(validation_records, "validation")
    if previous_adapter_dir is not None:
        previous_adapter_dir = require_adapter_dir(previous_adapter_dir)

    out_dir = Path(out_dir)
    data_hash = dataset_hash(train, validation)
    precision = choose_precision(config.precision, lambda: model_widths(base_model_path))
    key = run_key(data_hash, config, base_model_path, previous_adapter_dir, precision.name)
    final_dir = out_dir / key
    if (final_dir / STAGE_RESULT_FILE).is_file() and (final_dir / ADAPTER_CONFIG_FILE).is_file():
        # These exact inputs were trained before: the finished adapter is the answer.
        result = replace(
            StageResult.load(final_dir), adapter_dir=str(final_dir.resolve()), reused=True
        )
        _record_latest(out_dir, key, final_dir)
        return result

    with quiet_progress_bars():
        result = _run_stage(
            base_model_path,
            train,
            validation,
            out_dir,
            key,
            config,
            previous_adapter_dir=previous_adapter_dir,
            progress=progress,
            progress_interval=progress_interval,
            on_plan=on_plan,
            started=started,
            precision=precision,
            record={"profile": profile, "dataset_hash": data_hash, "cap": reply_line_cap},
            train_ids=train_ids,
        )
    _record_latest(out_dir, key, final_dir)
    return result


def _record_latest(out_dir: Path, key: str, final_dir: Path) -> None:
    write_json(out_dir / LATEST_FILE, {"key": key, "adapter_dir": str(final_dir.resolve())})


def _training_args(
    config: StageConfig,
    run_dir: Path,
    train_examples: int,
    padding_free: bool,
    precision: Precision,
):
    from trl import SFTConfig

    use_cuda = cuda_available()
    evaluate_during = config.eval_steps > 0
    return SFTConfig(
        output_dir=str(run_dir),
        max_steps=-1 if config.num_train_epochs is not None else config.max_steps,
        num_train_epochs=config.num_train_epochs or 1.0,
        learning_rate=config.learning_rate,
        lr_scheduler_type=config.lr_scheduler_type,
        # A float below 1 is a fraction of the total steps (transformers 5 has no warmup_ratio).
        warmup_steps=config.warmup_ratio,
        gradient_accumulation_steps=config.gradient_accumulation_steps,
        per_device_train_batch_size=config.batch_size,
        per_device_eval_batch_size=config.batch_size,
        # Padding-free: each step's examples flattened into one row, no padding and no
        # packing, so a step still holds `batch_size` examples. TRL does not truncate
        # there (it refuses a max_length); the records arrive already trimmed to it
        # (token_budget.py). Padded batches are truncated by TRL and grouped by length so
        # that little padding is computed.
        max_length=None if padding_free else config.max_length,
        padding_free=padding_free,
        train_sampling_strategy="random" if padding_free else "group_by_length",
        assistant_only_loss=config.assistant_only_loss,
        seed=config.seed,
        data_seed=config.seed,
        # bf16 where the GPU has it, fp16 on older GPUs; on a CPU, bf16 where it pays.
        bf16=precision.bf16,
        fp16=precision.fp16,
        # Recomputing activations only pays off for a real model on a GPU.
        activation_checkpointing=use_cuda,
        use_cpu=not use_cuda,
        eval_strategy="steps" if evaluate_during else "no",
        eval_steps=config.eval_steps if evaluate_during else None,
        save_strategy="steps",
        save_steps=config.checkpoint_interval(train_examples),
        save_total_limit=2,
        load_best_model_at_end=evaluate_during,
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        logging_steps=config.logging_interval(train_examples),
        # A padding-free row holds no padding; "non_padding" would also drop every token
        # equal to the pad token, which is <|im_end|> for SmolLM2.
        include_num_input_tokens_seen="all" if padding_free else "non_padding",
        report_to="none",
        disable_tqdm=True,
        dataloader_num_workers=0,
        push_to_hub=False,
    )


def _fit(records: list[dict], tokenizer, max_length: int, what: str) -> BudgetFit:
    fit = fit_to_token_budget(records, tokenizer, max_length)
    if not fit.records:
        raise EmptyDatasetError(
            f"no {what} example fits max_length={max_length} tokens even with its context "
            f"trimmed ({fit.dropped} replies alone are longer): raise max_length"
        )
    return fit


def _load_finished_adapter(trainer, saved, checkpoint: Path, *, keep_best: bool) -> None:
    """Put a finished run's adapter (its best evaluated one, if kept) into the trainer's model."""
    source = checkpoint
    if keep_best and saved.best_model_checkpoint and Path(saved.best_model_checkpoint).is_dir():
        source = Path(saved.best_model_checkpoint)
    model = trainer.model
    model.load_adapter(str(source), adapter_name=model.active_adapter, is_trainable=True)
    trainer.state = saved


def _run_stage(
    base_model_path: str | Path,
    train: list[dict],
    validation: list[dict],
    out_dir: Path,
    key: str,
    config: StageConfig,
    *,
    previous_adapter_dir: Path | None,
    progress: ProgressCallback | None,
    progress_interval: float,
    on_plan: Callable[[RunPlan], None] | None,
    started: float,
    precision: Precision,
    record: dict[str, Any],
    train_ids: list[str],
) -> StageResult:
    from datasets import Dataset
    from peft import PeftModel
    from transformers import PreTrainedModel, PrinterCallback, TrainerState

    model: PreTrainedModel | PeftModel
    # A GPU loads in its own dtype (model_load_kwargs); a CPU in bf16 when training in it.
    model, tokenizer = load_base_model(str(base_model_path), cpu_bf16=precision.bf16)
    # Contexts trimmed from the left to max_length, so truncation never cuts a reply (and
    # padding-free batches, which TRL does not truncate, stay within it).
    # Each record carries its row through the fitting, which may drop some.
    train_fit = _fit(
        [{**r, ROW_KEY: i} for i, r in enumerate(train)], tokenizer, config.max_length, "training"
    )
    validation_fit = _fit(validation, tokenizer, config.max_length, "validation")
    kept_ids = [train_ids[r.pop(ROW_KEY)] for r in train_fit.records]
    train, validation = train_fit.records, validation_fit.records
    padding_free = _padding_free_attention(model)
    attention = str(getattr(model.config, "_attn_implementation", "") or "unknown")
    peft_config = None
    if previous_adapter_dir is not None:
        model = PeftModel.from_pretrained(model, str(previous_adapter_dir), is_trainable=True)
    else:
        peft_config = _lora_config(config)

    run_dir = out_dir / RUNS_DIR / key
    make_parents(run_dir)
    resume_from = last_checkpoint(run_dir)
    saved = (
        TrainerState.load_from_json(str(resume_from / "trainer_state.json"))
        if resume_from
        else None
    )
    resumed_from_step = saved.global_step if saved is not None else 0
    consumed = ConsumedExamples(
        kept_ids,
        batches_per_step=config.gradient_accumulation_steps,
        previous=(read_members(resume_from) or []) if resume_from else [],
        resumed_from_step=resumed_from_step,
    )
    trainer = _owner_token_trainer()(
        model=model,
        args=_training_args(config, run_dir, len(train), padding_free, precision),
        train_dataset=Dataset.from_list(train),
        eval_dataset=Dataset.from_list(validation),
        processing_class=tokenizer,
        peft_config=peft_config,
        callbacks=[_progress_callback(progress, progress_interval)] if progress else None,
    )
    # With tqdm off the Trainer prints every log dict to stdout; `progress` gets them instead.
    trainer.remove_callback(PrinterCallback)
    if not cuda_available():
        # PyTorch's CPU generator is serial: LoRA's dropout masks from far fewer draws.
        from astrabot_pipeline.training.lora_dropout import use_poisson_dropout

        use_poisson_dropout(trainer.model)
    loss_before = float(trainer.evaluate()["eval_loss"])
    lengths = [token_length(tokenizer, record["messages"], None) for record in train]
    plan = replace(plan_run(trainer, config, run_dir, lengths), precision=precision.name)
    if on_plan is not None:
        on_plan(plan)
    # Recorded from here: the plan's probe batches are measured, not trained on.
    trainer.consumed = consumed
    train_started = time.perf_counter()
    if resume_from is not None and saved is not None and saved.global_step >= saved.max_steps:
        # Interrupted after its last checkpoint (while saving the adapter). Resuming would
        # train one step too many, so take the checkpoint (or the best one) as it is.
        _load_finished_adapter(trainer, saved, resume_from, keep_best=config.eval_steps > 0)
        session_loss = None
    else:
        train_output = trainer.train(
            resume_from_checkpoint=str(resume_from) if resume_from else None
        )
        session_loss = float(train_output.training_loss)
    runtime = time.perf_counter() - train_started
    state = trainer.state
    history = loss_history(state.log_history, loss_before)
    loss_after = float(trainer.evaluate()["eval_loss"])
    if session_loss is None:
        logged = [row["train_loss"] for row in history if row["train_loss"] is not None]
        train_loss = sum(logged) / len(logged) if logged else math.nan
    else:
        train_loss = session_loss
    if not all(map(math.isfinite, (train_loss, loss_after))):
        raise TrainingDivergedError(
            f"stage {config.name!r} diverged (loss is not finite): lower its learning_rate "
            f"(now {config.learning_rate}) and run it again"
        )

    final_dir = out_dir / key
    for stale in out_dir.glob(f".{key}.*.tmp"):
        # Left by a run killed while renaming its adapter into place.
        shutil.rmtree(stale, ignore_errors=True)
    with atomic_output(final_dir, directory=True) as temp:
        trainer.save_model(str(temp))
        best_step = None
        if config.eval_steps and state.best_model_checkpoint:
            best_step = int(Path(state.best_model_checkpoint).name.split("-")[-1])
        # The saved adapter is the best one when kept: its members are that step's.
        consumed.write(temp, int(state.global_step) if best_step is None else best_step)
        result = StageResult(
            stage=config.name,
            adapter_dir=str(final_dir.resolve()),
            base_model=str(base_model_path),
            train_loss=train_loss,
            validation_loss_before=loss_before,
            validation_loss_after=loss_after,
            steps=int(state.global_step),
            seconds=round(time.perf_counter() - started, 3),
            train_examples=len(train),
            validation_examples=len(validation),
            max_length=config.max_length,
            tokens_seen=int(state.num_input_tokens_seen or 0),
            runtime_seconds=round(runtime, 3),
            steps_trained=int(state.global_step) - resumed_from_step,
            resumed_from_step=resumed_from_step,
            best_step=best_step,
            run_key=key,
            batching=f"padding-free ({attention} attention)"
            if padding_free
            else f"length-grouped, padded ({attention} attention)",
            profile=record["profile"],
            seed=config.seed,
            dataset_hash=record["dataset_hash"],
            reply_line_cap=record["cap"],
            config=config.to_dict(),
            library_versions=library_versions(),
            loss_history=history,
            token_budget={
                split: fit.counts()
                for split, fit in (("train", train_fit), ("validation", validation_fit))
            },
            plan=plan.to_dict(),
            precision=precision.name,
            precision_reason=precision.reason,
        )
        (temp / STAGE_RESULT_FILE).write_text(json.dumps(result.to_dict(), indent=2) + "\n")
        (temp / LOSS_CURVE_FILE).write_bytes(render_loss_curve(history, config.name))
    # The finished adapter is in place: its checkpoints are no longer needed.
    shutil.rmtree(run_dir, ignore_errors=True)
    runs = out_dir / RUNS_DIR
    if runs.is_dir() and not any(runs.iterdir()):
        os.rmdir(runs)
    return result
