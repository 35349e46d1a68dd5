import pandas as pd

from astrabot_pipeline.conversations import ConversationProcessor
from astrabot_pipeline.dataset import TrainingDataCreator, assign_splits, records_from_frame
from astrabot_pipeline_tests.conftest import make_messages


def _windows(n_windows: int = 30) -> pd.DataFrame:
    rows = []
    for w in range(n_windows):
        start = w * 10_000
        rows += [
            (1 + w % 3, 2, False, start, f"question {w}?"),
            (1 + w % 3, 1, True, start + 30, "sure"),
            (1 + w % 3, 1, True, start + 40, "see you"),
            (1 + w % 3, 2, False, start + 100, "great"),
            (1 + w % 3, 1, True, start + 130, "🙂"),
        ]
    windows = ConversationProcessor().create_conversation_windows(make_messages(rows))
    return windows.rename(columns={"body": "text"})


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
    assert records_from_frame(bursts)[0]["messages"][-1]["content"] == "sure\nsee you"


def test_adaptive_examples_describe_the_thread_in_the_system_prompt():
    windows = _windows(3)
    dynamics = ConversationProcessor().analyze_relationship_dynamics(windows, text_column="text")
    adaptive = TrainingDataCreator().create_adaptive_examples(windows, dynamics)
    prompt = records_from_frame(adaptive)[0]["messages"][0]["content"]
    assert "one-to-one chat" in prompt and "within a minute" in prompt


def test_no_window_lands_in_both_splits_and_the_split_is_deterministic():
    creator = TrainingDataCreator()
    windows = _windows(60)
    parts = (
        creator.create_conversational_examples(windows),
        creator.create_burst_examples(windows),
    )
    first = creator.combine_datasets(*parts, validation_fraction=0.25, seed=3)
    second = creator.combine_datasets(*parts, validation_fraction=0.25, seed=3)
    assert (first.groupby("window_id")["split"].nunique() == 1).all()
    assert set(first["split"]) == {"train", "validation"}
    pd.testing.assert_frame_equal(first.drop(columns="messages"), second.drop(columns="messages"))


def test_split_fraction_is_roughly_respected():
    ids = pd.Series([f"w{i}" for i in range(2000)])
    share = (assign_splits(ids, 0.1) == "validation").mean()
    assert 0.07 < share < 0.13
