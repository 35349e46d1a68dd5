"""What a curriculum stage trains from: profile, base model and examples (training/stage_plan.py)."""

from __future__ import annotations

import dataclasses

import pandas as pd

from astrabot_pipeline.settings import MODEL_PROFILE_ENV
from astrabot_pipeline.training import get_model_profile
from astrabot_pipeline.training.stage_plan import (
    stage_base_model,
    stage_examples,
    stage_profile,
    training_texts,
)


def _examples() -> pd.DataFrame:
    rows = []
    for kind in ("conversational", "burst"):
        for split, count in (("train", 3), ("validation", 40), ("test", 2)):
            for index in range(count):
                rows.append(
                    {
                        "example_id": f"{kind}:{split}-{index}",
                        "kind": kind,
                        "split": split,
                        "messages": [
                            {"role": "user", "content": f"{kind} {split} {index} q"},
                            {"role": "assistant", "content": f"{kind} {split} {index} a"},
                        ],
                    }
                )
    return pd.DataFrame(rows)


def test_the_chain_keeps_the_profile_it_started_with(monkeypatch):
    monkeypatch.setenv(MODEL_PROFILE_ENV, "tiny")
    assert stage_profile(None).name == "tiny"
    assert stage_profile("small").name == "small"  # the variable changed mid-chain: ignored


def test_the_base_model_is_the_previous_stages_then_the_configured_then_the_profiles(tmp_path):
    made: list[tuple[list[str], int]] = []

    def make(models_dir, texts, seed):
        made.append((list(texts), seed))
        return str(models_dir / "made")

    profile = dataclasses.replace(get_model_profile("tiny"), make_base_model=make)
    examples = _examples()
    common = {"models_dir": tmp_path, "examples": examples, "seed": 3}
    assert stage_base_model(profile, previous_base="prev", configured_base="cfg", **common) == (
        "prev"
    )
    assert stage_base_model(profile, previous_base=None, configured_base="cfg", **common) == "cfg"
    assert not made
    assert stage_base_model(profile, previous_base=None, configured_base=None, **common) == str(
        tmp_path / "made"
    )
    texts, seed = made[0]
    assert seed == 3
    # The tokenizer sees the training split only, every family, both roles.
    assert len(texts) == 2 * 3 * 2
    assert all(" train " in text for text in texts)


def test_a_stage_gets_its_familys_rows_and_at_most_the_profiles_validation_cap():
    examples = _examples()
    small = get_model_profile("small")
    assert small.max_validation_examples == 16
    train, validation = stage_examples(examples, "burst", small)
    assert len(train) == 3 and len(validation) == 16
    assert all(r["messages"][0]["content"].startswith("burst train") for r in train)
    # Each record names its example, so the stage can record which ones it trained on.
    assert [r["example_id"] for r in train] == [f"burst:train-{i}" for i in range(3)]
    uncapped = dataclasses.replace(small, max_validation_examples=None)
    assert len(stage_examples(examples, "conversational", uncapped)[1]) == 40
    assert stage_examples(examples, "adaptive", small) == ([], [])
    assert len(list(training_texts(examples))) == 12


def test_a_single_adapter_trains_on_the_shuffled_union_of_the_families():
    from astrabot_pipeline.training.stage_plan import single_adapter_examples

    profile = dataclasses.replace(get_model_profile("tiny"), max_validation_examples=None)
    train, validation = single_adapter_examples(_examples(), profile, seed=1)
    kinds = [record["messages"][0]["content"].split()[0] for record in train]
    assert sorted(kinds) == ["burst"] * 3 + ["conversational"] * 3
    assert kinds not in (sorted(kinds), sorted(kinds, reverse=True))  # families interleave
    assert len(validation) == 80
    assert single_adapter_examples(_examples(), profile, seed=1) == (train, validation)


def test_a_single_adapter_gets_the_chains_total_budget():
    from astrabot_pipeline.training.budget import TrainBudget

    assert TrainBudget("demo").single_adapter_overrides(40, 3) == {"max_steps": 120}
    assert TrainBudget("epochs", 2).single_adapter_overrides(40, 3) == {"num_train_epochs": 2}
    assert TrainBudget("minutes", 10).single_adapter_overrides(40, 3) == {"max_minutes": 30}
