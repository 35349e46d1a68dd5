"""Whether `chat` and `serve` may use an adapter, judged by the evaluation verdict kept
beside it (`evaluation/report/verdict.py`, the same judgement `export` applies).

A failed privacy check refuses the adapter unless forced (then a warning on every start);
a failed quality check, or no evaluation at all, is a one-line notice. Check names and
numbers only, never text.
"""

from __future__ import annotations

from astrabot_pipeline.evaluation.report.verdict import (
    EVALUATION_FILE,
    VerdictError,
    privacy_failure,
    quality_notice,
    read_verdict,
)
from astrabot_pipeline.inference.adapter import AdapterInfo
from astrabot_pipeline.inference.errors import AdapterRefusedError


def verdict_notices(info: AdapterInfo, *, force: bool = False) -> list[str]:
    """The lines to print before using the adapter `info` describes (at most one).

    Raises `AdapterRefusedError` when its evaluation failed a privacy check and not `force`.
    """
    try:
        verdict = read_verdict(info.adapter_dir)
    except VerdictError as error:
        return [f"Not evaluated: {error}; until then its privacy checks have not passed."]
    if verdict is None:
        return [
            f"Not evaluated: {info.name} has no {EVALUATION_FILE}, so its privacy checks "
            "(leakage, memorization) have not run; evaluate it (eval_report) before sharing "
            "its replies."
        ]
    failure = privacy_failure(verdict)
    if failure is not None:
        if not force:
            raise AdapterRefusedError(
                f"{info.name} {failure}. Use an adapter that passed (leave out --adapter for "
                "the last approved one), or use it anyway with --force"
            )
        return [f"Used with --force: this adapter {failure}; keep its replies to yourself."]
    notice = quality_notice(verdict)
    return [notice] if notice is not None else []


__all__ = ["verdict_notices"]
