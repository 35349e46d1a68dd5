"""The evaluation's verdict on an adapter, kept beside it, and the last adapter set that passed.

The evaluation writes `evaluation.json` into the folder of the adapter it judged (the
final stage's): every check with its value, threshold and severity, the headline
figures, and where the full report is. An adapter passes when every privacy check of
`error` severity passed (warnings are reported, they do not block): `export` refuses an
adapter whose verdict failed unless forced, and so do `chat` and `serve` (forced, they
warn on every start). It is approved when it passed and no quality
check of `error` severity failed either (`writes_like_owner`: it degenerates, or writes
measurably less like the owner than the base model). Only an approved adapter set is
recorded (`$ASTRABOT_DATA_DIR/models/approved.json`): that is the one `astrabot chat`,
`export` and `serve` use when no `--adapter` is named. A passed but unapproved adapter
stays usable by name; its model card, `chat` and `serve` say in one line why it was not
approved.

Numbers, check names and paths only: nothing here holds message text or an identifier.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.evaluation.report.model import Check, ReportContentError
from astrabot_pipeline.storage import write_json

EVALUATION_FILE = "evaluation.json"
APPROVED_FILE = "approved.json"
# A verdict is a few kilobytes; anything far larger is not one of ours.
MAX_VERDICT_BYTES = 1 << 20


class VerdictError(AstrabotError, ValueError):
    """An `evaluation.json` or `approved.json` exists but cannot be read as one."""


@dataclass(frozen=True)
class Verdict:
    """What the evaluation concluded about the adapter in `adapter_dir`."""

    adapter_dir: str
    checks: tuple[Check, ...]
    metrics: dict[str, float] = field(default_factory=dict)
    report: str | None = None
    evaluated_at: str = ""
    stage_adapters: tuple[str, ...] = ()

    @property
    def passed(self) -> bool:
        """Every error-severity privacy check passed: the adapter may be used."""
        return not self.failed_checks

    @property
    def approved(self) -> bool:
        """Passed, and no error-severity quality check failed: it may be the default."""
        return self.passed and not self.failed_quality_checks

    @property
    def failed_checks(self) -> list[Check]:
        """Failed error-severity privacy checks (they block any use)."""
        return [
            c for c in self.checks if c.severity == "error" and not c.passed and c.gate == "privacy"
        ]

    @property
    def failed_quality_checks(self) -> list[Check]:
        """Failed error-severity quality checks (they block approval only)."""
        return [
            c for c in self.checks if c.severity == "error" and not c.passed and c.gate == "quality"
        ]

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload["passed"] = self.passed
        payload["approved"] = self.approved
        payload["metrics"] = {k: _finite(v) for k, v in self.metrics.items()}
        return payload

    @classmethod
    def from_dict(cls, payload: Mapping[str, Any]) -> Verdict:
        try:
            checks = tuple(
                Check(
                    name=str(c["name"]),
                    passed=bool(c["passed"]),
                    value=_number(c.get("value")),
                    threshold=_number(c.get("threshold")),
                    severity=c["severity"],  # Check refuses all but "error"/"warning"
                    description=str(c.get("description", "")),
                    metric=c.get("metric"),
                    gate=c.get("gate", "privacy"),  # Check refuses anything else
                )
                for c in payload["checks"]
            )
            metrics = {
                str(k): float(v)
                for k, v in (payload.get("metrics") or {}).items()
                if _number(v) is not None
            }
            return cls(
                adapter_dir=str(payload["adapter_dir"]),
                checks=checks,
                metrics=metrics,
                report=payload.get("report") if isinstance(payload.get("report"), str) else None,
                evaluated_at=str(payload.get("evaluated_at", "")),
                stage_adapters=tuple(str(s) for s in payload.get("stage_adapters") or ()),
            )
        except (KeyError, TypeError, ValueError, ReportContentError) as error:
            raise VerdictError(
                f"the evaluation verdict is malformed ({type(error).__name__}): run the "
                "evaluation (eval_report) again"
            ) from None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _read_json(path: Path) -> Any:
    try:
        if path.stat().st_size > MAX_VERDICT_BYTES:
            raise VerdictError(f"{path} is too large to be an evaluation verdict: run it again")
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        raise VerdictError(
            f"{path} cannot be read ({type(error).__name__}): run the evaluation again"
        ) from None


def write_verdict(verdict: Verdict) -> Path:
    """`evaluation.json` in the judged adapter's folder (0600, atomic)."""
    return write_json(Path(verdict.adapter_dir) / EVALUATION_FILE, verdict.to_dict())


def read_verdict(adapter_dir: str | Path) -> Verdict | None:
    """The verdict kept beside `adapter_dir`, or None when it was never evaluated."""
    payload = _read_json(Path(adapter_dir) / EVALUATION_FILE)
    if payload is None:
        return None
    if not isinstance(payload, Mapping):
        raise VerdictError(f"{adapter_dir}/{EVALUATION_FILE} is not a verdict: run it again")
    return Verdict.from_dict(payload)


def record_approval(models_dir: str | Path, verdict: Verdict) -> Path | None:
    """Make the verdict's adapter set the default one if it was approved; None (unchanged)
    if not.

    A failing evaluation never replaces the last set that was approved.
    """
    if not verdict.approved:
        return None
    return write_json(
        Path(models_dir) / APPROVED_FILE,
        {
            "adapter_dir": verdict.adapter_dir,
            "stage_adapters": list(verdict.stage_adapters),
            "evaluated_at": verdict.evaluated_at,
        },
    )


def approved_adapter(models_dir: str | Path) -> Path | None:
    """The adapter of the last set approved by its evaluation, if any (and still there)."""
    payload = _read_json(Path(models_dir) / APPROVED_FILE)
    if not isinstance(payload, Mapping) or not isinstance(payload.get("adapter_dir"), str):
        return None
    adapter = Path(payload["adapter_dir"])
    return adapter if adapter.is_dir() else None


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def verdict_for(
    adapter_dir: str | Path,
    checks: Sequence[Check],
    *,
    metrics: Mapping[str, float] | None = None,
    report: str | Path | None = None,
    stage_adapters: Sequence[str | Path] = (),
) -> Verdict:
    """A verdict stamped with the current time."""
    return Verdict(
        adapter_dir=str(Path(adapter_dir).resolve()),
        checks=tuple(checks),
        metrics=dict(metrics or {}),
        report=None if report is None else str(report),
        evaluated_at=now_iso(),
        stage_adapters=tuple(str(Path(s).resolve()) for s in stage_adapters),
    )


def failed_checks_summary(verdict: Verdict) -> str:
    """`name value, limit threshold` for each failed blocking privacy check (numbers only)."""
    parts = []
    for check in verdict.failed_checks:
        if check.value is None or check.threshold is None:
            parts.append(f"{check.name} failed")
        else:
            parts.append(f"{check.name} {check.value:.4g}, limit {check.threshold:.4g}")
    return "; ".join(parts)


def privacy_failure(verdict: Verdict | None) -> str | None:
    """Why an adapter may not be used (`export`, `chat`, `serve` refuse it unless forced),
    or None when its verdict passed or it was never evaluated."""
    if verdict is None or verdict.passed:
        return None
    return (
        f"failed its evaluation's privacy checks ({failed_checks_summary(verdict)}): it may "
        "reproduce private data"
    )


def quality_notice(verdict: Verdict | None) -> str | None:
    """One line saying why a usable adapter was not approved (None when nothing to say)."""
    if verdict is None or not verdict.passed or verdict.approved:
        return None
    names = ", ".join(check.name for check in verdict.failed_quality_checks)
    return (
        f"Not approved: this adapter failed its quality check ({names}), its replies "
        "degenerate or read less like its owner's than the base model's; see the evaluation "
        "report."
    )
