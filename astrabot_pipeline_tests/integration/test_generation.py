"""The one generation loop (chat, serve and the evaluation): the line rules end a reply
where they cut it, repetition control, streaming, and the adapter's stored line cap, on a
tiny model rigged to loop "ok\\nok\\nok..." the way the tuned demo model did."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

import torch  # noqa: E402

from astrabot_pipeline.generation import GenerationSettings  # noqa: E402
from astrabot_pipeline.generation.decoding import generate  # noqa: E402
from astrabot_pipeline.inference import AdapterInfo, LoadedModel, generate_reply  # noqa: E402
from astrabot_pipeline.training import build_tiny_base_model, load_base_model  # noqa: E402
from astrabot_pipeline.training.chat_template import stop_token_ids  # noqa: E402

pytestmark = pytest.mark.slow

PLAIN = GenerationSettings(
    max_new_tokens=16, temperature=0, repetition_penalty=1.0, no_repeat_ngram_size=0
)
MESSAGES = [{"role": "user", "content": "see you at the lake?"}]


@pytest.fixture(scope="module")
def looping(tmp_path_factory):
    """A tiny model whose next token depends on the last one only: after a newline "ok",
    after "ok" a newline (its layers add nothing to the residual stream, and the output
    head maps the two embeddings onto each other)."""
    folder = tmp_path_factory.mktemp("looping")
    texts = ["ok\nok sure\nsee you at the lake", "ok ok", "hey there ok"] * 20
    model, tokenizer = load_base_model(
        str(build_tiny_base_model(texts, folder / "tiny", vocab_size=300)), quantize_4bit=False
    )
    [ok], [newline] = tokenizer.encode("ok"), tokenizer.encode("\n")
    with torch.no_grad():
        for layer in model.model.layers:
            layer.self_attn.o_proj.weight.zero_()
            layer.mlp.down_proj.weight.zero_()
        embed = model.model.embed_tokens.weight
        size = embed.shape[1]
        first, second = torch.zeros(size), torch.zeros(size)
        first[0], second[1] = 1.0, 1.0
        embed[newline], embed[ok] = first, second
        head = torch.zeros_like(embed)
        head[ok], head[newline] = 50 * first, 50 * second
        model.lm_head.weight = torch.nn.Parameter(head)  # untied from the embeddings
    model.eval()
    return model, tokenizer


def prompt(tokenizer) -> list[int]:
    return list(
        tokenizer.apply_chat_template(
            MESSAGES, add_generation_prompt=True, tokenize=True, return_dict=True
        )["input_ids"]
    )


def loaded_with_cap(looping, cap: int | None) -> LoadedModel:
    model, tokenizer = looping
    info = AdapterInfo(Path("unused"), "unused", {"base_model": "unused", "reply_line_cap": cap})
    return LoadedModel(model, tokenizer, info, stop_token_ids(tokenizer, model))


def test_the_rigged_model_loops_without_the_line_rules(looping):
    model, tokenizer = looping
    unshaped = GenerationSettings.unshaped(16)
    [[completion]] = generate(model, tokenizer, [prompt(tokenizer)], unshaped)
    assert completion.text == "\n".join(["ok"] * 8)
    assert completion.finish_reason == "length"


def test_a_line_identical_to_the_one_before_ends_the_reply_without_being_shown(looping):
    pieces: list[str] = []
    reply = generate_reply(loaded_with_cap(looping, None), MESSAGES, PLAIN, on_text=pieces.append)
    assert reply.text == "ok" == "".join(pieces)
    assert reply.finish_reason == "stop"
    assert reply.completion_tokens == 4  # ok \n ok \n: stopped at the repeat, not at 16


def test_the_stored_line_cap_ends_the_reply_at_that_many_lines(looping):
    repeating = replace(PLAIN, distinct_lines=False)
    reply = generate_reply(loaded_with_cap(looping, 3), MESSAGES, repeating)
    assert reply.text == "ok\nok\nok"
    assert reply.completion_tokens == 6  # stopped by the newline after the third line
    # The settings' own cap wins over the stored one.
    assert (
        generate_reply(loaded_with_cap(looping, 3), MESSAGES, replace(repeating, max_lines=1)).text
        == "ok"
    )


def test_repetition_control_keeps_a_reply_free_of_repeated_trigrams(looping):
    model, tokenizer = looping
    controlled = GenerationSettings(max_new_tokens=16, temperature=0, distinct_lines=False)
    [[completion]] = generate(model, tokenizer, [prompt(tokenizer)], controlled)
    ids = completion.reply_token_ids
    trigrams = [tuple(ids[i : i + 3]) for i in range(len(ids) - 2)]
    assert len(trigrams) == len(set(trigrams)) and ids[:3] == tokenizer.encode("ok\nok")


def test_the_nucleus_found_among_the_likeliest_tokens_equals_the_full_sort():
    from astrabot_pipeline.generation.decoding import _nucleus

    generator = torch.Generator().manual_seed(0)
    for spread in (0.5, 3.0, 10.0):  # flat (full sort) to peaked (the fast path)
        probs = torch.softmax(torch.randn(6, 5000, generator=generator) * spread, dim=-1)
        ordered, index = probs.sort(dim=-1, descending=True)
        kept = ordered.masked_fill(ordered.cumsum(dim=-1) - ordered > 0.9, 0.0)
        assert torch.equal(_nucleus(probs, 0.9), torch.zeros_like(probs).scatter(-1, index, kept))
