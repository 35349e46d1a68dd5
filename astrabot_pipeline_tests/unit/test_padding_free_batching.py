"""Padding-free batching: examples flattened into one row stay apart, so it is the default.

TRL's padding-free collator concatenates a batch into one row whose position ids restart
at 0 for every example, with no attention mask. transformers turns the restarts into a
block-diagonal causal mask for SDPA and eager attention, so each example's logits must be
those it gets alone. These tests fail if that isolation breaks (e.g. a transformers
upgrade that stops detecting packed sequences): then the stages must fall back to padded,
length-grouped batches.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

import torch  # noqa: E402
from datasets import Dataset  # noqa: E402
from transformers import AutoModelForCausalLM  # noqa: E402
from trl import SFTConfig, SFTTrainer  # noqa: E402
from trl.trainer.sft_trainer import DataCollatorForLanguageModeling  # noqa: E402

from astrabot_pipeline.training import build_tiny_base_model  # noqa: E402
from astrabot_pipeline.training import trainer as trainer_module  # noqa: E402
from astrabot_pipeline.training.base_model import load_tokenizer  # noqa: E402
from astrabot_pipeline.training.trainer import (  # noqa: E402
    owner_token_trainer,
    padding_free_attention,
)

ARCHITECTURES = ("qwen2", "qwen3")
LENGTHS = (9, 1, 31, 17)  # one single-token example: its row starts and ends at once
TOLERANCE = 1e-4  # fp32; a padded batch differs from single runs by ~4e-6 here


def _texts() -> list[str]:
    friends, plans = ["dana", "robin", "sasha", "kim"], ["coffee", "lunch", "a walk", "the pier"]
    return [
        f"hey {friends[i % 4]}, {plans[i % 3]} at {i % 9} tomorrow? see you by the pier"
        for i in range(150)
    ]


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("padding-free")
    return {
        arch: str(build_tiny_base_model(_texts(), root / arch, architecture=arch, seed=3))
        for arch in ARCHITECTURES
    }


def _model(path: str, attention: str):
    model = AutoModelForCausalLM.from_pretrained(
        path, attn_implementation=attention, dtype=torch.float32, local_files_only=True
    )
    return model.eval()


def _examples(vocab_size: int) -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(7)
    return [torch.randint(3, vocab_size, (n,), generator=generator) for n in LENGTHS]


def _alone(model, examples) -> torch.Tensor:
    with torch.no_grad():
        return torch.cat(
            [model(input_ids=ids[None], use_cache=False).logits[0] for ids in examples]
        )


@pytest.mark.parametrize("attention", ["sdpa", "eager"])
@pytest.mark.parametrize("arch", ARCHITECTURES)
def test_packed_examples_get_the_logits_they_get_alone(tiny_models, arch, attention, monkeypatch):
    model = _model(tiny_models[arch], attention)  # on the CPU, where the stages use it
    assert model.config._attn_implementation == attention
    monkeypatch.setattr(trainer_module, "cuda_available", lambda: False)
    assert padding_free_attention(model)
    examples = _examples(model.config.vocab_size)
    alone = _alone(model, examples)
    # The batch exactly as the stages' collator builds it.
    batch = DataCollatorForLanguageModeling(pad_token_id=0, padding_free=True)(
        [{"input_ids": ids.tolist()} for ids in examples]
    )
    assert "attention_mask" not in batch and batch["input_ids"].shape == (1, sum(LENGTHS))
    restarts = torch.cat([torch.arange(n) for n in LENGTHS])
    assert torch.equal(batch["position_ids"][0], restarts)
    inputs = {"input_ids": batch["input_ids"], "position_ids": batch["position_ids"]}
    with torch.no_grad():
        packed = model(**inputs, use_cache=False).logits[0]
        # Control: the same row with an all-ones mask lets examples see each other, and
        # the check must notice.
        mixed = model(
            **inputs, attention_mask=torch.ones_like(batch["input_ids"]), use_cache=False
        ).logits[0]
    assert (packed - alone).abs().max().item() < TOLERANCE
    assert (mixed - alone).abs().max().item() > 100 * TOLERANCE
    # The first example sees nothing before it either way: only later ones are affected.
    assert (mixed[: LENGTHS[0]] - alone[: LENGTHS[0]]).abs().max().item() < TOLERANCE


def _records() -> list[dict]:
    words = _texts()
    return [
        {
            "messages": [
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": " ".join(words[i : i + 1 + i % 3])},
                {"role": "assistant", "content": words[i + 5][: 10 + 7 * i]},
            ]
        }
        for i in range(4)
    ]


def _loss_and_grads(
    path: str, padding_free: bool, trainer_class=SFTTrainer
) -> tuple[float, torch.Tensor, dict]:
    from peft import LoraConfig

    torch.manual_seed(0)
    args = SFTConfig(
        output_dir="unused",
        per_device_train_batch_size=4,
        max_length=None if padding_free else 256,
        padding_free=padding_free,
        assistant_only_loss=True,
        use_cpu=True,
        bf16=False,
        activation_checkpointing=False,
        report_to="none",
    )
    tokenizer = load_tokenizer(path)
    trainer = trainer_class(
        model=_model(path, "sdpa"),
        args=args,
        train_dataset=Dataset.from_list(_records()),
        processing_class=tokenizer,
        peft_config=LoraConfig(r=4, target_modules=["q_proj", "v_proj"], lora_dropout=0.0),
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(4)])
    trainer.model.train()
    loss = trainer.compute_loss(trainer.model, dict(batch))
    loss.backward()
    grads = torch.cat([p.grad.flatten() for p in trainer.model.parameters() if p.grad is not None])
    return loss.item(), grads, batch


def test_trl_loss_and_gradients_of_a_padding_free_batch_equal_the_padded_ones(tiny_models):
    padded_loss, padded_grads, padded = _loss_and_grads(tiny_models["qwen3"], False)
    free_loss, free_grads, free = _loss_and_grads(tiny_models["qwen3"], True)
    assert padded["input_ids"].shape[0] == 4 and free["input_ids"].shape[0] == 1
    assert "attention_mask" not in free
    assert free["input_ids"].numel() == int(padded["attention_mask"].sum())
    assert free_loss == pytest.approx(padded_loss, abs=1e-5)
    assert padded_grads.abs().max() > 0
    assert torch.allclose(free_grads, padded_grads, atol=1e-6)
    # The stages' trainer projects only the owner's positions: same loss, same gradients,
    # padding-free (what the stages use) and padded (the fallback).
    owner_only = owner_token_trainer()
    for padding_free in (True, False):
        loss, grads, _ = _loss_and_grads(tiny_models["qwen3"], padding_free, owner_only)
        assert loss == pytest.approx(padded_loss, abs=1e-5)
        assert torch.allclose(grads, padded_grads, atol=1e-6)


def _attention(name: str | None) -> SimpleNamespace:
    return SimpleNamespace(config=SimpleNamespace(_attn_implementation=name))


def test_padding_free_wherever_attention_keeps_examples_apart(monkeypatch):
    flash = ("flash_attention_2", "flash_attention_3")
    masked = ("sdpa", "eager")
    fallback = ("flex_attention", "paged|sdpa", "", None)
    monkeypatch.setattr(trainer_module, "cuda_available", lambda: False)
    assert all(padding_free_attention(_attention(name)) for name in flash + masked)
    assert not any(padding_free_attention(_attention(name)) for name in fallback)
    # On CUDA a mask-based row would cost (sum of lengths)^2 attention: FlashAttention only.
    monkeypatch.setattr(trainer_module, "cuda_available", lambda: True)
    assert all(padding_free_attention(_attention(name)) for name in flash)
    assert not any(padding_free_attention(_attention(name)) for name in masked + fallback)
