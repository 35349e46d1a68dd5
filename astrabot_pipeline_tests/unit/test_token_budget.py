"""Contexts are trimmed from the left to the token budget; the reply is never cut."""

from __future__ import annotations

import pytest

from astrabot_pipeline.training.tiny_model import train_chatml_tokenizer
from astrabot_pipeline.training.token_budget import fit_to_token_budget

WORDS = ["lunch", "coffee", "walk", "lighthouse", "tomorrow", "maybe", "sure", "later", "tonight"]


@pytest.fixture(scope="module")
def tokenizer():
    texts = [" ".join(WORDS[(i + j) % len(WORDS)] for j in range(8)) for i in range(60)]
    return train_chatml_tokenizer(texts, vocab_size=300, model_max_length=4096)


def length(tokenizer, messages) -> int:
    return len(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=False))


def turn(role: str, n: int, marker: str) -> dict:
    return {"role": role, "content": f"{marker} " + " ".join(WORDS[i % 9] for i in range(n))}


def dialogue(turns: int = 6, words: int = 20) -> list[dict]:
    messages = [{"role": "system", "content": "be brief"}]
    for i in range(turns):
        messages.append(turn("user" if i % 2 == 0 else "assistant", words, f"t{i}"))
    messages.append(turn("assistant", 6, "reply"))
    return messages


def test_records_within_budget_are_unchanged(tokenizer):
    record = {"messages": dialogue(), "kind": "conversational"}
    fit = fit_to_token_budget([record], tokenizer, 10_000)
    assert fit.records == [record]
    assert fit.counts() == {"max_length": 10_000, "trimmed": 0, "turns_dropped": 0, "dropped": 0}


def test_oldest_turns_go_first_and_the_reply_stays_whole(tokenizer):
    messages = dialogue()
    budget = length(tokenizer, messages) - 10
    fit = fit_to_token_budget([{"messages": messages}], tokenizer, budget)
    (fitted,) = fit.records
    kept = fitted["messages"]
    assert length(tokenizer, kept) <= budget
    assert kept[0] == messages[0] and kept[-1] == messages[-1]
    # The oldest (user) turn went, then the owner turn that would have opened the dialogue.
    assert kept[1:] == messages[3:]
    assert fit.trimmed == 1 and fit.turns_dropped == 2 and fit.dropped == 0


def test_a_single_long_context_turn_loses_its_start(tokenizer):
    messages = [
        {"role": "system", "content": "be brief"},
        turn("user", 400, "start"),
        turn("assistant", 6, "reply"),
    ]
    budget = 120
    (fitted,) = fit_to_token_budget([{"messages": messages}], tokenizer, budget).records
    kept = fitted["messages"]
    assert length(tokenizer, kept) <= budget
    assert kept[-1] == messages[-1]
    assert messages[1]["content"].endswith(kept[1]["content"])
    assert not kept[1]["content"].startswith("start")


def test_a_reply_over_budget_is_dropped_not_cut(tokenizer):
    fits = {"messages": dialogue(turns=2, words=3)}
    too_long = {"messages": [turn("user", 3, "q"), turn("assistant", 400, "essay")]}
    fit = fit_to_token_budget([too_long, fits], tokenizer, 100)
    assert fit.records == [fits]
    assert fit.dropped == 1


def test_trimmed_records_tokenize_within_budget_for_every_budget(tokenizer):
    messages = dialogue(turns=5, words=30)
    full = length(tokenizer, messages)
    for budget in range(40, full + 5, 7):
        for record in fit_to_token_budget([{"messages": messages}], tokenizer, budget).records:
            assert length(tokenizer, record["messages"]) <= budget
            assert record["messages"][-1] == messages[-1]
