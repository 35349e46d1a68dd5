"""Which arithmetic a stage trains in on a CPU: bf16 only with the CPU's bf16
instructions, a model wide enough, and a probe that agrees with fp32; else fp32."""

from __future__ import annotations

import pytest
import torch

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.training import StageConfig
from astrabot_pipeline.training import precision as precision_module
from astrabot_pipeline.training.base_model import BaseModelNotFoundError, model_widths
from astrabot_pipeline.training.precision import (
    MIN_BF16_HIDDEN_SIZE,
    choose_precision,
    cpu_bf16_flag,
    probe_bf16,
)

X86_WITH_BF16 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512_vnni\n"
X86_WITHOUT = "processor\t: 0\nflags\t\t: fpu sse2 avx2 fma\n"
ARM_WITH_BF16 = "processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n"


@pytest.fixture(autouse=True)
def _no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def _never(*_):
    raise AssertionError("not needed for this choice")


def test_the_bf16_flag_is_read_from_x86_and_arm_cpu_flags():
    assert cpu_bf16_flag(X86_WITH_BF16) == "avx512_bf16"
    assert cpu_bf16_flag(ARM_WITH_BF16) == "bf16"
    assert cpu_bf16_flag(X86_WITHOUT) is None
    assert cpu_bf16_flag("") is None


def test_auto_trains_a_wide_model_in_bf16_on_a_cpu_with_bf16_instructions():
    chosen = choose_precision("auto", lambda: (576, 1536), bf16_flag=lambda: "amx_bf16")
    assert chosen.name == "bf16" and chosen.bf16 and not chosen.fp16
    assert "amx_bf16" in chosen.reason and "probe agreed" in chosen.reason


def test_auto_stays_fp32_without_bf16_instructions_or_on_a_narrow_model():
    without = choose_precision("auto", _never, bf16_flag=lambda: None)
    assert without.name == "fp32" and "no bf16 instructions" in without.reason
    narrow = choose_precision(
        "auto", lambda: (MIN_BF16_HIDDEN_SIZE - 1, 1024), bf16_flag=lambda: "avx512_bf16"
    )
    assert narrow.name == "fp32" and "hidden size" in narrow.reason


def test_auto_stays_fp32_when_the_probe_disagrees_with_fp32(monkeypatch):
    monkeypatch.setattr(precision_module, "probe_bf16", lambda hidden, mlp: 0.3)
    chosen = choose_precision("auto", lambda: (1024, 4096), bf16_flag=lambda: "avx512_bf16")
    assert chosen.name == "fp32" and "30.00%" in chosen.reason


def test_a_forced_setting_wins_without_asking_the_cpu():
    assert choose_precision("bf16", _never, bf16_flag=_never).name == "bf16"
    assert choose_precision("fp32", _never, bf16_flag=_never).name == "fp32"


def test_the_probe_measures_bf16s_rounding_not_zero():
    difference = probe_bf16(256, 512)
    assert 1e-4 < difference < 0.02  # bf16 keeps 8 bits of mantissa


def test_a_missing_base_model_is_named_as_such_before_its_width_is_read(tmp_path):
    # As load_base_model says it: a folder that is not there, a hub id not in the cache.
    with pytest.raises(BaseModelNotFoundError, match="does not exist"):
        model_widths(tmp_path / "no-such-model")
    with pytest.raises(BaseModelNotFoundError, match="not available offline"):
        model_widths("nobody-here/no-such-model")


def test_an_unknown_precision_setting_is_refused():
    with pytest.raises(SettingError, match="auto, bf16, fp32"):
        choose_precision("fp8", _never)
    with pytest.raises(SettingError, match="precision"):
        StageConfig("s", precision="fast")
