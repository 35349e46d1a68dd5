"""[training] Three LoRA stages, each resuming the previous stage's adapter.

conversational -> adaptive -> burst. The base model and the training defaults come from
the model profile ASTRABOT_MODEL_PROFILE names (tiny, tiny-qwen3, small: the default,
qwen; see training/profiles.py); the first stage's `base_model` can name any local path
or cached hub id instead, and every other setting left unset takes the profile's value.
How long each stage trains is the `training` resource's budget (training/budget.py), one
setting for all stages; a stage's own `max_steps` wins over it.
"""

from collections.abc import Callable
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any, TypedDict

import dagster as dg
import pandas as pd

from astrabot_pipeline.data_layout import MODELS
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
        models_dir=paths.sub(MODELS),
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
        paths.sub(MODELS, name),
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
            **_dagster_metadata(result.to_metadata()),
            "model_profile": profile.name,
            "base_model": str(base),
            "hardware": hardware["description"],
            "stage_config": dg.MetadataValue.json(
                {k: v for k, v in asdict(stage_config).items() if k != "name"}
            ),
            "training_budget": str(budget) if config.max_steps is None else "max_steps",
            "curriculum": training.curriculum,
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


LOSS_CURVE_SCHEMA = dg.TableSchema(
    columns=[
        dg.TableColumn("step", "int"),
        dg.TableColumn("train_loss", "float"),
        dg.TableColumn("validation_loss", "float"),
    ]
)


def _loss_curve_table(rows: list[dict]) -> dg.MetadataValue:
    return dg.MetadataValue.table(
        records=[dg.TableRecord(row) for row in rows], schema=LOSS_CURVE_SCHEMA
    )


# The figures of `StageResult.to_metadata()` that the UI shows as more than plain values.
_METADATA_KINDS: dict[str, Callable[[Any], dg.MetadataValue]] = {
    "adapter_dir": dg.MetadataValue.path,
    "loss_curve": _loss_curve_table,
    "loss_curve_plot": dg.MetadataValue.md,
}


def _dagster_metadata(figures: dict[str, Any]) -> dict[str, Any]:
    """A stage result's figures as Dagster metadata: the adapter as a path, the loss curve
    as a table the UI plots, its image as Markdown; every other value as it is."""
    return {
        key: _METADATA_KINDS[key](value) if key in _METADATA_KINDS else value
        for key, value in figures.items()
    }


def _skipped_stage(
    stage: CurriculumStage,
    context: dg.AssetExecutionContext,
    previous_stage: StageResult,
    why: str,
):
    context.log.warning(f"{stage.name}: {why}; passing the previous stage's adapter on unchanged")
    skipped = replace(previous_stage, stage=stage.name, skipped=True)
    yield dg.Output(skipped, metadata=_dagster_metadata(skipped.to_metadata()))
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
