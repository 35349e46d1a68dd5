"""Loading the base model (the local tiny one, SmolLM2, or a real Qwen checkpoint), offline only.

On a CUDA machine a real model is loaded in 4-bit NF4 (QLoRA, double quant) computing in
bf16 where the GPU has it and fp16 otherwise (T4/V100-class GPUs); the models made
locally (tiny, and the `small` profile's SmolLM2 copy) stay in full precision. On a CPU
everything is fp32, since bitsandbytes' 4-bit path needs a GPU.
"""

from __future__ import annotations

import json
import os
import platform
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.settings import harden_process
from astrabot_pipeline.storage import atomic_output
from astrabot_pipeline.training.chat_template import use_chatml_training_template
from astrabot_pipeline.training.model_folder import is_made_locally

# torch and transformers load inside the functions that use them (~6 s on a 2-core CPU):
# the training package's settings, errors and stage results are read by every Dagster
# process start, which trains nothing.
if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel
    from transformers.tokenization_utils_base import PreTrainedTokenizerBase

# The real base model named in the design; any local path or cached hub id also works.
DEFAULT_REAL_MODEL_ID = "Qwen/Qwen2.5-7B-Instruct"


class TrainingError(AstrabotError):
    """Base class for every failure of the training package."""


class BaseModelNotFoundError(TrainingError, FileNotFoundError):
    """The base model is neither a local directory nor in the local Hugging Face cache."""


class QuantizationUnavailableError(TrainingError, ValueError):
    """4-bit loading was requested where it cannot work (no CUDA device)."""


def cuda_available() -> bool:
    import torch

    return torch.cuda.is_available()


def bf16_supported() -> bool:
    """True only on a CUDA device with native bf16 (CPU training stays fp32)."""
    import torch

    return cuda_available() and torch.cuda.is_bf16_supported()


def compute_dtype() -> torch.dtype:
    """The dtype 4-bit layers compute in: bf16 on a GPU that has it, fp16 on other GPUs
    (T4, V100: bf16 there is emulated or missing), fp32 on a CPU."""
    import torch

    if not cuda_available():
        return torch.float32
    return torch.bfloat16 if bf16_supported() else torch.float16


def mixed_precision() -> str:
    """The Trainer's mixed precision, matching `compute_dtype`: "bf16", "fp16" or "no"."""
    import torch

    return {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(compute_dtype(), "no")


def cpu_name() -> str:
    """The CPU as the platform names it ("x86_64" where it gives no model)."""
    return platform.processor() or platform.machine() or "cpu"


def four_bit_config():
    """QLoRA's quantization: 4-bit NF4 weights, double quantization, `compute_dtype` math."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(
        load_in_4bit=True,
        bnb_4bit_quant_type="nf4",
        bnb_4bit_use_double_quant=True,
        bnb_4bit_compute_dtype=compute_dtype(),
    )


def device_summary() -> dict[str, Any]:
    """What the model will run on, as JSON-able values for asset metadata and reports."""
    import torch

    if cuda_available():
        index = torch.cuda.current_device()
        props = torch.cuda.get_device_properties(index)
        name = torch.cuda.get_device_name(index)
        summary: dict[str, Any] = {
            "device": "cuda",
            "name": name,
            "memory_gib": round(props.total_memory / 2**30, 1),
            "device_count": torch.cuda.device_count(),
            "bf16": bf16_supported(),
            "mixed_precision": mixed_precision(),
        }
        description = f"cuda: {name} ({summary['memory_gib']} GiB, {summary['mixed_precision']})"
    else:
        name = cpu_name()
        threads = torch.get_num_threads()
        summary = {
            "device": "cpu",
            "name": name,
            "threads": threads,
            "bf16": False,
            "mixed_precision": "no",
        }
        description = f"cpu: {name} ({threads} threads, fp32)"
    summary["torch"] = torch.__version__
    summary["description"] = description
    return summary


@contextmanager
def quiet_progress_bars() -> Iterator[None]:
    """Silence datasets/transformers progress bars (noise in Dagster logs), then restore them."""
    import datasets
    from transformers.utils import logging as hf_logging

    datasets_were_on = datasets.is_progress_bar_enabled()
    hf_was_on = hf_logging.is_progress_bar_enabled()
    datasets.disable_progress_bars()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if datasets_were_on:
            datasets.enable_progress_bars()
        if hf_was_on:
            hf_logging.enable_progress_bar()


def _resolve_local(name_or_path: str | os.PathLike[str]) -> tuple[str, bool]:
    """(what to pass to from_pretrained, whether it is a local directory)."""
    path = Path(name_or_path).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BaseModelNotFoundError(
                f"{path} is a directory but holds no config.json: point the base model at a "
                "saved model directory (e.g. one made by build_tiny_base_model)"
            )
        return str(path.resolve()), True
    if path.exists() or str(name_or_path).startswith((".", "/", "~")):
        raise BaseModelNotFoundError(f"base model directory {path} does not exist")
    return str(name_or_path), False


def load_tokenizer(name_or_path: str | os.PathLike[str]) -> PreTrainedTokenizerBase:
    """The base model's tokenizer, from local files only, with a pad token set and, for a
    ChatML model, the training chat template (see `chat_template.py`)."""
    harden_process()
    from transformers import AutoTokenizer

    source, _ = _resolve_local(name_or_path)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
    except OSError as error:
        raise _not_found(name_or_path) from error
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    use_chatml_training_template(tokenizer)
    return tokenizer


def model_widths(name_or_path: str | os.PathLike[str]) -> tuple[int, int]:
    """The base model's hidden and MLP sizes, from its config alone (no weights loaded),
    found as `load_base_model` finds it."""
    harden_process()
    from transformers import AutoConfig

    source, _ = _resolve_local(name_or_path)
    try:
        config = AutoConfig.from_pretrained(source, local_files_only=True)
    except OSError as error:
        raise _not_found(name_or_path) from error
    text = getattr(config, "text_config", None) or config
    hidden = int(text.hidden_size)
    return hidden, int(getattr(text, "intermediate_size", None) or 4 * hidden)


def _not_found(name_or_path: str | os.PathLike[str]) -> BaseModelNotFoundError:
    return BaseModelNotFoundError(
        f"base model {str(name_or_path)!r} is not available offline. The pipeline never "
        "downloads: fetch it once beforehand (e.g. `huggingface-cli download "
        f"{name_or_path}`) or set the base model to a local directory"
    )


def model_load_kwargs(*, quantize: bool, cpu_bf16: bool = False) -> dict[str, Any]:
    """`from_pretrained` arguments for this machine: 4-bit NF4 on the current GPU
    (`quantize`), else full precision (bf16 on a bf16 GPU, fp32 elsewhere, bf16 on a CPU
    with `cpu_bf16`: training/precision.py). Offline only."""
    import torch

    kwargs: dict[str, Any] = {"local_files_only": True}
    if quantize:
        if not cuda_available():
            raise QuantizationUnavailableError(
                "4-bit (QLoRA) loading needs a CUDA GPU; on a CPU leave quantize_4bit unset "
                "or False, or use the `small` profile (ASTRABOT_MODEL_PROFILE=small)"
            )
        kwargs["quantization_config"] = four_bit_config()
        # The layers bitsandbytes leaves unquantized (norms, embeddings) in the same dtype.
        kwargs["dtype"] = compute_dtype()
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    elif cuda_available():
        # fp16 weights would make the trainer's fp16 grad scaler fail on the LoRA
        # parameters: without bf16, full precision stays fp32 (fp16 autocast on top).
        kwargs["dtype"] = torch.bfloat16 if bf16_supported() else torch.float32
        kwargs["device_map"] = {"": torch.cuda.current_device()}
    else:
        kwargs["dtype"] = torch.bfloat16 if cpu_bf16 else torch.float32
    return kwargs


def load_base_model(
    name_or_path: str | os.PathLike[str],
    *,
    quantize_4bit: bool | None = None,
    cpu_bf16: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Load (model, tokenizer) from a local directory or the local hub cache, never the network.

    `quantize_4bit=None` means "4-bit NF4 when CUDA is available, except for the models
    made locally (tiny, small)"; `True` without CUDA raises
    `QuantizationUnavailableError`; `False` loads full precision (see `model_load_kwargs`;
    `cpu_bf16` loads it in bf16 on a CPU, for a stage that trains in bf16).
    A 4-bit model comes prepared for k-bit training.
    """
    harden_process()
    from transformers import AutoModelForCausalLM

    use_cuda = cuda_available()
    if quantize_4bit and not use_cuda:
        model_load_kwargs(quantize=True)  # raises QuantizationUnavailableError
    source, is_local = _resolve_local(name_or_path)
    if quantize_4bit is None:
        quantize = use_cuda and not (is_local and is_made_locally(source))
    else:
        quantize = quantize_4bit
    tokenizer = load_tokenizer(name_or_path)
    kwargs = model_load_kwargs(quantize=quantize, cpu_bf16=cpu_bf16)

    try:
        with quiet_progress_bars():
            model = AutoModelForCausalLM.from_pretrained(source, **kwargs)
    except OSError as error:
        raise _not_found(name_or_path) from error

    if quantize:
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(
            model,
            use_gradient_checkpointing=True,
            gradient_checkpointing_kwargs={"use_reentrant": False},
        )
    if model.config.pad_token_id is None:
        model.config.pad_token_id = tokenizer.pad_token_id
    return model, tokenizer


def save_model_folder(
    out_dir: str | os.PathLike[str],
    model: PreTrainedModel,
    tokenizer: PreTrainedTokenizerBase,
    marker: str,
    build_info: dict[str, Any],
) -> Path:
    """Save a base model we made (weights, tokenizer and a `marker` JSON saying how it was
    built: numbers and names only) into `out_dir`, atomically and private."""
    out_dir = Path(out_dir)
    with atomic_output(out_dir, directory=True) as temp, quiet_progress_bars():
        model.save_pretrained(temp)
        tokenizer.save_pretrained(temp)
        (temp / marker).write_text(json.dumps(build_info, indent=2, sort_keys=True) + "\n")
    return out_dir
