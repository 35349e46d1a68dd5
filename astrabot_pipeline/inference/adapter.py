"""Loading a trained LoRA adapter on the base model it was trained on, offline only.

An adapter folder written by `training.train_lora_stage` holds the PEFT adapter, the
tokenizer it was trained with and `stage_result.json`, whose `base_model` (a local folder
or a hub id in the local cache) is the only thing used to find the base.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from astrabot_pipeline.inference.chat_template_guard import choose_chat_template
from astrabot_pipeline.inference.errors import AdapterUnusableError, BaseModelUnavailableError
from astrabot_pipeline.settings import harden_process
from astrabot_pipeline.training.chat_template import stop_token_ids
from astrabot_pipeline.training.checkpoints import (
    ADAPTER_CONFIG_FILE,
    LATEST_FILE,
    AdapterNotFoundError,
    latest_adapter_dir,
)
from astrabot_pipeline.training.stage_result import STAGE_RESULT_FILE

ADAPTER_WEIGHT_FILE = "adapter_model.safetensors"
# Pickled weights: loading one may run code, and training never writes it.
PICKLED_WEIGHT_FILE = "adapter_model.bin"
TOKENIZER_CONFIG_FILE = "tokenizer_config.json"
TOKENIZER_FILES = ("tokenizer.json", TOKENIZER_CONFIG_FILE)
MAX_STAGE_RESULT_BYTES = 1 << 20
# A tokenizer config holds the added tokens and maybe a template: a few hundred kB at most.
MAX_CONFIG_BYTES = 16 << 20


@dataclass(frozen=True)
class AdapterInfo:
    """What an adapter folder says about itself: its base and `stage_result.json` as read."""

    adapter_dir: Path
    base_model: str
    stage_result: dict[str, Any] = field(repr=False)

    @property
    def name(self) -> str:
        """The stage's name: its folder's, when the adapter is one run inside it."""
        stage = self.adapter_dir.parent
        return stage.name if (stage / LATEST_FILE).is_file() else self.adapter_dir.name

    @property
    def reply_line_cap(self) -> int | None:
        """The owner's 90th-percentile burst length in lines, as training stored it (None
        for an adapter trained before it was stored)."""
        cap = self.stage_result.get("reply_line_cap")
        return cap if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 1 else None

    @property
    def base_is_local(self) -> bool:
        """Whether the base is named by a path (else it is a hub id)."""
        return _looks_like_path(self.base_model)


@dataclass
class LoadedModel:
    """A model ready to generate: base + adapter (or merged), its tokenizer and stop tokens."""

    model: Any
    tokenizer: Any
    info: AdapterInfo
    stop_token_ids: tuple[int, ...]
    notes: tuple[str, ...] = ()  # one line each, for the commands to print before use

    @property
    def reply_line_cap(self) -> int | None:
        return self.info.reply_line_cap

    @property
    def context_tokens(self) -> int:
        """How many tokens (prompt and reply together) the model's positions allow."""
        return int(getattr(self.model.config, "max_position_embeddings", 0) or 2048)


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or Path(name).expanduser().exists()


def read_adapter_info(adapter_dir: str | os.PathLike[str]) -> AdapterInfo:
    """Check that `adapter_dir` holds a complete adapter (or is a stage's folder, then its
    latest finished run's adapter) and read its `stage_result.json`.

    Reads no weights; raises `AdapterUnusableError` with the missing piece named.
    """
    folder = Path(adapter_dir).expanduser()
    if not folder.is_dir():
        raise AdapterUnusableError(
            f"no adapter folder at {folder}: point --adapter at a trained stage's folder, "
            "e.g. $ASTRABOT_DATA_DIR/models/lora_stage_3_burst (made by `make run`)"
        )
    if not (folder / ADAPTER_CONFIG_FILE).is_file() and (folder / LATEST_FILE).is_file():
        # A stage's folder (models/<stage>/): its latest finished run's adapter.
        try:
            folder = latest_adapter_dir(folder)
        except AdapterNotFoundError as error:
            raise AdapterUnusableError(str(error)) from None
    missing = [
        name
        for name in (ADAPTER_CONFIG_FILE, STAGE_RESULT_FILE, ADAPTER_WEIGHT_FILE)
        if not (folder / name).is_file()
    ]
    if missing == [ADAPTER_WEIGHT_FILE] and (folder / PICKLED_WEIGHT_FILE).is_file():
        raise AdapterUnusableError(
            f"{folder} holds its weights only as a pickle ({PICKLED_WEIGHT_FILE}), which can "
            f"run code when loaded: astrabot reads {ADAPTER_WEIGHT_FILE} only (training "
            "writes it); train that stage again"
        )
    if missing:
        raise AdapterUnusableError(
            f"{folder} is not a complete LoRA adapter (missing {', '.join(missing)}): point "
            "--adapter at a folder a training stage finished, or train that stage again"
        )
    _refuse_foreign_code(folder)
    result_path = folder / STAGE_RESULT_FILE
    try:
        if result_path.stat().st_size > MAX_STAGE_RESULT_BYTES:
            raise ValueError("too large")
        result = json.loads(result_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        result = None
    base = result.get("base_model") if isinstance(result, dict) else None
    if not isinstance(base, str) or not base.strip():
        raise AdapterUnusableError(
            f"{result_path} is unreadable or names no base_model: train that stage again"
        )
    return AdapterInfo(adapter_dir=folder.resolve(), base_model=base, stage_result=result)


def _read_config(path: Path) -> dict[str, Any] | None:
    """A small JSON object file as a dict; None when absent; refused when not one."""
    if not path.is_file():
        return None
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ValueError("too large")
        payload = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        payload = None
    if not isinstance(payload, dict):
        raise AdapterUnusableError(f"{path} is not a readable JSON object: train that stage again")
    return payload


def _refuse_foreign_code(folder: Path) -> None:
    """Refuse a folder that asks for code of its own (`auto_map`, a non-LoRA PEFT type):
    astrabot never runs code from an adapter folder, and training writes neither."""
    adapter_config = _read_config(folder / ADAPTER_CONFIG_FILE) or {}
    tokenizer_config = _read_config(folder / TOKENIZER_CONFIG_FILE) or {}
    if adapter_config.get("peft_type", "LORA") != "LORA" or adapter_config.get("auto_mapping"):
        what = f"{ADAPTER_CONFIG_FILE} names a PEFT type or classes astrabot does not train"
    elif tokenizer_config.get("auto_map"):
        what = f"{TOKENIZER_CONFIG_FILE} asks for a tokenizer class defined by code in the folder"
    else:
        return
    raise AdapterUnusableError(
        f"{folder} is not an adapter astrabot trained ({what}); it is never run: train that "
        "stage again"
    )


def _unavailable(info: AdapterInfo, reason: str) -> BaseModelUnavailableError:
    if info.base_is_local:
        fix = (
            "restore that folder, or run the training stages again (they rebuild the base "
            "model under $ASTRABOT_DATA_DIR/models)"
        )
    else:
        fix = (
            f"fetch it once while online (`huggingface-cli download {info.base_model}`); "
            "astrabot never downloads"
        )
    return BaseModelUnavailableError(
        f"the adapter {info.name} was trained on the base model {info.base_model!r}, which "
        f"{reason}: {fix}"
    )


def _load_tokenizer(info: AdapterInfo, base_tokenizer: Any) -> Any:
    """The tokenizer saved beside the adapter (what training used), else the base's."""
    if not any((info.adapter_dir / name).is_file() for name in TOKENIZER_FILES):
        tokenizer = base_tokenizer
    else:
        from transformers import AutoTokenizer

        try:
            tokenizer = AutoTokenizer.from_pretrained(
                str(info.adapter_dir), local_files_only=True, trust_remote_code=False
            )
        except Exception as error:  # noqa: BLE001 - a damaged file fails in many library types
            raise AdapterUnusableError(
                f"the tokenizer saved in {info.adapter_dir} cannot be read "
                f"({type(error).__name__}): train that stage again"
            ) from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    if not getattr(tokenizer, "chat_template", None):
        raise AdapterUnusableError(
            f"the tokenizer of {info.name} has no chat template, so a conversation cannot be "
            "turned into a prompt: train the stage again with a chat model's tokenizer"
        )
    return tokenizer


def load_adapter(
    adapter_dir: str | os.PathLike[str],
    *,
    for_export: bool = False,
    adapter_chat_template: bool = False,
) -> LoadedModel:
    """Base model (from `stage_result.json`) + the LoRA adapter, in eval mode, offline.

    Prompts are rendered with the template astrabot trains with, unless
    `adapter_chat_template` (then the folder's own, under a bound: `chat_template_guard`).
    `for_export=True` loads the base in full precision and merges the adapter into it
    (`merge_and_unload`), so the result is a plain transformers model. Otherwise the base
    loads as training loaded it (4-bit on CUDA for a real model) with the adapter on top.
    """
    harden_process()
    info = read_adapter_info(adapter_dir)
    if info.base_is_local and not (Path(info.base_model).expanduser() / "config.json").is_file():
        raise _unavailable(info, "no longer exists (or holds no saved model)")

    from peft import PeftModel
    from transformers import GenerationConfig, PreTrainedModel

    from astrabot_pipeline.training.base_model import (
        BaseModelNotFoundError,
        load_base_model,
        quiet_progress_bars,
    )

    try:
        base, base_tokenizer = load_base_model(
            info.base_model, quantize_4bit=False if for_export else None
        )
    except BaseModelNotFoundError:
        raise _unavailable(info, "is not available offline") from None
    tokenizer = _load_tokenizer(info, base_tokenizer)
    note = choose_chat_template(tokenizer, info.name, adapter_template=adapter_chat_template)
    model: PeftModel | PreTrainedModel
    try:
        with quiet_progress_bars():
            model = PeftModel.from_pretrained(base, str(info.adapter_dir), is_trainable=False)
    except Exception as error:  # noqa: BLE001 - its type only: a library message is not ours
        raise AdapterUnusableError(
            f"the adapter in {info.adapter_dir} does not fit its recorded base model "
            f"{info.base_model!r} ({type(error).__name__}): train that stage again"
        ) from None
    if for_export:
        # peft types the result as an nn.Module: it is the base model, adapter merged in.
        model = cast("PreTrainedModel", model.merge_and_unload())
    model.eval()
    stop_ids = stop_token_ids(tokenizer, model)
    # Generation settings come from each request only: the base's saved sampling defaults
    # (temperature, top_p, ...) would otherwise fill whatever a request leaves unset.
    model.generation_config = GenerationConfig(
        eos_token_id=list(stop_ids) or None,
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=getattr(model.generation_config, "bos_token_id", None),
    )
    return LoadedModel(
        model=model,
        tokenizer=tokenizer,
        info=info,
        stop_token_ids=stop_ids,
        notes=() if note is None else (note,),
    )


__all__ = [
    "AdapterInfo",
    "LoadedModel",
    "load_adapter",
    "read_adapter_info",
]
