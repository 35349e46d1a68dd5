"""[training] Three LoRA stages, each resuming the previous stage's adapter.

conversational -> adaptive -> burst. The base model and the training defaults come from
the model profile ASTRABOT_MODEL_PROFILE names (tiny, tiny-qwen3, small: the default,
qwen; see training/profiles.py); the first stage's `base_model` can name any local path
or cached hub id instead, and every other setting left unset takes the profile's value.
How long each stage trains is the `training` resource's budget (training/budget.py), one
setting for all stages; a stage's own `max_steps` wins over it.
"""

import base64
from dataclasses import asdict, replace
from pathlib import Path
from typing import TypedDict

import dagster as dg
import pandas as pd

from astrabot_pipeline.dataset import reply_line_cap
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources.paths import ACCELERATOR_POOL, AstrabotPathsResource
from astrabot_pipeline.defs.resources.training import TrainingResource
from astrabot_pipeline.history_origin import is_generated_demo_history
from astrabot_pipeline.training import (
    CURRICULUM,
    CurriculumStage,
    StageResult,
    device_summary,
    train_lora_stage,
)
from astrabot_pipeline.training.loss_plot import LOSS_CURVE_FILE
from astrabot_pipeline.training.run_plan import RunPlan, actual_figures
from astrabot_pipeline.training.stage_plan import (
    single_adapter_examples,
    stage_base_model,
    stage_examples,
    stage_profile,
)


class LoraStageConfig(dg.Config):
    """Per-stage settings in the UI. Unset (None) means the model profile's default."""

    base_model: str | None = None  # a local path or cached hub id; first stage only
    # Set, it wins over the training budget (the `training` resource) for this stage.
    max_steps: int | None = None
    learning_rate: float | None = None
    warmup_ratio: float | None = None
    lora_r: int | None = None
    lora_alpha: int | None = None
    lora_dropout: float | None = None
    lora_target_modules: list[str] | None = None
    batch_size: int | None = None
    gradient_accumulation_steps: int | None = None
    max_length: int | None = None
    # "auto": bf16 on a CPU with bf16 instructions (and a wide enough model), else fp32;
    # "bf16" or "fp32" force it (training/precision.py). A GPU follows its hardware.
    precision: str | None = None
    seed: int = 0


def _materialize_stage(
    stage: CurriculumStage,
    context: dg.AssetExecutionContext,
    config: LoraStageConfig,
    paths: AstrabotPathsResource,
    training: TrainingResource,
    mixed_dataset: pd.DataFrame,
    previous_stage: StageResult | None,
):
    """Train one stage (or pass the previous adapter on), then yield its output and check."""
    name = stage.name
    single = training.curriculum == "single"
    if single and previous_stage is not None:
        yield from _skipped_stage(
            stage,
            context,
            previous_stage,
            f"curriculum single: {CURRICULUM[0].name} trained one adapter on every family",
        )
        return
    profile = stage_profile(previous_stage.profile if previous_stage else None)
    profile.check_hardware()  # before any work: the qwen profile needs a CUDA GPU
    hardware = device_summary()
    context.log.info(f"{name}: model profile {profile.name!r} on {hardware['description']}")
    base = stage_base_model(
        profile,
        previous_base=previous_stage.base_model if previous_stage else None,
        configured_base=config.base_model,
        models_dir=paths.sub("models"),
        examples=mixed_dataset,
        seed=config.seed,
    )
    budget = training.train_budget(generated_demo=is_generated_demo_history(paths.root()))
    overrides = config.model_dump(exclude={"base_model"})
    if config.max_steps is not None:
        context.log.info(f"{name}: max_steps {config.max_steps} (wins over budget {budget})")
    elif single:
        overrides.update(budget.single_adapter_overrides(profile.max_steps, len(CURRICULUM)))
        context.log.info(f"{name}: curriculum single, the chain's total budget ({budget})")
    else:
        overrides.update(budget.stage_overrides())
        context.log.info(f"{name}: training budget {budget}")
    stage_config = profile.stage_config(name, **overrides)
    if single:
        train, validation = single_adapter_examples(mixed_dataset, profile, seed=config.seed)
    else:
        train, validation = stage_examples(mixed_dataset, stage.family, profile)
    if previous_stage and not (train and validation):
        # mixed_dataset skipped this family (too small to split): the chain goes on with
        # the previous stage's adapter, and this stage says so.
        yield from _skipped_stage(
            stage,
            context,
            previous_stage,
            f"the dataset has no {stage.family} examples to train and validate on (the "
            "family was too small to split)",
        )
        return
    result = train_lora_stage(
        base,
        train,
        validation,
        paths.sub("models", name),
        stage_config,
        previous_adapter_dir=Path(previous_stage.adapter_dir) if previous_stage else None,
        progress=lambda update: context.log.info(f"{name}: {update}"),
        profile=profile.name,
        on_plan=lambda plan: context.log.info(f"{name}: {plan.describe()}"),
        reply_line_cap=reply_line_cap(mixed_dataset),
    )
    context.log.info(
        f"{name}: validation loss {result.validation_loss_before:.4f} -> "
        f"{result.validation_loss_after:.4f} in {result.steps} steps"
    )
    yield dg.Output(
        result,
        metadata={
            "adapter_dir": dg.MetadataValue.path(str(result.adapter_dir)),
            "model_profile": profile.name,
            "base_model": str(base),
            "hardware": hardware["description"],
            "stage_config": dg.MetadataValue.json(
                {k: v for k, v in asdict(stage_config).items() if k != "name"}
            ),
            "train_loss": result.train_loss,
            "validation_loss_before": result.validation_loss_before,
            "validation_loss_after": result.validation_loss_after,
            "steps": result.steps,
            "seconds": round(result.seconds, 2),
            "train_examples": result.train_examples,
            "validation_examples": result.validation_examples,
            "tokens_seen": result.tokens_seen,
            "precision": result.precision_reason or result.precision,
            "runtime_seconds": round(result.runtime_seconds, 2),
            "best_step": result.best_step,
            "reply_line_cap": result.reply_line_cap,
            "resumed_from_step": result.resumed_from_step,
            "training_budget": str(budget) if config.max_steps is None else "max_steps",
            "curriculum": training.curriculum,
            **_plan_metadata(result),
            "loss_curve": dg.MetadataValue.table(
                records=[dg.TableRecord(row) for row in _plottable(result.loss_history)],
                schema=LOSS_CURVE_SCHEMA,
            ),
            **_loss_curve_image(Path(result.adapter_dir)),
        },
    )
    yield dg.AssetCheckResult(
        check_name="validation_loss_improved",
        passed=bool(result.validation_loss_after < result.validation_loss_before),
        metadata={
            "validation_loss_before": result.validation_loss_before,
            "validation_loss_after": result.validation_loss_after,
        },
    )


def _plan_metadata(result: StageResult) -> dict[str, float]:
    """The plan made before the first step beside what the stage did (numbers only)."""
    if not result.plan:  # a result reused from before plans were recorded
        return {}
    plan = RunPlan.from_dict(result.plan)
    return actual_figures(plan, result.steps, result.tokens_seen, result.runtime_seconds)


LOSS_CURVE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("step", "int"),
        dg.TableColumn("train_loss", "float"),
        dg.TableColumn("validation_loss", "float"),
    ]
)


def _plottable(history: list[dict]) -> list[dict]:
    """Loss history rows (step 0: before training); a loss not measured at a step is None."""
    return [
        {
            "step": int(row["step"]),
            "train_loss": row.get("train_loss"),
            "validation_loss": row.get("validation_loss"),
        }
        for row in history
    ]


def _loss_curve_image(adapter_dir: Path) -> dict[str, dg.MetadataValue]:
    """The stage's loss-curve PNG inline in Markdown metadata (the UI renders it)."""
    image = adapter_dir / LOSS_CURVE_FILE
    if not image.is_file():  # adapters trained before the plot existed
        return {}
    encoded = base64.b64encode(image.read_bytes()).decode("ascii")
    return {
        "loss_curve_plot": dg.MetadataValue.md(f"![loss curve](data:image/png;base64,{encoded})")
    }


def _skipped_stage(
    stage: CurriculumStage,
    context: dg.AssetExecutionContext,
    previous_stage: StageResult,
    why: str,
):
    context.log.warning(f"{stage.name}: {why}; passing the previous stage's adapter on unchanged")
    yield dg.Output(
        replace(previous_stage, stage=stage.name, skipped=True),
        metadata={
            "skipped": True,
            "adapter_dir": dg.MetadataValue.path(previous_stage.adapter_dir),
        },
    )
    yield dg.AssetCheckResult(
        check_name="validation_loss_improved",
        passed=True,
        metadata={"skipped": True},
        description=f"Skipped ({why}): the previous stage's adapter is kept.",
    )


class _StageAssetArgs(TypedDict):
    """The `dg.asset` arguments every stage asset shares."""

    name: str
    group_name: str
    kinds: set[str]
    description: str
    check_specs: list[dg.AssetCheckSpec]
    pool: str


def _lora_stage(stage: CurriculumStage) -> dg.AssetsDefinition:
    """One stage asset; stages after the first take the previous stage's result as input."""
    name, previous = stage.name, stage.previous
    spec = _StageAssetArgs(
        name=name,
        group_name="training",
        kinds={"pytorch", "python"},
        description=f"LoRA adapter trained on the {stage.family} examples"
        + (f", resuming {previous}." if previous else ", from the base model."),
        check_specs=[dg.AssetCheckSpec("validation_loss_improved", asset=name)],
        pool=ACCELERATOR_POOL,
    )
    if previous is None:

        @dg.asset(**spec)
        @redact_failures
        def _first_stage(
            context: dg.AssetExecutionContext,
            config: LoraStageConfig,
            paths: AstrabotPathsResource,
            training: TrainingResource,
            mixed_dataset: pd.DataFrame,
        ):
            yield from _materialize_stage(
                stage, context, config, paths, training, mixed_dataset, None
            )

        return _first_stage

    @dg.asset(ins={"previous_stage": dg.AssetIn(previous)}, **spec)
    @redact_failures
    def _next_stage(
        context: dg.AssetExecutionContext,
        config: LoraStageConfig,
        paths: AstrabotPathsResource,
        training: TrainingResource,
        mixed_dataset: pd.DataFrame,
        previous_stage: StageResult,
    ):
        yield from _materialize_stage(
            stage, context, config, paths, training, mixed_dataset, previous_stage
        )

    return _next_stage


# A list: Dagster loads the assets in a module-level list, one per curriculum stage.
STAGE_ASSETS = [_lora_stage(stage) for stage in CURRICULUM]
