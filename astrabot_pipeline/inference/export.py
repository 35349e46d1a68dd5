"""`astrabot export`: the adapter merged into its base, as a plain transformers model folder.

The folder holds the merged weights (safetensors), config, generation config and
tokenizer, a model card (`README.md`) and an Ollama `Modelfile`. It is written into a
hidden temporary sibling and renamed into place only when complete, private (0600 files,
0700 folders), and carries the `.astrabot-export` marker so a later export may replace it.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline.evaluation.report.verdict import privacy_failure, read_verdict
from astrabot_pipeline.inference.adapter import load_adapter, read_adapter_info
from astrabot_pipeline.inference.errors import ExportRefusedError
from astrabot_pipeline.inference.export_folder import check_export_folder, write_marker
from astrabot_pipeline.inference.model_card import read_evaluation, render_model_card
from astrabot_pipeline.inference.modelfile import MODELFILE_NAME, render_modelfile
from astrabot_pipeline.storage import atomic_output
from astrabot_pipeline.training.base_model import quiet_progress_bars
from astrabot_pipeline.training.chat_template import IM_START
from astrabot_pipeline.training.model_folder import is_tiny_base_model

MODEL_CARD_NAME = "README.md"


@dataclass(frozen=True)
class ExportResult:
    """Where the export went and what it holds (sizes and counts only)."""

    out_dir: Path
    files: tuple[str, ...]
    size_bytes: int
    parameters: int
    seconds: float
    evaluation_found: bool
    verdict: str  # "passed", "failed" (exported with force) or "not evaluated"


def export_model(
    adapter_dir: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    reports_dir: Path | None = None,
    force: bool = False,
) -> ExportResult:
    """Merge the adapter in `adapter_dir` into its recorded base and write it to `out`.

    `out` must be new, empty, or an earlier export (replaced); anything else raises
    `ExportFolderError` before any model is loaded. `reports_dir` is where the evaluation
    report is looked for (its figures go into the model card). An adapter whose
    evaluation verdict (`evaluation.json` beside it) failed a blocking check raises
    `ExportRefusedError`, unless `force`: then its card says it is not for use.
    """
    started = time.perf_counter()
    target = check_export_folder(out)
    info = read_adapter_info(adapter_dir)  # a missing adapter fails before the slow part
    verdict = read_verdict(info.adapter_dir)
    failure = privacy_failure(verdict)
    if failure is not None and not force:
        raise ExportRefusedError(
            f"{info.name} {failure}. Train again (more anonymization, fewer steps) and "
            "re-evaluate, or export anyway with --force (the model card then says it is not "
            "for use)"
        )
    loaded = load_adapter(adapter_dir, for_export=True)
    model, tokenizer, info = loaded.model, loaded.tokenizer, loaded.info
    tiny = info.base_is_local and is_tiny_base_model(Path(info.base_model).expanduser())
    evaluation = read_evaluation(reports_dir)
    parameters = int(model.num_parameters())
    card = render_model_card(
        info,
        architecture=", ".join(getattr(model.config, "architectures", None) or ["unknown"]),
        parameters=parameters,
        dtype=str(model.dtype).removeprefix("torch."),
        context_tokens=loaded.context_tokens,
        tiny=tiny,
        evaluation=evaluation,
        verdict=verdict,
    )
    modelfile = render_modelfile(
        chatml=IM_START in tokenizer.get_vocab(), context_tokens=loaded.context_tokens
    )
    # The folder names of the build are not the model's: keep them out of its files.
    model.config.name_or_path = info.name
    tokenizer.name_or_path = info.name
    for loading_option in ("local_files_only", "is_local"):  # how we loaded it, not the model's
        tokenizer.init_kwargs.pop(loading_option, None)

    with atomic_output(target, directory=True) as temp, quiet_progress_bars():
        model.save_pretrained(str(temp), safe_serialization=True)
        tokenizer.save_pretrained(str(temp))
        (temp / MODEL_CARD_NAME).write_text(card, encoding="utf-8")
        (temp / MODELFILE_NAME).write_text(modelfile, encoding="utf-8")
        write_marker(temp, info.name)
        check_export_folder(target)  # nothing foreign appeared meanwhile
        files = tuple(sorted(p.name for p in temp.iterdir()))
        size = sum(p.stat().st_size for p in temp.rglob("*") if p.is_file())
    return ExportResult(
        out_dir=target,
        files=files,
        size_bytes=size,
        parameters=parameters,
        seconds=round(time.perf_counter() - started, 3),
        evaluation_found=evaluation is not None,
        verdict="not evaluated" if verdict is None else ("passed" if verdict.passed else "failed"),
    )


__all__ = ["ExportResult", "export_model"]
