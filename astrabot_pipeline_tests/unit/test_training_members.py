"""The record of which examples a stage trained on: cut to completed steps, continued across
a resume, and never claiming an example it cannot vouch for."""

from __future__ import annotations

import json

from astrabot_pipeline.training.members import (
    MEMBERS_FILE,
    ConsumedExamples,
    member_ids,
    read_members,
)


class FakeDataset:
    def __getitems__(self, indices):
        return [{"row": i} for i in indices]


def fetch(consumed: ConsumedExamples, batches: list[list[int]]) -> None:
    dataset = FakeDataset()
    consumed.hook(dataset)
    consumed.hook(dataset)  # a second hook of the same dataset records nothing twice
    for batch in batches:
        assert dataset.__getitems__(batch) == [{"row": i} for i in batch]


def test_only_the_batches_of_completed_steps_count_not_the_one_fetched_ahead():
    consumed = ConsumedExamples(["a", "b", "c", "d", "e", "f"], batches_per_step=2)
    fetch(consumed, [[0, 1], [2, 3], [4, 5]])  # two batches make step 1; one fetched ahead
    assert consumed.consumed(1) == [["a", "b"], ["c", "d"]]
    assert consumed.consumed(0) == []


def test_a_resumed_run_continues_its_checkpoints_record(tmp_path):
    first = ConsumedExamples(["a", "b", "c", "d"], batches_per_step=1)
    fetch(first, [[3], [1], [0]])
    first.write(tmp_path, 2)
    assert read_members(tmp_path) == [["d"], ["b"]]
    resumed = ConsumedExamples(
        ["a", "b", "c", "d"],
        batches_per_step=1,
        previous=read_members(tmp_path) or [],
        resumed_from_step=2,
    )
    fetch(resumed, [[0], [2]])  # the skipped batches are not fetched again
    assert resumed.consumed(4) == [["d"], ["b"], ["a"], ["c"]]
    # The kept adapter of an earlier step is cut from the record.
    assert resumed.consumed(1) == [["d"]]
    resumed.write(tmp_path, 4)
    payload = json.loads((tmp_path / MEMBERS_FILE).read_text())
    assert payload["distinct"] == 4 and payload["step"] == 4
    assert member_ids(tmp_path) == {"a", "b", "c", "d"}


def test_an_earlier_attempt_without_a_record_leaves_those_members_out_never_wrong_ones():
    resumed = ConsumedExamples(["a", "b", "c"], batches_per_step=1, resumed_from_step=2)
    fetch(resumed, [[2]])
    assert resumed.consumed(3) == [["c"]]
    assert resumed.consumed(1) == []  # cannot say which batch step 1 trained on


def test_an_unreadable_record_is_no_record(tmp_path):
    assert read_members(tmp_path) is None
    (tmp_path / MEMBERS_FILE).write_text('{"batches": [[1, 2]]}')
    assert read_members(tmp_path) is None and member_ids(tmp_path) == set()
    (tmp_path / MEMBERS_FILE).write_text("not json")
    assert read_members(tmp_path) is None
