import json

import pandas as pd
import pytest

from astrabot_pipeline.conversations import (
    ConversationProcessor,
    build_window_profiles,
    relationship_dynamics,
)
from astrabot_pipeline.dataset import (
    HistoryTooThinError,
    TrainingDataCreator,
    assign_splits,
    dataset_card,
    export_jsonl,
    filter_examples,
    held_out_sample,
    records_from_frame,
)
from astrabot_pipeline.dataset.split import AuditSlice, ContactAudit
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline_tests.conftest import make_messages


def _windows(n_windows: int = 30, reply: str = "sure", threads: int = 3) -> pd.DataFrame:
    rows = []
    for w in range(n_windows):
        start = w * 10_000
        thread = 1 + w % threads
        rows += [
            (thread, 2, False, start, f"question {w}?"),
            (thread, 1, True, start + 30, f"{reply} {w}"),
            (thread, 1, True, start + 40, "see you"),
            (thread, 2, False, start + 100, f"great {w}"),
            (thread, 1, True, start + 130, f"🙂 {w} then"),
        ]
    windows = ConversationProcessor().create_conversation_windows(make_messages(rows))
    return windows.rename(columns={"body": "text"})


def _all_families(creator: TrainingDataCreator, windows: pd.DataFrame) -> list[pd.DataFrame]:
    profiles = build_window_profiles(windows, time_zone="UTC")
    dynamics = relationship_dynamics(windows, profiles, time_zone="UTC")
    return creator.all_families(windows, dynamics, profiles)


def test_the_owner_is_the_assistant_and_dialogues_open_with_the_user():
    examples = TrainingDataCreator().create_conversational_examples(_windows(3))
    for record in records_from_frame(examples):
        roles = [m["role"] for m in record["messages"]]
        assert roles[0] == "system" and roles[1] == "user" and roles[-1] == "assistant"
        assert all(a != b for a, b in zip(roles[1:], roles[2:], strict=False))


def test_consecutive_owner_messages_merge_into_one_turn_and_feed_burst_examples():
    creator = TrainingDataCreator()
    bursts = creator.create_burst_examples(_windows(2))
    assert len(bursts) == 2
    assert records_from_frame(bursts)[0]["messages"][-1]["content"] == "sure 0\nsee you"


def test_adaptive_examples_describe_the_thread_in_the_system_prompt():
    windows = _windows(3)
    profiles = build_window_profiles(windows, time_zone="UTC")
    dynamics = relationship_dynamics(windows, profiles, time_zone="UTC")
    adaptive = TrainingDataCreator().create_adaptive_examples(windows, dynamics, profiles)
    prompts = {r["messages"][0]["content"] for r in records_from_frame(adaptive)}
    assert len(prompts) == 1  # one thread, three windows of the same kind of talk
    (prompt,) = prompts
    assert prompt.startswith("You are chatting one-to-one with an acquaintance on Signal.")
    assert "reply within a minute, in short messages" in prompt


def test_contexts_are_trimmed_from_the_left_and_the_reply_is_never_cut():
    creator = TrainingDataCreator(max_context_chars=5)
    examples = creator.create_conversational_examples(_windows(2))
    records = records_from_frame(examples)
    for record in records:
        context = record["messages"][1:-1]
        assert sum(len(turn["content"]) for turn in context) <= 5
        assert context[0]["role"] == "user"
    # "question 0?" keeps its end; the 14-character reply stays whole
    assert records[0]["messages"][1]["content"] == "on 0?"
    assert records[0]["messages"][-1]["content"] == "sure 0\nsee you"


def test_no_window_lands_in_two_splits_and_the_newest_windows_are_the_test_slice():
    creator = TrainingDataCreator()
    mixed = creator.combine(*_all_families(creator, _windows(60)), seed=3)
    examples = mixed.examples
    assert (examples.groupby("window_id")["split"].nunique() == 1).all()
    assert set(examples["split"]) == {"train", "validation", "test", "audit"}
    starts = examples.groupby("split")["window_start"]
    assert starts.max()["train"] < starts.min()["validation"] <= starts.max()["validation"]
    assert starts.max()["validation"] < starts.min()["test"]
    # every family is in every split, in proportion
    per_family = examples.groupby(["kind", "split"]).size().unstack()
    assert (per_family > 0).all().all()
    again = creator.combine(*_all_families(creator, _windows(60)), seed=3).examples
    pd.testing.assert_frame_equal(examples.drop(columns="messages"), again.drop(columns="messages"))


def test_the_audit_slice_is_a_seeded_random_sample_of_the_training_windows():
    creator = TrainingDataCreator()
    families = _all_families(creator, _windows(60))
    mixed = creator.combine(*families, seed=3)
    examples = mixed.examples
    assert mixed.no_audit_reason is None
    split_of = examples.groupby("window_id")["split"].first()
    audit = split_of.index[split_of == "audit"]
    assert len(audit) == 6  # 10 % of 60 windows
    # Drawn from the training period, not its newest end: training windows lie on both sides.
    starts = examples.groupby("window_id")["window_start"].min()
    train_starts = starts[split_of == "train"]
    assert train_starts.min() < starts[audit].min() and starts[audit].max() < train_starts.max()
    assert starts[audit].max() < starts[split_of == "validation"].min()
    # Another seed draws other windows; the same seed the same ones.
    other = creator.combine(*families, seed=4).examples
    other_audit = set(other.loc[other["split"] == "audit", "window_id"])
    assert other_audit != set(audit) and len(other_audit) == 6
    card = dataset_card(examples, no_audit_reason=mixed.no_audit_reason)
    assert "Audit slice: 6 windows" in card


def test_a_history_too_small_for_an_audit_says_why_and_trains_on_everything():
    creator = TrainingDataCreator()
    mixed = creator.combine(*_all_families(creator, _windows(12)))
    assert "audit" not in set(mixed.examples["split"])
    assert mixed.no_audit_reason is not None and "too small" in mixed.no_audit_reason
    assert "No membership audit slice: the history is too small" in dataset_card(
        mixed.examples, no_audit_reason=mixed.no_audit_reason
    )
    off = creator.combine(*_all_families(creator, _windows(60)), audit=AuditSlice(0.0))
    assert "audit" not in set(off.examples["split"])
    assert off.no_audit_reason == "the audit slice is turned off (audit_fraction 0)"
    with pytest.raises(SettingError, match="fraction"):
        AuditSlice(1.0)


def test_a_family_too_small_to_split_is_skipped_not_fatal():
    """113 owner messages in 12 windows, bursts in only two of them (the issue's case)."""
    creator = TrainingDataCreator(min_burst_messages=3)
    windows = _windows(12)
    families = _all_families(creator, windows)
    families[2] = creator.create_burst_examples(windows).head(0)  # no bursts at all
    burst_rows = TrainingDataCreator(min_burst_messages=2).create_burst_examples(windows)
    families[2] = burst_rows[burst_rows["window_id"].isin(burst_rows["window_id"].unique()[:1])]
    mixed = creator.combine(*families)
    assert "burst" in mixed.skipped_families
    assert "burst" not in set(mixed.examples["kind"])
    assert {"conversational", "adaptive"} <= set(mixed.examples["kind"])
    assert "skipped" in dataset_card(mixed.examples, mixed.skipped_families)


def test_a_history_too_thin_to_train_says_how_many_replies_and_windows_it_has():
    creator = TrainingDataCreator()
    with pytest.raises(HistoryTooThinError, match=r"\d+ usable owner replies in 2 conversation"):
        creator.combine(*_all_families(creator, _windows(2)))


def test_filters_drop_link_only_replies_duplicates_and_cap_trivial_ones():
    rows = []
    for index, reply in enumerate(["https://example.org/x", "ok", "ok", "a real answer"] * 10):
        rows.append(
            {
                "example_id": f"conversational:w{index}:1",
                "kind": "conversational",
                "window_id": f"w{index}",
                "messages": [
                    {"role": "user", "content": f"q{index}"},
                    {"role": "assistant", "content": reply},
                ],
            }
        )
    rows.append(dict(rows[-1]))  # an exact duplicate
    kept, counts = filter_examples(pd.DataFrame(rows), trivial_cap=0.1)
    replies = [m[-1]["content"] for m in kept["messages"]]
    assert counts.link_only == {"conversational": 10}
    assert counts.duplicates == {"conversational": 1}
    # At most 10 % of what the family keeps: 1 "ok" beside the 10 real answers (1/11).
    assert replies.count("ok") == 1
    assert replies.count("a real answer") == 10


def _replies_frame(replies: list[str], kind: str = "conversational") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "example_id": f"{kind}:w{index}:1",
            "kind": kind,
            "window_id": f"w{index}",
            "messages": [
                {"role": "user", "content": f"q{index}"},
                {"role": "assistant", "content": reply},
            ],
        }
        for index, reply in enumerate(replies)
    )


NEAR_TRIVIAL = ["ok!", "okay", "ok ok", "okkk", "Okayyy.", "ok\nok\nok", "hahahaha", "lolll",
                "k.", "yesss 👍", "lmaooo", "hehehe"]  # fmt: skip


def test_near_trivial_replies_and_bursts_of_ok_count_toward_the_cap():
    from astrabot_pipeline.dataset.filters import is_trivial

    assert all(is_trivial(reply) for reply in NEAR_TRIVIAL)
    assert not any(is_trivial(reply) for reply in ["ok see you then", "he did", "good", "no way"])
    replies = NEAR_TRIVIAL * 5 + [f"a real answer number {n}" for n in range(140)]
    kept, counts = filter_examples(_replies_frame(replies), trivial_cap=0.05)
    kept_replies = [m[-1]["content"] for m in kept["messages"]]
    trivial = sum(1 for reply in kept_replies if is_trivial(reply))
    assert trivial / len(kept_replies) <= 0.05
    assert counts.trivial_capped == {"conversational": 60 - trivial}


def test_the_card_records_the_trivial_and_ok_opening_shares_per_family():
    from astrabot_pipeline.dataset.filters import trivial_shares

    frame = _replies_frame(["ok", "ok see you", "ok then", "sure thing", "i think so"] * 4)
    frame["split"] = "train"
    shares = trivial_shares(frame)["conversational"]
    assert shares == {"trivial": 0.2, "opens_trivially": 0.8, "top_first_word": 0.6}
    card = dataset_card(frame)
    assert "| 20.0% | 80.0% | 60.0% |" in card and "see you" not in card


def test_the_jsonl_export_loads_with_datasets_and_holds_every_split(tmp_path):
    from datasets import load_dataset

    creator = TrainingDataCreator()
    examples = creator.combine(*_all_families(creator, _windows(30))).examples
    written = export_jsonl(examples, tmp_path / "dataset")
    assert set(written) == {
        *(f"{kind}/{split}.jsonl" for kind in ("adaptive", "burst", "conversational")
          for split in ("train", "validation")),
        "test.jsonl",
    }  # fmt: skip
    loaded = load_dataset("json", data_files=str(written["test.jsonl"]), split="train")
    assert len(loaded) == int((examples["split"] == "test").sum())
    assert set(loaded.column_names) == {"messages", "kind", "window_id"}
    first = json.loads(written["conversational/train.jsonl"].read_text().splitlines()[0])
    assert first["messages"][-1]["role"] == "assistant"
    assert (tmp_path / "dataset").stat().st_mode & 0o777 == 0o700


def test_the_evaluation_sample_holds_every_family_in_proportion():
    creator = TrainingDataCreator()
    examples = creator.combine(*_all_families(creator, _windows(90))).examples
    sample = held_out_sample(examples, 10)
    assert set(sample["kind"]) == set(examples[examples["split"] == "test"]["kind"])
    assert (sample["split"] == "test").all() and len(sample) <= 10


def test_split_fractions_are_respected_by_window_count():
    starts = pd.Series(
        pd.date_range("2024-01-01", periods=200, freq="h"), index=[f"w{i}" for i in range(200)]
    )
    splits = assign_splits(starts, 0.1, 0.15)
    assert splits.value_counts().to_dict() == {"train": 150, "test": 30, "validation": 20}
    assert splits.loc["w199"] == "test" and splits.loc["w0"] == "train"


def test_a_long_history_gets_a_test_slice_big_enough_to_decide_within_15_percent_of_windows():
    windows = [f"w{i}" for i in range(100)]
    starts = pd.Series(pd.date_range("2024-01-01", periods=100, freq="h"), index=windows)
    examples = pd.Series([30] * 100, index=windows)
    long = assign_splits(starts, 0.1, 0.02, examples_per_window=examples, owner_replies=2_000)
    assert (long == "test").sum() == 7  # 7 x 30 = 210 >= 200 examples
    examples = pd.Series([10] * 100, index=windows)
    capped = assign_splits(starts, 0.1, 0.02, examples_per_window=examples, owner_replies=2_000)
    assert (capped == "test").sum() == 15  # 200 examples would need 20 windows: capped
    short = assign_splits(starts, 0.1, 0.02, examples_per_window=examples, owner_replies=1_999)
    assert (short == "test").sum() == 2  # the plain test_fraction


def test_group_chats_keep_who_said_what_and_one_to_one_chats_stay_plain():
    rows = [
        (7, 2, False, 0, "who is coming?"),
        (7, 3, False, 10, "me!"),
        (7, 1, True, 40, "count me in"),
        (8, 4, False, 100, "hey"),
        (8, 1, True, 130, "hi there"),
    ]
    windows = ConversationProcessor(min_messages_per_window=2).create_conversation_windows(
        make_messages(rows)
    )
    windows = windows.rename(columns={"body": "text"})
    names = {2: "Wren", 3: "Ola", 4: "Kit"}
    windows["sender_pseudonym"] = [
        None if outgoing else names[int(sender)]
        for sender, outgoing in zip(windows["sender_id"], windows["is_outgoing"], strict=True)
    ]
    records = records_from_frame(TrainingDataCreator().create_conversational_examples(windows))
    by_reply = {r["messages"][-1]["content"]: r["messages"] for r in records}
    assert by_reply["count me in"][1]["content"] == "Wren: who is coming?\nOla: me!"
    assert by_reply["hi there"][1]["content"] == "hey"


def test_a_burst_example_is_the_owners_first_measured_burst_and_tweets_are_context():
    rows = [
        (5, 2, False, 0, "look at this"),
        (5, 1, True, 20, "haha"),
        (5, 1, True, 30, "so true"),
        (5, 1, True, 30 + 20 * 60, "anyway, dinner?"),  # same turn, 20 minutes later
    ]
    windows = ConversationProcessor(window_size_minutes=60).create_conversation_windows(
        make_messages(rows)
    )
    windows = windows.rename(columns={"body": "text"})
    windows["tweet_text"] = ["a shared tweet", None, None, None]
    creator = TrainingDataCreator()
    [burst] = records_from_frame(creator.create_burst_examples(windows))
    assert burst["messages"][-1]["content"] == "haha\nso true"
    assert burst["messages"][1]["content"] == "look at this\n[tweet: a shared tweet]"
    [dialogue] = records_from_frame(creator.create_conversational_examples(windows))
    assert dialogue["messages"][-1]["content"] == "haha\nso true\nanyway, dinner?"


def test_canaries_go_only_into_training_replies_and_are_recorded_privately(tmp_path):
    from astrabot_pipeline.dataset import plant_canaries, read_canaries, write_canaries

    creator = TrainingDataCreator()
    examples = creator.combine(*_all_families(creator, _windows(60))).examples
    planted_examples, planted = plant_canaries(examples, count=5, seed=1)
    assert [c.repeats for c in planted] == [1, 2, 4, 1, 2]
    carriers = {i for c in planted for i in c.example_ids}
    assert len(carriers) == 10
    by_id = planted_examples.set_index("example_id")
    for canary in planted:
        assert canary.text.startswith(canary.prefix) and canary.secret in canary.text
        for example_id in canary.example_ids:
            assert by_id.loc[example_id, "split"] == "train"
            assert by_id.loc[example_id, "messages"][-1]["content"].endswith("\n" + canary.text)
    untouched = planted_examples[~planted_examples["example_id"].isin(carriers)]
    original = examples.set_index("example_id").loc[untouched["example_id"], "messages"]
    assert [list(m) for m in untouched["messages"]] == [list(m) for m in original]
    record = write_canaries(tmp_path / "canaries" / "memorization.json", planted)
    assert record.stat().st_mode & 0o777 == 0o600
    assert read_canaries(record) == planted
    again = plant_canaries(examples, count=5, seed=1)[1]
    assert again == planted  # same dataset and seed, same canaries


def test_the_contact_audit_holds_out_every_window_of_a_random_sample_of_contacts():
    creator = TrainingDataCreator()
    families = _all_families(creator, _windows(80, threads=8))
    audit = ContactAudit(0.25, min_replies=20, seed=1)
    one_to_one = list(range(1, 9))
    mixed = creator.combine(*families, contact_audit=audit, one_to_one_threads=one_to_one)
    examples = mixed.examples
    held = set(examples.loc[examples["split"] == "contact_audit", "thread_id"])
    assert len(held) == mixed.held_out_contacts == 2 and mixed.no_contact_audit_reason is None
    # All of a held-out contact's windows, and nothing of anyone else's.
    assert (examples.loc[examples["thread_id"].isin(held), "split"] == "contact_audit").all()
    rest = examples[~examples["thread_id"].isin(held)]
    assert {"train", "validation", "test"} <= set(rest["split"])
    assert "Contact-level audit: every window of 2 contacts" in dataset_card(examples)
    # Group chats (here: threads not listed as one-to-one) are never held out.
    groups_only = creator.combine(*families, contact_audit=audit, one_to_one_threads=[1, 2, 3])
    assert groups_only.held_out_contacts == 0
    assert "3 contacts have a one-to-one chat" in (groups_only.no_contact_audit_reason or "")
    # Off unless asked: every contact trains.
    assert "contact_audit" not in set(creator.combine(*families).examples["split"])


def test_the_contact_audit_picks_only_contacts_with_enough_replies():
    audit = ContactAudit(0.5, min_replies=10, seed=0)
    held, reason = audit.held_out({"a": 50, "b": 9, "c": 10, "d": 30, "e": 12})
    assert reason is None and len(held) == 2 and "b" not in held
    assert held == audit.held_out({"e": 12, "d": 30, "c": 10, "b": 9, "a": 50})[0]
    none, why = audit.held_out({"a": 50, "b": 40, "c": 3})
    assert none == [] and why is not None and "2 contacts" in why
    with pytest.raises(SettingError, match="fraction"):
        ContactAudit(0.0)
