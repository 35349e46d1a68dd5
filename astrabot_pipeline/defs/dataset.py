"""[dataset] Conversational, adaptive and burst chat examples, split by window and time."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.conversations import one_to_one_threads
from astrabot_pipeline.data_layout import CANARIES, CANARY_RECORD, DATASET
from astrabot_pipeline.dataset import SPLITS, TrainingDataCreator, dataset_card, export_jsonl
from astrabot_pipeline.dataset.builder import DEFAULT_MAX_CONTEXT_CHARS, DEFAULT_MAX_CONTEXT_TURNS
from astrabot_pipeline.dataset.canaries import (
    DEFAULT_CANARY_COUNT,
    PlantedCanary,
    plant_canaries,
    write_canaries,
)
from astrabot_pipeline.dataset.filters import DEFAULT_TRIVIAL_CAP, textless_owner_messages
from astrabot_pipeline.dataset.split import (
    DEFAULT_AUDIT_FRACTION,
    DEFAULT_CONTACT_AUDIT_FRACTION,
    DEFAULT_CONTACT_AUDIT_MIN_REPLIES,
    DEFAULT_MAX_TEST_FRACTION,
    DEFAULT_MIN_TEST_EXAMPLES,
    DEFAULT_MIN_TEST_FROM_REPLIES,
    DEFAULT_TEST_FRACTION,
    DEFAULT_VALIDATION_FRACTION,
    AuditSlice,
    ContactAudit,
    TestSliceSize,
)
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.privacy import require_passed_privacy_gate
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.history_origin import is_generated_demo_history


class DatasetConfig(dg.Config):
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    test_fraction: float = DEFAULT_TEST_FRACTION
    # A long history's test slice grows to min_test_examples (from min_test_from_replies
    # owner replies on), never past max_test_fraction of the windows (dataset/split.py).
    min_test_examples: int = DEFAULT_MIN_TEST_EXAMPLES
    min_test_from_replies: int = DEFAULT_MIN_TEST_FROM_REPLIES
    max_test_fraction: float = DEFAULT_MAX_TEST_FRACTION
    # The membership audit's non-members: this fraction of the windows, drawn at random
    # from the training windows and trained on by no stage (0: no audit slice).
    audit_fraction: float = DEFAULT_AUDIT_FRACTION
    # The contact-level audit (were my friend's chats used?): holds out every window of a
    # random contact_audit_fraction of the contacts whose one-to-one chat holds
    # contact_audit_min_replies or more owner replies, so the shipped adapter never learns
    # those chats. Unset (auto): on for the generated demo only; true or false decides.
    privacy_audit: bool | None = None
    contact_audit_fraction: float = DEFAULT_CONTACT_AUDIT_FRACTION
    contact_audit_min_replies: int = DEFAULT_CONTACT_AUDIT_MIN_REPLIES
    max_context_turns: int = DEFAULT_MAX_CONTEXT_TURNS
    max_context_chars: int = DEFAULT_MAX_CONTEXT_CHARS
    trivial_reply_cap: float = DEFAULT_TRIVIAL_CAP
    seed: int = 0
    # Memorization canaries for the evaluation (dataset/canaries.py). Unset (auto): planted
    # only in the generated demo history (history_origin.py), so a user's own model learns
    # only their chats; true or false decides for any history.
    plant_canaries: bool | None = None
    canary_count: int = DEFAULT_CANARY_COUNT


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
    relationship_dynamics: pd.DataFrame,
    window_profiles: pd.DataFrame,
):
    """Chat-format examples (owner = assistant) of three families, split train / validation /
    test by window and time; also written as JSON lines under `dataset/`. Refused unless
    the anonymized windows it reads passed their privacy gate."""
    require_passed_privacy_gate(context.instance)
    contact_audit = config.privacy_audit
    if contact_audit is None:
        contact_audit = is_generated_demo_history(paths.root())
    creator = TrainingDataCreator(
        max_context_turns=config.max_context_turns, max_context_chars=config.max_context_chars
    )
    mixed = creator.combine(
        *creator.all_families(anonymized_windows, relationship_dynamics, window_profiles),
        validation_fraction=config.validation_fraction,
        test_fraction=config.test_fraction,
        trivial_cap=config.trivial_reply_cap,
        seed=config.seed,
        test_slice=TestSliceSize(
            min_examples=config.min_test_examples,
            from_owner_replies=config.min_test_from_replies,
            max_fraction=config.max_test_fraction,
        ),
        audit=AuditSlice(config.audit_fraction, seed=config.seed),
        contact_audit=ContactAudit(
            config.contact_audit_fraction, config.contact_audit_min_replies, seed=config.seed
        )
        if contact_audit
        else None,
        one_to_one_threads=one_to_one_threads(relationship_dynamics),
    )
    examples = mixed.examples
    record = paths.sub(CANARIES, CANARY_RECORD)
    planted: list[PlantedCanary] = []
    plant = config.plant_canaries
    if plant is None:
        plant = is_generated_demo_history(paths.root())
    if plant:
        examples, planted = plant_canaries(examples, count=config.canary_count, seed=config.seed)
        write_canaries(record, planted)
        context.log.info(f"planted {len(planted)} memorization canaries in training examples")
    else:
        record.unlink(missing_ok=True)  # a record of canaries this dataset does not hold
    exported = export_jsonl(examples, paths.sub(DATASET))
    for kind, reason in mixed.skipped_families.items():
        context.log.warning(f"family {kind} is too small to train and is skipped: {reason}")
    if mixed.no_audit_reason is not None:
        context.log.info(f"no membership audit slice: {mixed.no_audit_reason}")
    if mixed.no_contact_audit_reason is not None:
        context.log.info(f"no contact-level audit: {mixed.no_contact_audit_reason}")
    audit_windows = int(examples.loc[examples["split"] == "audit", "window_id"].nunique())
    counts = examples.groupby(["kind", "split"]).size()
    filtered = mixed.filtered
    yield dg.Output(
        examples,
        metadata={
            "examples": len(examples),
            "windows": mixed.windows,
            **{f"{kind}_{split}": int(n) for (kind, split), n in counts.items()},
            **{
                f"dropped_{reason}": count
                for reason, count in textless_owner_messages(anonymized_windows).items()
            },
            "dropped_link_only": sum(filtered.link_only.values()),
            "dropped_duplicates": sum(filtered.duplicates.values()),
            "dropped_trivial_over_cap": sum(filtered.trivial_capped.values()),
            "families_skipped": len(mixed.skipped_families),
            "audit_windows": audit_windows,
            "audit_contacts_held_out": mixed.held_out_contacts,
            "no_contact_audit_reason": mixed.no_contact_audit_reason or "",
            "no_audit_reason": mixed.no_audit_reason or "",
            "canaries_planted": len(planted),
            "jsonl": dg.MetadataValue.path(str(paths.sub(DATASET))),
            "jsonl_files": len(exported),
            "dataset_card": dg.MetadataValue.md(
                dataset_card(
                    examples,
                    mixed.skipped_families,
                    mixed.no_audit_reason,
                    mixed.no_contact_audit_reason,
                )
            ),
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
