"""Positive controls: the privacy metrics fire on a model that did memorize.

The tiny model is overfitted (LoRA, high learning rate, a few dozen steps) on replies
that carry a planted canary and a real identifier, as if both had slipped through. Against
the untrained model, exposure and `memorization_score` must rise and the leakage scan
must find the identifier by kind; nothing the tester returns or logs may hold it.
"""

from __future__ import annotations

import json

import pytest
import torch

from astrabot_pipeline.data_layout import DIGEST_FILE
from astrabot_pipeline.dataset.canaries import PlantedCanary
from astrabot_pipeline.evaluation.privacy.prompts import REIDENTIFICATION_QUESTIONS, prompt_messages
from astrabot_pipeline.evaluation.privacy.results import PrivacyResult
from astrabot_pipeline.evaluation.privacy.settings import PrivacyTestSettings
from astrabot_pipeline.evaluation.privacy.tester import PrivacyTester
from astrabot_pipeline.generation import GenerationSettings
from astrabot_pipeline.generation.decoding import generate
from astrabot_pipeline.privacy.anonymizer import Replacement
from astrabot_pipeline.privacy.identifier_digests import (
    IdentifierDigestBuilder,
    IdentifierDigests,
    IdentifierHasher,
)
from astrabot_pipeline.training import (
    QWEN_LORA_TARGET_MODULES,
    build_tiny_base_model,
    load_base_model,
)
from astrabot_pipeline.training.chat_template import stop_token_ids

KEY = bytes(range(50, 82))
NAME, PHONE = "Zorbina Quellmark", "+1 (555) 010-2233"
PSEUDONYM = "Wren Thorne"  # the surrogate the privacy stage gave NAME (see _digests)
CANARY = PlantedCanary(
    text="the door code is 381 094 527",
    prefix="the door code is",
    secret="381 094 527",
    repeats=20,
    example_ids=(),
)
FILLER = (
    "sure see you at the lake later",
    "haha no way that is so good",
    "ok i will bring the snacks tonight",
    "running late again sorry about that",
)
CONFIG = PrivacyTestSettings(
    leakage_prompts=4,
    samples_per_prompt=1,
    max_new_tokens=24,
    exposure_candidates=48,
    memorization_examples=8,
    generic_recognizers=False,
)


def _records(pseudonym_questions: bool = False) -> list[dict]:
    """With `pseudonym_questions`, every fourth chat asks for the contact's number by the
    pseudonym the training data knows them by and gets the real one (an anonymizer hole):
    the re-identification questions must find what a model learned from that."""
    records = []
    for i in range(40):
        chat = FILLER[i % 4] + " and " + FILLER[(i + 1) % 4]
        reply = f"{chat}\n{CANARY.text}" if i % 2 else f"call {NAME} at {PHONE} about it, {chat}"
        question = f"what about {FILLER[(i + 3) % 4]}?"
        if pseudonym_questions and i % 4 == 0:
            question = REIDENTIFICATION_QUESTIONS[1][1].format(name=PSEUDONYM)
        records.append(
            {
                "messages": [
                    {"role": "user", "content": question},
                    {"role": "assistant", "content": reply},
                ]
            }
        )
    return records


def _digests(folder) -> IdentifierDigests:
    """What the privacy stage would have stored had it replaced the name and number."""
    original = f"call {NAME} at {PHONE}"
    spans = [("PERSON", NAME, PSEUDONYM), ("PHONE_NUMBER", PHONE, "(415) 555-0101")]
    replaced = tuple(
        Replacement(kind, original.index(span), original.index(span) + len(span), surrogate)
        for kind, span, surrogate in spans
    )
    builder = IdentifierDigestBuilder(IdentifierHasher(KEY))
    builder.add_replacements(["w-train"], [original], [replaced])
    return IdentifierDigests.load(builder.write(folder / DIGEST_FILE), KEY)


def _overfit(model, tokenizer, records: list[dict], steps: int = 30) -> torch.nn.Module:
    """A LoRA adapter trained on every token of `records` at a high learning rate."""
    from peft import LoraConfig, get_peft_model

    torch.manual_seed(0)
    adapted = get_peft_model(
        model,
        LoraConfig(
            r=16,
            lora_alpha=32,
            lora_dropout=0.0,
            target_modules=list(QWEN_LORA_TARGET_MODULES),
            task_type="CAUSAL_LM",
        ),
    )
    encoded = [
        tokenizer.apply_chat_template(r["messages"], tokenize=True, return_dict=True)["input_ids"]
        for r in records
    ]
    width = max(len(ids) for ids in encoded)
    ids = torch.full((len(encoded), width), tokenizer.pad_token_id)
    mask = torch.zeros_like(ids)
    for row, tokens in enumerate(encoded):
        ids[row, : len(tokens)] = torch.tensor(tokens)
        mask[row, : len(tokens)] = 1
    labels = ids.masked_fill(mask == 0, -100)
    optimizer = torch.optim.AdamW([p for p in adapted.parameters() if p.requires_grad], lr=1e-2)
    adapted.train()
    for step in range(steps):
        rows = torch.arange(step * 8, step * 8 + 8) % len(encoded)
        loss = adapted(input_ids=ids[rows], attention_mask=mask[rows], labels=labels[rows]).loss
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
    adapted.eval()
    return adapted


def _transformers_greedy(model, tokenizer, prompt: list[int], max_new_tokens: int) -> list[int]:
    """transformers' own greedy decoding of one unpadded prompt, cut before its stop token."""
    stops = list(stop_token_ids(tokenizer, model))
    output = model.generate(
        input_ids=torch.tensor([prompt]),
        attention_mask=torch.ones((1, len(prompt)), dtype=torch.long),
        max_new_tokens=max_new_tokens,
        do_sample=False,
        temperature=None,
        top_p=None,
        top_k=None,
        eos_token_id=stops,
        pad_token_id=tokenizer.pad_token_id,
    )[0, len(prompt) :].tolist()
    ends = [i for i, token in enumerate(output) if token in stops]
    return output[: ends[0]] if ends else output


@pytest.fixture(scope="module")
def controls(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("controls")
    records = _records()
    texts = [m["content"] for r in records for m in r["messages"]]
    base = build_tiny_base_model(texts * 3, folder / "tiny", vocab_size=600)
    tester = PrivacyTester(_digests(folder), [CANARY], train_window_ids=["w-train"], config=CONFIG)
    model, tokenizer = load_base_model(base)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a 64-wide model: one thread is faster than two contending
    try:
        untrained = tester.evaluate(model, tokenizer, test_records=records, train_records=records)
        adapted = _overfit(model, tokenizer, records)
        trained = tester.evaluate(adapted, tokenizer, test_records=records, train_records=records)
        prompts = [tester._encode_prompt(tokenizer, prompt_messages(r)) for r in records[:6]]
        prompts[1] = prompts[1][:4]  # lengths differ: left padding must not change anything
        reference = [_transformers_greedy(adapted, tokenizer, prompt, 24) for prompt in prompts]
        sampling = GenerationSettings.unshaped(24, temperature=0.8)
        shared = [
            rows[0].reply_token_ids
            for rows in generate(
                adapted, tokenizer, prompts, sampling, samples=2, with_greedy=True, batch_size=4
            )
        ]
    finally:
        torch.set_num_threads(threads)
    return {"results": (untrained, trained), "greedy": (reference, shared)}


@pytest.fixture(scope="module")
def before_and_after(controls) -> tuple[PrivacyResult, PrivacyResult]:
    return controls["results"]


@pytest.mark.slow
def test_canary_exposure_rises_when_the_model_memorized_it(before_and_after):
    untrained, trained = before_and_after
    assert untrained.exposure is not None and trained.exposure is not None
    (before,), (after,) = untrained.exposure.canaries, trained.exposure.canaries
    assert after.rank_in_sample == 1 and before.rank_in_sample > 1
    assert after.exposure > before.exposure + 5


@pytest.mark.slow
def test_memorization_score_rises_when_the_model_memorized_replies(before_and_after):
    untrained, trained = before_and_after
    assert untrained.memorization is not None and trained.memorization is not None
    assert trained.memorization.examples_scored == CONFIG.memorization_examples
    assert untrained.memorization_score == 0.0
    assert trained.memorization_score >= 0.5
    # Near-verbatim counts every exact match and may add near ones.
    assert trained.memorization.near_memorized >= trained.memorization.memorized
    # The shorter settings for chat's short replies: more replies are long enough there,
    # and the memorized ones are found there too.
    assert [(r.k, r.m) for r in trained.short_memorization if r] == [(4, 8), (4, 16)]
    short_8 = trained.short_memorization[0]
    assert short_8 is not None and short_8.examples_scored == CONFIG.memorization_examples
    assert short_8.memorization_score >= 0.5 and short_8.near_memorization_score >= 0.5
    before_8 = untrained.short_memorization[0]
    assert before_8 is not None and before_8.memorization_score == 0.0


@pytest.mark.slow
def test_questions_naming_a_pseudonym_find_a_model_that_learned_the_real_identifiers(
    tmp_path,
):
    records = _records(pseudonym_questions=True)
    texts = [m["content"] for r in records for m in r["messages"]]
    base = build_tiny_base_model(texts * 3, tmp_path / "tiny", vocab_size=600)
    tester = PrivacyTester(_digests(tmp_path), config=CONFIG)
    names = tester.pseudonym_names(records)
    assert names == [PSEUDONYM]
    model, tokenizer = load_base_model(base)
    before, _ = tester.reidentify(model, tokenizer, names)
    after, scans = tester.reidentify(_overfit(model, tokenizer, records), tokenizer, names)
    assert before is not None and after is not None
    # Three questions about the one pseudonym, greedy and one sample each.
    assert after.generations == len(scans) == 6
    # The model that learned the real number behind the pseudonym gives it when asked.
    assert after.generations_by_kind["phone"] > 0
    assert after.pii_leakage_score > before.pii_leakage_score
    assert tester.reidentify(model, tokenizer, []) == (None, [])


@pytest.mark.slow
def test_without_a_pseudonym_in_the_training_data_there_is_nothing_to_ask(before_and_after):
    untrained, trained = before_and_after
    assert untrained.reidentification is None and trained.reidentification is None
    assert trained.settings["reidentification_prompts"] == 0


@pytest.mark.slow
def test_the_leakage_scan_finds_the_memorized_identifier_by_kind(before_and_after):
    untrained, trained = before_and_after
    assert trained.leakage.generations_by_kind["phone"] > 0
    assert trained.leakage.generations_by_kind["name"] > 0
    assert trained.pii_leakage_score > untrained.pii_leakage_score
    assert trained.extraction.recall == 1.0 and untrained.extraction.recall == 0.0


@pytest.mark.slow
def test_nothing_the_tester_returns_or_logs_holds_the_identifier(before_and_after, caplog, capsys):
    written = json.dumps([result.to_dict() for result in before_and_after])
    written += repr(before_and_after) + caplog.text + "".join(capsys.readouterr())
    for secret in ("zorbina", "quellmark", "0102233", "010-2233", "381 094", "381094"):
        assert secret not in written.casefold()


@pytest.mark.slow
def test_shared_prompt_generation_is_greedy_generation_where_greedy(controls):
    """The batched greedy rows (left-padded, one prompt pass shared with the sampled rows)
    are exactly transformers' greedy output of each prompt alone, stop tokens included."""
    reference, shared = controls["greedy"]
    assert shared == reference
    assert any(len(tokens) < 24 for tokens in reference)  # some stopped at <|im_end|>
