"""LoRA's dropout from a twentieth of the random numbers, in the same distribution.

PEFT drops each element of each adapted projection's input with probability p
(`nn.Dropout`), which draws one random number per element. On a CPU, where PyTorch's
generator is serial, that was 29 % of the `small` profile's forward pass, about 11-13 % of
a training step (210 adapted projections, a fresh mask each).

`PoissonDropout` draws the dropped positions instead: K ~ Poisson(n·λ) positions, uniform
among the input's n elements, with λ = -ln(1 - p). By Poissonization the number of times
each element is drawn is an independent Poisson(λ) variable, so each element is dropped
(drawn at least once) independently with probability 1 - e^(-λ) = p: the Bernoulli(p) mask
of `nn.Dropout`, exactly, from about 1.05·p·n random numbers instead of n. Kept elements
are scaled by 1/(1 - p), as `nn.Dropout` does; in eval mode it passes the input through.
The numbers come from PyTorch's default generator, which the Trainer's checkpoints save,
so a resumed run draws what an uninterrupted one would. Measured on the CPU: 7-12× faster
than `nn.Dropout` on `small`'s inputs (170 × 576: 556 → 74 µs; 170 × 1536: 1,880 →
148 µs).
"""

from __future__ import annotations

# Imported by the training stage when it runs (torch stays out of lighter imports).
import math

import torch


class PoissonDropout(torch.nn.Module):
    """`nn.Dropout(p)` in distribution, drawing only the dropped positions."""

    def __init__(self, p: float) -> None:
        super().__init__()
        if not 0 <= p < 1:
            raise ValueError(f"dropout probability must be in [0, 1), not {p}")
        self.p = p
        self.rate = -math.log1p(-p)  # λ: P(Poisson(λ) >= 1) = p

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.numel()
        if not self.training or self.p == 0 or n == 0:
            return x
        expected = torch.tensor(n * self.rate, dtype=torch.float64)
        count = int(torch.poisson(expected).item())
        keep = torch.full((n,), 1.0 / (1.0 - self.p), dtype=x.dtype, device=x.device)
        keep.index_fill_(0, torch.randint(n, (count,), device=x.device), 0.0)
        return x * keep.view(x.shape)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def use_poisson_dropout(model: torch.nn.Module) -> int:
    """Replace the `nn.Dropout` of every LoRA layer of `model` (PEFT's `lora_dropout`) by
    a `PoissonDropout` of the same p; how many were replaced."""
    replaced = 0
    for module in model.modules():
        dropouts = getattr(module, "lora_dropout", None)
        if not isinstance(dropouts, torch.nn.ModuleDict):
            continue
        for name, dropout in list(dropouts.items()):
            if isinstance(dropout, torch.nn.Dropout) and dropout.p > 0:
                replacement = PoissonDropout(dropout.p)
                replacement.train(dropout.training)
                dropouts[name] = replacement
                replaced += 1
    return replaced
