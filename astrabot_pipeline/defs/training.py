"""[training] Three LoRA stages, each resuming the previous stage's adapter.

conversational -> adaptive -> burst. The base model is the tiny local Qwen-architecture
model by default (built from the anonymized training text only) or any local path /
hub id, loaded in 4-bit when CUDA is present.
"""

from pathlib import Path

import dagster as dg
import pandas as pd

from astrabot_pipeline.dataset import records_from_frame
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources import AstrabotPathsResource
from astrabot_pipeline.training import (
    StageConfig,
    build_tiny_base_model,
    train_lora_stage,
)

TINY_BASE_MODEL = "tiny"
STAGES = (
    ("lora_stage_1_conversational", "conversational", None),
    ("lora_stage_2_adaptive", "adaptive", "lora_stage_1_conversational"),
    ("lora_stage_3_burst", "burst", "lora_stage_2_adaptive"),
)


class LoraStageConfig(dg.Config):
    """Per-stage settings in the UI; hyperparameter defaults are StageConfig's own."""

    base_model: str = TINY_BASE_MODEL
    max_steps: int = 200  # the demo trains longer than StageConfig's quick default
    learning_rate: float = StageConfig.learning_rate
    lora_r: int = StageConfig.lora_r
    lora_alpha: int = StageConfig.lora_alpha
    lora_dropout: float = StageConfig.lora_dropout
    batch_size: int = StageConfig.batch_size
    max_length: int = StageConfig.max_length
    seed: int = StageConfig.seed


def _split_records(examples: pd.DataFrame, kind: str, split: str) -> list[dict]:
    return records_from_frame(examples[(examples["kind"] == kind) & (examples["split"] == split)])


def _base_model_path(config: LoraStageConfig, examples: pd.DataFrame, paths) -> str:
    if config.base_model != TINY_BASE_MODEL:
        return config.base_model
    train = examples[examples["split"] == "train"]
    texts = [m["content"] for messages in train["messages"] for m in messages]
    return str(build_tiny_base_model(texts, paths.sub("models", "base-tiny"), seed=config.seed))


def _run_stage(
    name: str,
    kind: str,
    context: dg.AssetExecutionContext,
    config: LoraStageConfig,
    paths: AstrabotPathsResource,
    mixed_dataset: pd.DataFrame,
    previous_stage: dict | None,
):
    base = previous_stage["base_model"] if previous_stage else None
    base = base or _base_model_path(config, mixed_dataset, paths)
    result = train_lora_stage(
        base,
        _split_records(mixed_dataset, kind, "train"),
        _split_records(mixed_dataset, kind, "validation"),
        paths.sub("models", name),
        StageConfig(name=name, **config.model_dump(exclude={"base_model"})),
        previous_adapter_dir=Path(previous_stage["adapter_dir"]) if previous_stage else None,
    )
    manifest = result.to_dict()
    manifest["base_model"] = str(base)
    context.log.info(
        f"{name}: validation loss {result.validation_loss_before:.4f} -> "
        f"{result.validation_loss_after:.4f} in {result.steps} steps"
    )
    yield dg.Output(
        manifest,
        metadata={
            "adapter_dir": dg.MetadataValue.path(str(result.adapter_dir)),
            "train_loss": result.train_loss,
            "validation_loss_before": result.validation_loss_before,
            "validation_loss_after": result.validation_loss_after,
            "steps": result.steps,
            "seconds": round(result.seconds, 2),
            "train_examples": result.train_examples,
            "validation_examples": result.validation_examples,
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


def _lora_stage(name: str, kind: str, previous: str | None) -> dg.AssetsDefinition:
    """One stage asset; stages after the first take the previous stage's manifest as input."""
    spec = dict(
        name=name,
        group_name="training",
        kinds={"pytorch", "python"},
        description=f"LoRA adapter trained on the {kind} examples"
        + (f", resuming {previous}." if previous else ", from the base model."),
        check_specs=[dg.AssetCheckSpec("validation_loss_improved", asset=name)],
    )
    if previous is None:

        @dg.asset(**spec)
        @redact_failures
        def _first_stage(
            context: dg.AssetExecutionContext,
            config: LoraStageConfig,
            paths: AstrabotPathsResource,
            mixed_dataset: pd.DataFrame,
        ):
            yield from _run_stage(name, kind, context, config, paths, mixed_dataset, None)

        return _first_stage

    @dg.asset(ins={"previous_stage": dg.AssetIn(previous)}, **spec)
    @redact_failures
    def _next_stage(
        context: dg.AssetExecutionContext,
        config: LoraStageConfig,
        paths: AstrabotPathsResource,
        mixed_dataset: pd.DataFrame,
        previous_stage: dict,
    ):
        yield from _run_stage(name, kind, context, config, paths, mixed_dataset, previous_stage)

    return _next_stage


lora_stage_1_conversational, lora_stage_2_adaptive, lora_stage_3_burst = (
    _lora_stage(name, kind, previous) for name, kind, previous in STAGES
)
