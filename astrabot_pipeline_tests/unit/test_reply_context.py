"""Busy group chats: windows are split by message count, and a reply's context is what it
answers (a quote, a mention, an addressed name) where the history says so."""

from __future__ import annotations

import random

import pandas as pd

from astrabot_pipeline.conversations import ConversationProcessor
from astrabot_pipeline.conversations.addressing import with_mentioned_ids
from astrabot_pipeline.conversations.windows import DEFAULT_MAX_WINDOW_MESSAGES
from astrabot_pipeline.dataset import TrainingDataCreator, records_from_frame
from astrabot_pipeline.dataset.reply_context import addressed_sender

OWNER, THREAD = 1, 7
PEOPLE = {2: "Ada", 3: "Bram", 4: "Cleo", 5: "Dov", 6: "Eli"}


def busy_group(hours: float = 6, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """A group of five and the owner that never goes quiet: a message every 20-40 s.

    Every 9th message is the owner's reply to a message 3-6 back by someone other than
    the last speaker, signalled in turn by a quote, a mention or the addressee's name at
    the start. Returns the messages, the mentions table and {reply body: answered body}.
    """
    rng = random.Random(seed)
    rows, mentions, answers = [], [], {}
    seconds, message_id = 0.0, 0
    while seconds < hours * 3600:
        message_id += 1
        seconds += rng.uniform(20, 40)
        row = {"message_id": message_id, "thread_id": THREAD, "sent_at": seconds,
               "quote_message_id": None}  # fmt: skip
        if message_id % 9 == 0:
            last = rows[-1]["sender_id"]
            target = next(r for r in reversed(rows[-6:-2]) if r["sender_id"] not in (last, OWNER))
            kind = ("quote", "mention", "address")[(message_id // 9) % 3]
            body = f"owner reply {message_id}"
            if kind == "quote":
                row["quote_message_id"] = target["message_id"]
            elif kind == "mention":
                mentions.append({"message_id": message_id, "recipient_id": target["sender_id"],
                                 "start": 0, "length": 1})  # fmt: skip
            else:
                body = f"{PEOPLE[target['sender_id']]}: {body}"
            answers[body] = f"{PEOPLE[target['sender_id']]}: {target['body']}"
            row |= {"sender_id": OWNER, "is_outgoing": True, "body": body}
        else:
            sender = rng.choice([s for s in PEOPLE if not rows or s != rows[-1]["sender_id"]])
            row |= {"sender_id": sender, "is_outgoing": False,
                    "body": f"line {message_id} about topic {rng.randint(1, 50)}"}  # fmt: skip
        rows.append(row)
    messages = pd.DataFrame(rows).astype({"quote_message_id": "Int64"})
    messages["sent_at"] = pd.to_datetime(messages["sent_at"], unit="s", utc=True)
    return messages, pd.DataFrame(mentions), answers


def anonymized_like(windows: pd.DataFrame) -> pd.DataFrame:
    """The columns the dataset stage reads after anonymization (pseudonyms as names)."""
    return windows.rename(columns={"body": "text"}).assign(
        sender_pseudonym=windows["sender_id"].map(PEOPLE)
    )


def test_a_busy_group_that_never_goes_quiet_is_split_into_many_windows():
    messages, _, _ = busy_group(hours=6)
    windows = ConversationProcessor().create_conversation_windows(messages)
    sizes = windows.groupby("window_id").size()
    assert sizes.max() <= DEFAULT_MAX_WINDOW_MESSAGES
    assert len(sizes) >= len(messages) // DEFAULT_MAX_WINDOW_MESSAGES
    assert sizes.sum() >= len(messages) - len(sizes) * 2  # only stub slices are dropped


def test_each_reply_in_a_busy_group_gets_the_context_of_what_it_answers():
    messages, mentions, answers = busy_group(hours=3)
    windows = with_mentioned_ids(ConversationProcessor().create_conversation_windows(messages),
                                 mentions)  # fmt: skip
    examples = TrainingDataCreator().create_conversational_examples(anonymized_like(windows))
    checked = 0
    for record in records_from_frame(examples):
        reply = record["messages"][-1]["content"]
        if reply not in answers:
            continue
        roles = [m["role"] for m in record["messages"][1:]]
        assert roles[0] == "user" and all(a != b for a, b in zip(roles, roles[1:], strict=False))
        last_user = [m for m in record["messages"] if m["role"] == "user"][-1]["content"]
        assert last_user.splitlines()[-1] == answers[reply]
        checked += 1
    assert checked >= 0.8 * len(answers)  # replies at a window's start have no context


def test_an_addressed_name_is_recognised_only_at_the_start():
    assert addressed_sender("@bram see above", ["Ada", "Bram"]) == "Bram"
    assert addressed_sender("Ada, yes", ["Ada", "Bram"]) == "Ada"
    assert addressed_sender("Ada Lin: yes", ["Ada", "Ada Lin"]) == "Ada Lin"
    assert addressed_sender("told Ada: yes", ["Ada"]) is None
    assert addressed_sender("Adam: hi", ["Ada"]) is None
    assert addressed_sender("@adam hi", ["Ada"]) is None
