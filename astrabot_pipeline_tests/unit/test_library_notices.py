"""Library notices a user cannot act on are silenced one by one; every other warning, from
the same libraries included, still comes through."""

from __future__ import annotations

import logging
import warnings

from astrabot_pipeline.library_notices import quiet_library_notices
from astrabot_pipeline.settings import harden_process

TRUST_CHECK = (
    "Skipping publisher trust check for 'kernels-community/quantization-bitsandbytes' "
    "because Hugging Face Hub is in offline mode."
)
GRADIENT_CHECKPOINTING = (
    "`is_gradient_checkpointing` is deprecated and will be removed in v6. Use "
    "`is_activation_checkpointing` instead."
)


def test_the_offline_trust_check_notice_is_dropped_and_other_kernels_warnings_are_kept(caplog):
    harden_process()  # every entry point calls it first
    kernels = logging.getLogger("kernels._internals.hf_hub")
    with caplog.at_level(logging.WARNING):
        kernels.warning(TRUST_CHECK)
        kernels.warning("Kernel repository is not trusted")
        logging.getLogger("bitsandbytes.backends.cpu.ops").warning(
            "Failed to load CPU gemm_4bit_forward from kernels-community: offline. Please ..."
        )
        logging.getLogger("bitsandbytes").warning("a real bitsandbytes warning")
    assert [record.getMessage() for record in caplog.records] == [
        "Kernel repository is not trusted",
        "a real bitsandbytes warning",
    ]


def test_only_the_is_gradient_checkpointing_deprecation_is_ignored():
    def warn(message: str, category: type[Warning], module: str) -> None:
        warnings.warn_explicit(message, category, f"{module}.py", 1, module=module)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_library_notices()
        warn(GRADIENT_CHECKPOINTING, FutureWarning, "transformers.modeling_utils")
        warn("`other` is deprecated", FutureWarning, "transformers.modeling_utils")
        warn(GRADIENT_CHECKPOINTING, UserWarning, "transformers.modeling_utils")
        warn(GRADIENT_CHECKPOINTING, FutureWarning, "astrabot_pipeline.training.stages")
    assert [(str(w.message)[:9], w.category, w.filename) for w in caught] == [
        ("`other` i", FutureWarning, "transformers.modeling_utils.py"),
        ("`is_gradi", UserWarning, "transformers.modeling_utils.py"),
        ("`is_gradi", FutureWarning, "astrabot_pipeline.training.stages.py"),
    ]


def test_a_real_model_reading_is_gradient_checkpointing_warns_nothing():
    from transformers import Qwen2Config, Qwen2ForCausalLM

    model = Qwen2ForCausalLM(
        Qwen2Config(
            vocab_size=32,
            hidden_size=8,
            intermediate_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=1,
        )
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        harden_process()
        assert model.is_gradient_checkpointing is False  # what peft and trl read
    assert [str(w.message) for w in caught] == []
