"""One LoRA fine-tuning stage with TRL's SFTTrainer; stages chain by resuming an adapter.

The curriculum (conversational -> adaptive -> burst) is a sequence of calls to
`train_lora_stage`, each given the previous stage's adapter directory. Loss is on the
assistant (backup owner) tokens only, through the chat template's `{% generation %}`
markers. Nothing here logs or stores message text: only counts, losses and timings.
Where a run's checkpoints and adapter live, and when a run is reused or resumed:
checkpoints.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from astrabot_pipeline.settings import harden_process
from astrabot_pipeline.training.base_model import (
    TrainingError,
    load_base_model,
    model_widths,
    quiet_progress_bars,
)
from astrabot_pipeline.training.chat_records import (
    fit_records,
    record_ids,
    validate_chat_records,
)
from astrabot_pipeline.training.checkpoints import (
    RUNS_DIR,
    checkpoint_to_resume,
    finished_adapter_folder,
    finished_run,
    load_finished_adapter,
    record_latest,
    require_adapter_dir,
)
from astrabot_pipeline.training.loss_plot import LOSS_CURVE_FILE, render_loss_curve
from astrabot_pipeline.training.members import ConsumedExamples, read_members
from astrabot_pipeline.training.precision import Precision, choose_precision
from astrabot_pipeline.training.progress import (
    PROGRESS_INTERVAL_SECONDS,
    TrainingProgressCallback,
    throttled_progress,
)
from astrabot_pipeline.training.run_key import dataset_hash, run_key
from astrabot_pipeline.training.run_plan import RunPlan, plan_run
from astrabot_pipeline.training.stage_config import StageConfig
from astrabot_pipeline.training.stage_result import StageResult, library_versions, loss_history
from astrabot_pipeline.training.token_budget import BudgetFit, token_length
from astrabot_pipeline.training.trainer import build_trainer, lora_config, padding_free_attention

# The key a training record's row travels under through the token-budget fitting.
ROW_KEY = "_row"


class TrainingDivergedError(TrainingError, ArithmeticError):
    """The loss became NaN or infinite; nothing was saved."""


def train_lora_stage(
    base_model_path: str | Path,
    train_records: Sequence[Mapping[str, Any]],
    validation_records: Sequence[Mapping[str, Any]],
    out_dir: Path,
    config: StageConfig,
    *,
    previous_adapter_dir: Path | None = None,
    progress: TrainingProgressCallback | None = None,
    profile: str = "",
    progress_interval: float = PROGRESS_INTERVAL_SECONDS,
    on_plan: Callable[[RunPlan], None] | None = None,
    reply_line_cap: int | None = None,
) -> StageResult:
    """Train (or continue training) a LoRA adapter on chat records, under `out_dir`.

    With `previous_adapter_dir`, that adapter is loaded trainable and trained further, so
    its LoRA rank/alpha/targets win over `config`'s. Validation loss (assistant tokens) is
    measured before and after (and every `config.eval_steps` steps, keeping the best
    adapter). The adapter lands in `out_dir/<key>/` (see checkpoints.py), whose path is
    the result's `adapter_dir`; the same inputs again reuse it, or resume an interrupted
    run from its last checkpoint. `profile` and `reply_line_cap` (the owner's burst
    length that generation caps replies at) are recorded in the result.
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
    # These exact inputs may have been trained before: then the finished adapter is the answer.
    result = finished_run(out_dir, key)
    if result is None:
        with quiet_progress_bars():
            result = _train_and_save_adapter(
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
    record_latest(out_dir, key)
    return result


def _train_and_save_adapter(
    base_model_path: str | Path,
    train: list[dict],
    validation: list[dict],
    out_dir: Path,
    key: str,
    config: StageConfig,
    *,
    previous_adapter_dir: Path | None,
    progress: TrainingProgressCallback | None,
    progress_interval: float,
    on_plan: Callable[[RunPlan], None] | None,
    started: float,
    precision: Precision,
    record: dict[str, Any],
    train_ids: list[str],
) -> StageResult:
    """Train run `key` (from its last checkpoint, if it has one) and save its adapter."""
    # A GPU loads in its own dtype (model_load_kwargs); a CPU in bf16 when training in it.
    model, tokenizer = load_base_model(str(base_model_path), cpu_bf16=precision.bf16)
    train_fit, validation_fit, kept_ids = _fit_splits(
        train, validation, train_ids, tokenizer, config.max_length
    )
    train, validation = train_fit.records, validation_fit.records
    padding_free = padding_free_attention(model)
    batching = _batching(model, padding_free)
    model, peft_config = _adapter_to_train(model, previous_adapter_dir, config)

    run_dir = out_dir / RUNS_DIR / key
    resume_from, saved = checkpoint_to_resume(run_dir)
    resumed_from_step = saved.global_step if saved is not None else 0
    consumed = ConsumedExamples(
        kept_ids,
        batches_per_step=config.gradient_accumulation_steps,
        previous=(read_members(resume_from) or []) if resume_from else [],
        resumed_from_step=resumed_from_step,
    )
    trainer = build_trainer(
        model,
        tokenizer,
        config,
        run_dir,
        train,
        validation,
        padding_free=padding_free,
        precision=precision,
        peft_config=peft_config,
        callbacks=[throttled_progress(progress, progress_interval)] if progress else None,
    )
    loss_before = float(trainer.evaluate()["eval_loss"])
    lengths = [token_length(tokenizer, record["messages"], None) for record in train]
    plan = replace(plan_run(trainer, config, run_dir, lengths), precision=precision.name)
    if on_plan is not None:
        on_plan(plan)
    # Recorded from here: the plan's probe batches are measured, not trained on.
    trainer.consumed = consumed
    train_started = time.perf_counter()
    session_loss = _train_or_take_last_checkpoint(trainer, resume_from, saved, config)
    runtime = time.perf_counter() - train_started
    state = trainer.state
    history = loss_history(state.log_history, loss_before)
    loss_after = float(trainer.evaluate()["eval_loss"])
    train_loss = _finite_train_loss(session_loss, history, loss_after, config)

    with finished_adapter_folder(out_dir, key) as folder:
        trainer.save_model(str(folder))
        best_step = None
        if config.eval_steps and state.best_model_checkpoint:
            best_step = int(Path(state.best_model_checkpoint).name.split("-")[-1])
        # The saved adapter is the best one when kept: its members are that step's.
        consumed.write(folder, int(state.global_step) if best_step is None else best_step)
        result = StageResult(
            stage=config.name,
            adapter_dir=str((out_dir / key).resolve()),
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
            batching=batching,
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
        result.save(folder)
        (folder / LOSS_CURVE_FILE).write_bytes(render_loss_curve(history, config.name))
    return result


def _fit_splits(
    train: list[dict], validation: list[dict], train_ids: list[str], tokenizer, max_length: int
) -> tuple[BudgetFit, BudgetFit, list[str]]:
    """Both splits fitted into `max_length` tokens, and the ids of the training records kept.

    Contexts are trimmed from the left, so truncation never cuts a reply (and padding-free
    batches, which TRL does not truncate, stay within it). Each training record carries its
    row through the fitting, which may drop some.
    """
    train_fit = fit_records(
        [{**r, ROW_KEY: i} for i, r in enumerate(train)], tokenizer, max_length, "training"
    )
    validation_fit = fit_records(validation, tokenizer, max_length, "validation")
    kept_ids = [train_ids[r.pop(ROW_KEY)] for r in train_fit.records]
    return train_fit, validation_fit, kept_ids


def _batching(model, padding_free: bool) -> str:
    """How the stage batches its examples, in words, with the model's attention."""
    attention = str(getattr(model.config, "_attn_implementation", "") or "unknown")
    if padding_free:
        return f"padding-free ({attention} attention)"
    return f"length-grouped, padded ({attention} attention)"


def _adapter_to_train(model, previous_adapter_dir: Path | None, config: StageConfig):
    """The model with the previous stage's adapter loaded trainable (its LoRA settings win),
    or the base model and the LoRA settings of a new adapter."""
    if previous_adapter_dir is None:
        return model, lora_config(config)
    from peft import PeftModel

    return PeftModel.from_pretrained(model, str(previous_adapter_dir), is_trainable=True), None


def _train_or_take_last_checkpoint(
    trainer, resume_from: Path | None, saved, config: StageConfig
) -> float | None:
    """Train (resuming `resume_from`) and return this session's training loss; or, for a
    run that had reached its last step, take its checkpoint's adapter and return None."""
    if resume_from is not None and saved is not None and saved.global_step >= saved.max_steps:
        # Interrupted after its last checkpoint (while saving the adapter). Resuming would
        # train one step too many, so take the checkpoint (or the best one) as it is.
        load_finished_adapter(trainer, saved, resume_from, keep_best=config.eval_steps > 0)
        return None
    train_output = trainer.train(resume_from_checkpoint=str(resume_from) if resume_from else None)
    return float(train_output.training_loss)


def _finite_train_loss(
    session_loss: float | None, history: list[dict], loss_after: float, config: StageConfig
) -> float:
    """The run's training loss (the logged ones' mean when no session trained), or
    `TrainingDivergedError` when it or the validation loss is not finite."""
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
    return train_loss
