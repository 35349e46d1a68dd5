"""What the evaluation reads from the mixed dataset, in one place for the asset and the
benchmarks: the held-out sample, the training records, the replies ranking distractors
are drawn from, the texts authorship attribution learns from, and the records the
membership audit draws its members and non-members from."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from astrabot_pipeline.dataset import held_out_sample, records_from_frame
from astrabot_pipeline.evaluation.privacy.contact_audit import Contact
from astrabot_pipeline.evaluation.privacy.membership_audit import AuditCandidates
from astrabot_pipeline.evaluation.quality.attribution import AttributionCorpus
from astrabot_pipeline.evaluation.quality.ranking import ReplyPool


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
    contacts: dict[Any, Contact] = field(repr=False, default_factory=dict)


def dataset_inputs(
    examples: pd.DataFrame, max_examples: int, one_to_one_threads: Collection[Any] = ()
) -> DatasetInputs:
    """Up to `max_examples` test examples (`held_out_sample`) and what goes with them;
    the contact-level audit's contacts are the `one_to_one_threads`."""
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
        contacts=contacts(examples, one_to_one_threads),
    )


def contacts(examples: pd.DataFrame, one_to_one_threads: Collection[Any]) -> dict[Any, Contact]:
    """Each one-to-one thread as a `Contact`: held out or not, its training examples' ids,
    and its conversational examples (one per owner reply) as records with their ids."""
    found = {}
    for thread, rows in examples[examples["thread_id"].isin(list(one_to_one_threads))].groupby(
        "thread_id", sort=True
    ):
        replies = rows[rows["kind"] == "conversational"]
        found[thread] = Contact(
            held_out=bool((rows["split"] == "contact_audit").any()),
            training_ids=frozenset(rows.loc[rows["split"] == "train", "example_id"].astype(str)),
            records=records_from_frame(replies, with_id=True),
        )
    return found
