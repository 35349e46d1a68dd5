"""What the evaluation reads from the mixed dataset, in one place for the asset and the
benchmarks: the held-out sample, the training records, the replies ranking distractors
are drawn from, the texts authorship attribution learns from, and the records the
membership audit draws its members and non-members from."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from astrabot_pipeline.dataset import held_out_sample, records_from_frame
from astrabot_pipeline.evaluation.attribution import AttributionCorpus
from astrabot_pipeline.evaluation.membership_audit import AuditCandidates
from astrabot_pipeline.evaluation.ranking import ReplyPool


@dataclass(frozen=True)
class DatasetInputs:
    """The evaluation's inputs from one mixed dataset (records hold text: memory only)."""

    held_out: pd.DataFrame = field(repr=False)
    test_records: list[dict] = field(repr=False)
    train_records: list[dict] = field(repr=False)
    train_window_ids: list[Any] = field(repr=False)
    reply_pool: ReplyPool = field(repr=False)
    attribution_corpus: AttributionCorpus = field(repr=False)
    audit_candidates: AuditCandidates = field(repr=False)


def dataset_inputs(examples: pd.DataFrame, max_examples: int) -> DatasetInputs:
    """Up to `max_examples` test examples (`held_out_sample`) and what goes with them."""
    held_out = held_out_sample(examples, max_examples)
    train = examples[examples["split"] == "train"]
    train_records = records_from_frame(train, with_window=True)
    validation_and_test = examples[examples["split"].isin(["validation", "test"])]
    return DatasetInputs(
        held_out=held_out,
        test_records=records_from_frame(held_out, with_window=True),
        train_records=train_records,
        train_window_ids=train["window_id"].unique().tolist(),
        reply_pool=ReplyPool.from_records(
            records_from_frame(validation_and_test, with_window=True), train_records
        ),
        attribution_corpus=AttributionCorpus.from_records(
            train_records, records_from_frame(examples[examples["split"] == "test"])
        ),
        audit_candidates=AuditCandidates(
            records_from_frame(train, with_id=True),
            records_from_frame(examples[examples["split"] == "audit"]),
        ),
    )
