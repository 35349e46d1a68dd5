"""Which arithmetic a stage trains in, and why: bf16 where the hardware has it, fp32 elsewhere.

On a CUDA GPU the choice is the hardware's (`base_model.mixed_precision`): bf16 where the
GPU has it, fp16 on older GPUs. On a CPU, a stage's `precision` setting decides:

- "fp32": full precision.
- "bf16": the base model's frozen weights in bf16 (as a bf16 GPU loads them), LoRA's
  weights, their gradients and the optimizer in fp32, and bf16 autocast, so the matrix
  products run in bf16. On a CPU without bf16 instructions PyTorch emulates it: the same
  numbers, slower. For tests, and for a user who knows their CPU.
- "auto" (the default): bf16 autocast when all of these hold, else fp32:
  1. the CPU has bf16 instructions (x86 `avx512_bf16` or `amx_bf16`, Arm's `bf16`), read
     from the kernel's CPU flags (`/proc/cpuinfo`; elsewhere none are known, so fp32);
  2. the model is wide enough for bf16 to pay (`MIN_BF16_HIDDEN_SIZE`): on a narrow model
     the casts cost more than the products save (the tiny test model stays fp32);
  3. a one-step probe agrees: one forward and backward pass of a layer shaped like the
     model's MLP, on fixed inputs, in fp32 and under bf16 autocast. The bf16 output and
     gradient must be finite and within `PROBE_TOLERANCE` of fp32's.

The choice is deterministic for a machine and a model (no timing decides it), so a rerun
or a resume takes the same one; it is part of the stage's run key (a checkpoint trained
in fp32 is never resumed in bf16) and is recorded, with its reason, in the result.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.training.base_model import cpu_name, cuda_available, mixed_precision

PRECISION_SETTINGS = ("auto", "bf16", "fp32")
# x86's AVX-512 BF16 and AMX-BF16 extensions, Arm's BF16 extension (as Linux names them).
BF16_CPU_FLAGS = ("avx512_bf16", "amx_bf16", "bf16")
CPUINFO = Path("/proc/cpuinfo")
MIN_BF16_HIDDEN_SIZE = 256
PROBE_TOLERANCE = 0.02  # relative (norm of the difference / norm of fp32's)
PROBE_TOKENS = 64


@dataclass(frozen=True)
class Precision:
    """The arithmetic chosen ("bf16", "fp16" or "fp32") and why, in words."""

    name: str
    reason: str

    @property
    def bf16(self) -> bool:
        """TrainingArguments' `bf16=`: bf16 autocast (a GPU's, or a CPU's)."""
        return self.name == "bf16"

    @property
    def fp16(self) -> bool:
        """TrainingArguments' `fp16=`: fp16 autocast with loss scaling (older GPUs)."""
        return self.name == "fp16"


def check_precision_setting(setting: str) -> None:
    if setting not in PRECISION_SETTINGS:
        raise SettingError(
            f"precision must be one of {', '.join(PRECISION_SETTINGS)}, not {setting!r}"
        )


def cpu_bf16_flag(cpuinfo: str | None = None) -> str | None:
    """The CPU's bf16 instruction flag (the first of `BF16_CPU_FLAGS` it has), or None.

    `cpuinfo` is the text of `/proc/cpuinfo` (read when None; absent off Linux)."""
    if cpuinfo is None:
        try:
            cpuinfo = CPUINFO.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return None
    flags: set[str] = set()
    for line in cpuinfo.splitlines():
        label, colon, value = line.partition(":")
        if colon and label.strip().lower() in ("flags", "features"):
            flags.update(value.split())
    return next((flag for flag in BF16_CPU_FLAGS if flag in flags), None)


@functools.cache  # one probe per shape and process
def probe_bf16(hidden_size: int, intermediate_size: int) -> float:
    """The larger relative difference, output or input gradient, between one forward and
    backward pass of a `hidden -> intermediate -> hidden` MLP in fp32 and under bf16
    autocast on the CPU, on fixed inputs; infinity when bf16's are not finite."""
    import torch

    generator = torch.Generator().manual_seed(0)
    up = torch.randn(intermediate_size, hidden_size, generator=generator) / hidden_size**0.5
    down = torch.randn(hidden_size, intermediate_size, generator=generator) / (
        intermediate_size**0.5
    )
    inputs = torch.randn(PROBE_TOKENS, hidden_size, generator=generator)

    def step(autocast: bool) -> tuple[torch.Tensor, torch.Tensor]:
        x = inputs.clone().requires_grad_(True)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            out = torch.nn.functional.linear(
                torch.nn.functional.silu(torch.nn.functional.linear(x, up)), down
            )
        (gradient,) = torch.autograd.grad(out.float().square().mean(), x)
        return out.detach().float(), gradient.float()

    reference, reduced = step(False), step(True)
    worst = 0.0
    for exact, approx in zip(reference, reduced, strict=True):
        if not torch.isfinite(approx).all():
            return float("inf")
        worst = max(worst, float((approx - exact).norm() / exact.norm().clamp_min(1e-12)))
    return worst


def choose_precision(
    setting: str,
    widths: Callable[[], tuple[int, int]],
    *,
    bf16_flag: Callable[[], str | None] = cpu_bf16_flag,
) -> Precision:
    """The precision a stage trains in (see the module docstring). `widths` gives the
    model's hidden and MLP sizes, `bf16_flag` the CPU's bf16 flag; each is asked only
    when the choice depends on it."""
    check_precision_setting(setting)
    if cuda_available():
        name = mixed_precision()  # "bf16" or "fp16" on a GPU
        return Precision(name, f"{name} on the CUDA GPU, as its hardware allows")
    if setting == "fp32":
        return Precision("fp32", "fp32: the stage's precision setting")
    if setting == "bf16":
        return Precision("bf16", "bf16 autocast: the stage's precision setting")
    flag = bf16_flag()
    if not flag:
        return Precision("fp32", f"fp32: this CPU ({cpu_name()}) has no bf16 instructions")
    hidden_size, intermediate_size = widths()
    if hidden_size < MIN_BF16_HIDDEN_SIZE:
        return Precision(
            "fp32",
            f"fp32: the model's hidden size {hidden_size} is under {MIN_BF16_HIDDEN_SIZE}, "
            "where bf16's casts cost more than its products save",
        )
    difference = probe_bf16(hidden_size, intermediate_size)
    if difference > PROBE_TOLERANCE:
        return Precision(
            "fp32",
            f"fp32: the bf16 probe differed from fp32 by {difference:.2%} "
            f"(tolerance {PROBE_TOLERANCE:.0%})",
        )
    return Precision(
        "bf16",
        f"bf16 autocast: the CPU has {flag} and the probe agreed with fp32 within {difference:.2%}",
    )
