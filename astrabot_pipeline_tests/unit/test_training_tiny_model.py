"""The tiny base model: ChatML tokenizer trained on the given texts, seeded random Qwen2."""

from __future__ import annotations

from pathlib import Path

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402
from trl.chat_template_utils import is_chat_template_stop_token_trained  # noqa: E402

from astrabot_pipeline.training import build_tiny_base_model, is_tiny_base_model  # noqa: E402

SMALL = {"vocab_size": 400, "hidden_size": 32, "num_layers": 1}


def corpus() -> list[str]:
    """Repetitive chat-like lines; 'lighthouse' is frequent, 'xylophone' never appears."""
    friends = ["dana", "robin", "sasha", "kim"]
    plans = ["coffee", "lunch", "a walk", "the lighthouse"]
    return [
        f"hey {friends[i % 4]}, {plans[i % 4]} at {i % 9} tomorrow? meet by the lighthouse"
        for i in range(120)
    ]


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory) -> Path:
    return build_tiny_base_model(corpus(), tmp_path_factory.mktemp("tiny") / "model", **SMALL)


CONVERSATION = [
    {"role": "system", "content": "be brief"},
    {"role": "user", "content": "lunch tomorrow?"},
    {"role": "assistant", "content": "sure, meet by the lighthouse"},
    {"role": "user", "content": "at 9?"},
    {"role": "assistant", "content": "see you at 9"},
]


def test_chat_template_renders_chatml(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    rendered = tokenizer.apply_chat_template(CONVERSATION, tokenize=False)
    assert rendered == (
        "<|im_start|>system\nbe brief<|im_end|>\n"
        "<|im_start|>user\nlunch tomorrow?<|im_end|>\n"
        "<|im_start|>assistant\nsure, meet by the lighthouse<|im_end|>\n"
        "<|im_start|>user\nat 9?<|im_end|>\n"
        "<|im_start|>assistant\nsee you at 9<|im_end|>\n"
    )
    prompt = tokenizer.apply_chat_template(
        CONVERSATION[:2], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<|im_start|>assistant\n")


def test_generation_mask_covers_only_assistant_content_and_its_end_token(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    encoded = tokenizer.apply_chat_template(
        CONVERSATION, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    ids, mask = encoded["input_ids"], encoded["assistant_masks"]
    masked = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if m])
    unmasked = tokenizer.decode([t for t, m in zip(ids, mask, strict=True) if not m])
    assert masked == "sure, meet by the lighthouse<|im_end|>see you at 9<|im_end|>"
    assert "lunch tomorrow?" in unmasked and "be brief" in unmasked
    assert "lighthouse" not in unmasked
    # TRL's own check that the model will learn to end its turn.
    assert is_chat_template_stop_token_trained(tokenizer)


def test_special_tokens_are_chatml(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert tokenizer.eos_token == "<|im_end|>"
    assert tokenizer.pad_token == "<|endoftext|>"
    for special in ("<|im_start|>", "<|im_end|>", "<|endoftext|>"):
        assert len(tokenizer(special, add_special_tokens=False)["input_ids"]) == 1


def test_vocabulary_is_learned_from_the_given_texts_only(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    vocab = tokenizer.get_vocab()
    assert "Ġlighthouse" in vocab
    assert tokenizer.tokenize(" lighthouse") == ["Ġlighthouse"]
    assert len(tokenizer.tokenize(" xylophone")) > 1
    assert not any("xyl" in token for token in vocab)
    # Byte-level: unseen text still round-trips.
    assert tokenizer.decode(tokenizer(" xylophone ü")["input_ids"]) == " xylophone ü"


def test_digits_are_single_tokens_so_secrets_never_merge(tiny_dir):
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert tokenizer.tokenize("8431") == ["8", "4", "3", "1"]


def test_same_texts_and_seed_build_identical_files(tiny_dir, tmp_path):
    again = build_tiny_base_model(corpus(), tmp_path / "again", **SMALL)
    for name in ("model.safetensors", "tokenizer.json", "config.json", "chat_template.jinja"):
        assert (again / name).read_bytes() == (tiny_dir / name).read_bytes(), name


def test_another_seed_gives_other_weights(tiny_dir, tmp_path):
    other = build_tiny_base_model(corpus(), tmp_path / "other", seed=1, **SMALL)
    assert (other / "tokenizer.json").read_bytes() == (tiny_dir / "tokenizer.json").read_bytes()
    assert (other / "model.safetensors").read_bytes() != (
        tiny_dir / "model.safetensors"
    ).read_bytes()


def test_model_is_a_tiny_qwen2_sized_to_the_tokenizer(tiny_dir):
    model = AutoModelForCausalLM.from_pretrained(tiny_dir)
    tokenizer = AutoTokenizer.from_pretrained(tiny_dir)
    assert model.config.model_type == "qwen2"
    assert model.config.vocab_size == len(tokenizer)
    assert model.config.eos_token_id == tokenizer.eos_token_id
    assert model.num_parameters() < 200_000
    assert is_tiny_base_model(tiny_dir)


def test_output_is_private_and_leaves_no_temporary_dirs(tiny_dir):
    assert oct(tiny_dir.stat().st_mode & 0o777) == "0o700"
    assert all(oct(p.stat().st_mode & 0o777) == "0o600" for p in tiny_dir.iterdir())
    assert [p.name for p in tiny_dir.parent.iterdir()] == ["model"]


def test_too_little_text_is_reported(tmp_path):
    with pytest.raises(ValueError, match="more training text"):
        build_tiny_base_model(["a"], tmp_path / "none", **SMALL)
    assert not (tmp_path / "none").exists()
