"""A LoRA adapter folded into its base layers while it is measured, undone bit for bit.

Unmerged, every adapted linear layer runs three matrix products per token (the base's and
the adapter's two low-rank ones); folded (W + B·A·scale), it runs the base's one. On the
`small` profile's demo (2 idle CPU cores) the three stages' quality took 176 s folded
against 215 s unfolded, with the same figures. Unfolding by subtraction would leave
rounding in the base weights, so the base layers' weights are copied before folding and
copied back after: the bare base then scores exactly as before. A quantized base (4-bit
QLoRA) cannot be folded without losing precision and is measured unfolded.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def is_quantized(model: Any) -> bool:
    """Whether the base model's weights are quantized (bitsandbytes 4-bit or 8-bit)."""
    return bool(
        getattr(model, "is_loaded_in_4bit", False)
        or getattr(model, "is_loaded_in_8bit", False)
        or getattr(model, "hf_quantizer", None) is not None
    )


@contextmanager
def folded(adapted: Any, base: Any) -> Iterator[None]:
    """Fold every LoRA layer of `adapted` (a PeftModel over `base`) into its base layer for
    the block; on exit unfold it and restore the base layers' weights exactly."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    if is_quantized(base):
        yield
        return
    # Any: torch types a module's attributes as tensors, and these are methods of peft's.
    layers: list[Any] = [m for m in adapted.modules() if isinstance(m, BaseTunerLayer)]
    saved = [(layer, layer.get_base_layer().weight.detach().clone()) for layer in layers]
    try:
        for layer, _ in saved:
            layer.merge()
        yield
    finally:
        for layer, weight in saved:
            if layer.merged:
                layer.unmerge()
            layer.get_base_layer().weight.data.copy_(weight)


__all__ = ["folded", "is_quantized"]
