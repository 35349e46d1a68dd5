"""[dataset] Conversational, adaptive and burst chat examples, split by window and time."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.conversations import ConversationProcessor
from astrabot_pipeline.dataset import SPLITS, TrainingDataCreator, dataset_card, export_jsonl
from astrabot_pipeline.dataset.builder import DEFAULT_MAX_CONTEXT_CHARS
from astrabot_pipeline.dataset.filters import DEFAULT_TRIVIAL_CAP
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources import AstrabotPathsResource


class DatasetConfig(dg.Config):
    validation_fraction: float = 0.1
    test_fraction: float = 0.1
    max_context_turns: int = 6
    max_context_chars: int = DEFAULT_MAX_CONTEXT_CHARS
    trivial_reply_cap: float = DEFAULT_TRIVIAL_CAP
    seed: int = 0


@dg.asset(
    group_name="dataset",
    kinds={"pandas", "parquet"},
    check_specs=[
        dg.AssetCheckSpec("no_window_in_both_splits", asset="mixed_dataset", blocking=True),
        dg.AssetCheckSpec("every_family_trainable", asset="mixed_dataset"),
    ],
)
@redact_failures
def mixed_dataset(
    context: dg.AssetExecutionContext,
    config: DatasetConfig,
    paths: AstrabotPathsResource,
    anonymized_windows: pd.DataFrame,
):
    """Chat-format examples (owner = assistant) of three families, split train / validation /
    test by window and time; also written as JSON lines under `dataset/`."""
    creator = TrainingDataCreator(
        max_context_turns=config.max_context_turns, max_context_chars=config.max_context_chars
    )
    dynamics = ConversationProcessor().analyze_relationship_dynamics(
        anonymized_windows, text_column="text"
    )
    mixed = creator.combine(
        creator.create_conversational_examples(anonymized_windows),
        creator.create_adaptive_examples(anonymized_windows, dynamics),
        creator.create_burst_examples(anonymized_windows),
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        trivial_cap=config.trivial_reply_cap,
        seed=config.seed,
    )
    examples = mixed.examples
    exported = export_jsonl(examples, paths.sub("dataset"))
    for kind, reason in mixed.skipped_families.items():
        context.log.warning(f"family {kind} is too small to train and is skipped: {reason}")
    counts = examples.groupby(["kind", "split"]).size()
    filtered = mixed.filtered
    yield dg.Output(
        examples,
        metadata={
            "examples": len(examples),
            "windows": mixed.windows,
            **{f"{kind}_{split}": int(n) for (kind, split), n in counts.items()},
            "dropped_link_only": sum(filtered.link_only.values()),
            "dropped_duplicates": sum(filtered.duplicates.values()),
            "dropped_trivial_over_cap": sum(filtered.trivial_capped.values()),
            "families_skipped": len(mixed.skipped_families),
            "jsonl": dg.MetadataValue.path(str(paths.sub("dataset"))),
            "jsonl_files": len(exported),
            "dataset_card": dg.MetadataValue.md(dataset_card(examples, mixed.skipped_families)),
        },
    )
    splits_per_window = examples.groupby("window_id")["split"].nunique()
    leaked = int((splits_per_window > 1).sum())
    yield dg.AssetCheckResult(
        check_name="no_window_in_both_splits",
        passed=leaked == 0 and set(examples["split"]) <= set(SPLITS),
        metadata={"windows_in_two_splits": leaked},
    )
    yield dg.AssetCheckResult(
        check_name="every_family_trainable",
        passed=not mixed.skipped_families,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"families_skipped": len(mixed.skipped_families)},
    )
