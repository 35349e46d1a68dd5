"""[dataset] Conversational, adaptive and burst chat examples with a leak-free split."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.conversations import ConversationProcessor
from astrabot_pipeline.dataset import EXAMPLE_KINDS, TrainingDataCreator
from astrabot_pipeline.defs.errors import redact_failures


class DatasetConfig(dg.Config):
    validation_fraction: float = 0.1
    max_context_turns: int = 6
    seed: int = 0


@dg.asset(
    group_name="dataset",
    kinds={"pandas", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("no_window_in_both_splits", asset="mixed_dataset", blocking=True),
    ],
)
@redact_failures
def mixed_dataset(config: DatasetConfig, anonymized_windows: pd.DataFrame):
    """Chat-format examples (owner = assistant) of three kinds, split train/validation by window."""
    creator = TrainingDataCreator(max_context_turns=config.max_context_turns)
    dynamics = ConversationProcessor().analyze_relationship_dynamics(
        anonymized_windows, text_column="text"
    )
    examples = creator.combine_datasets(
        creator.create_conversational_examples(anonymized_windows),
        creator.create_adaptive_examples(anonymized_windows, dynamics),
        creator.create_burst_examples(anonymized_windows),
        validation_fraction=config.validation_fraction,
        seed=config.seed,
    )
    counts = examples.groupby(["kind", "split"]).size()
    yield dg.Output(
        examples,
        metadata={
            "examples": len(examples),
            **{f"{kind}_{split}": int(n) for (kind, split), n in counts.items()},
        },
    )
    splits_per_window = examples.groupby("window_id")["split"].nunique()
    leaked = int((splits_per_window > 1).sum())
    every_kind_split = all(
        (kind, split) in counts.index for kind in EXAMPLE_KINDS for split in ("train", "validation")
    )
    yield dg.AssetCheckResult(
        check_name="no_window_in_both_splits",
        passed=leaked == 0 and every_kind_split,
        metadata={"windows_in_both_splits": leaked, "every_kind_in_both_splits": every_kind_split},
    )
