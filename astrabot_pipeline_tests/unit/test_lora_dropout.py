"""LoRA's dropout from the dropped positions only (training/lora_dropout.py): the same
distribution as nn.Dropout, element by element independent, the same scaling."""

from __future__ import annotations

import math

import pytest
import torch
from peft import LoraConfig, get_peft_model

from astrabot_pipeline.training.lora_dropout import PoissonDropout, use_poisson_dropout

P = 0.05
N = 1_000_000


def test_each_element_is_dropped_with_probability_p_and_the_rest_scaled():
    torch.manual_seed(0)
    out = PoissonDropout(P)(torch.ones(1000, 1000))
    dropped = out == 0
    share = dropped.double().mean().item()
    sigma = math.sqrt(P * (1 - P) / N)
    assert abs(share - P) < 5 * sigma
    assert torch.allclose(out[~dropped], torch.full_like(out[~dropped], 1 / (1 - P)))


def test_drops_are_independent_of_position_and_of_each_other():
    torch.manual_seed(1)
    dropped = (PoissonDropout(P)(torch.ones(N)) == 0).double()
    sigma = math.sqrt(P * (1 - P) / (N / 4))
    for quarter in dropped.view(4, -1):  # no part of the input favoured
        assert abs(quarter.mean().item() - P) < 5 * sigma
    # Neighbours drop together as often as chance says (P²): no clustered drops.
    both = (dropped[:-1] * dropped[1:]).mean().item()
    assert abs(both - P * P) < 5 * math.sqrt(P * P / N)


def test_eval_mode_and_p_zero_pass_the_input_through():
    x = torch.randn(4, 8)
    dropout = PoissonDropout(P).eval()
    assert dropout(x) is x
    assert PoissonDropout(0.0)(x) is x
    with pytest.raises(ValueError, match=r"\[0, 1\)"):
        PoissonDropout(1.0)


def test_every_lora_dropout_of_a_peft_model_is_replaced():
    base = torch.nn.Sequential()
    base.add_module("q_proj", torch.nn.Linear(8, 8))
    base.add_module("v_proj", torch.nn.Linear(8, 8))
    model = get_peft_model(
        base, LoraConfig(r=2, lora_alpha=4, lora_dropout=P, target_modules=["q_proj", "v_proj"])
    )
    model.train()
    assert use_poisson_dropout(model) == 2
    dropouts = [m for m in model.modules() if isinstance(m, PoissonDropout)]
    assert len(dropouts) == 2 and all(d.p == P and d.training for d in dropouts)
    assert not any(type(m) is torch.nn.Dropout for m in model.modules())
    assert use_poisson_dropout(model) == 0  # nothing left to replace
