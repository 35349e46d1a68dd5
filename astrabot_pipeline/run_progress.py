"""What a person sees of a pipeline run: one line per finished step and a closing summary,
read from the run's Dagster event log (`run_pipeline.py` feeds it the run's records).

A step's line holds its asset, its time and the one figure that says what it did, taken
from its materialization metadata; the summary says which checks passed or failed (name,
description and figures, never data: check metadata holds counts only), the verdict, where
the report is and what to run next. Every other event stays in the event log.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

Figures = Mapping[str, Any]

NAME_WIDTH = 28  # the longest asset name, lora_stage_1_conversational, and a space


def _replaced(metadata: Figures) -> int:
    return sum(int(v) for k, v in metadata.items() if k.startswith("replaced_"))


def _perplexity(metadata: Figures) -> str:
    """Test-slice perplexity of the base model and the last stage, then the verdict."""
    prefix = "perplexity.perplexity."
    models = [key[len(prefix) :] for key in metadata if key.startswith(prefix)]
    perplexity = ""
    if len(models) >= 2:
        first, last = metadata[prefix + models[0]], metadata[prefix + models[-1]]
        perplexity = f"perplexity {first:,.1f} ({models[0]}) -> {last:,.1f} ({models[-1]}), "
    verdict = metadata["verdict"]
    if verdict == "passed" and not _approved(metadata):
        verdict = "passed for privacy, not approved (writes_like_owner)"
    return f"{perplexity}verdict {verdict}"


def _approved(metadata: Figures) -> bool:
    """The evaluation approved the adapter set: privacy passed and the quality check did
    not fail (`approved`; a report from before that field counts its verdict alone)."""
    return metadata.get("verdict") == "passed" and metadata.get("approved", True) is not False


# The figure for each asset of the graph; the training stages share one (`key_figure`).
FIGURES: dict[str, Callable[[Figures], str]] = {
    "decoded_backup": lambda m: (
        f"{m['rows_messages']:,} messages decoded in {m['rows_threads']:,} threads"
    ),
    "conversation_windows": lambda m: (
        f"{m['windows']:,} windows from {m['messages_windowed']:,} messages"
    ),
    "nitter_enriched_windows": lambda m: (
        f"{m['links_found']:,} tweet links, {m['resolved']:,} resolved"
        + ("" if m["nitter_enabled"] else " (Nitter off)")
    ),
    "anonymized_windows": lambda m: (
        f"{_replaced(m):,} identifiers replaced in {m['messages']:,} messages"
    ),
    "window_profiles": lambda m: f"{m['windows']:,} windows profiled",
    "relationship_dynamics": lambda m: f"{m['threads']:,} threads described",
    "mixed_dataset": lambda m: (
        f"{m['examples']:,} examples from {m['windows']:,} windows"
        + (f", {m['audit_windows']:,} held out for the audit" if m.get("audit_windows") else "")
        + (f", {m['canaries_planted']} canaries planted" if m.get("canaries_planted") else "")
    ),
    "eval_report": _perplexity,
}


def _training_stage(metadata: Figures) -> str:
    return (
        f"validation loss {metadata['validation_loss_before']:.2f} -> "
        f"{metadata['validation_loss_after']:.2f} in {metadata['steps']} steps"
    )


def key_figure(asset: str, metadata: Figures) -> str:
    """The figure that says what `asset`'s materialization did ("" if its metadata lacks it)."""
    render = FIGURES.get(asset)
    if render is None and "validation_loss_after" in metadata:
        render = _training_stage
    try:
        return render(metadata) if render else ""
    except (KeyError, TypeError, ValueError):
        return ""


def duration(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def _value(entry: Any) -> Any:
    return getattr(entry, "value", entry)


def _figures(metadata: Mapping[str, Any]) -> str:
    """A check's numeric metadata as `name=value`, zeros and flags left out."""
    shown = []
    for name, entry in metadata.items():
        value = _value(entry)
        if isinstance(value, bool) or not isinstance(value, int | float) or value == 0:
            continue
        shown.append(f"{name}={value:.4g}" if isinstance(value, float) else f"{name}={value}")
    return ", ".join(shown)


@dataclass(frozen=True)
class CheckOutcome:
    name: str  # asset:check
    passed: bool
    is_error: bool  # ERROR severity: its failure fails `make run`; WARN only warns
    description: str
    figures: str

    def line(self) -> str:
        label = "FAILED" if self.is_error else "warning"
        figures = f"({self.figures})" if self.figures else ""
        detail = " ".join(part for part in (self.description, figures) if part)
        return f"  {label} {self.name}" + (f": {detail}" if detail else "")


@dataclass
class RunProgress:
    """Follows one run's event log entries: `handle` gives each entry's lines (a step's
    when it finishes), `summary` the closing ones."""

    metadata: dict[str, Figures] = field(default_factory=dict)
    checks: list[CheckOutcome] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    succeeded_steps: list[str] = field(default_factory=list)
    # The run's assets (its selection), to tell which never ran.
    selection: frozenset[str] = frozenset()
    run_failure: str | None = None
    succeeded: bool = False
    lines: list[str] = field(default_factory=list)  # every line `handle` returned
    _errors: dict[str, list[str]] = field(default_factory=dict)

    def handle(self, entry: dg.EventLogEntry) -> list[str]:
        """The lines `entry` adds to the terminal (most add none)."""
        lines = self._lines(entry)
        self.lines += lines
        return lines

    def _lines(self, entry: dg.EventLogEntry) -> list[str]:
        event = entry.dagster_event
        if event is None:
            # The pipeline's own warnings and errors are written for the person running it;
            # an error waits for its step's end, which often says the same.
            level = (
                logging.getLevelName(entry.level) if isinstance(entry.level, str) else entry.level
            )
            if not isinstance(level, int) or not entry.user_message:
                return []
            if level >= logging.ERROR:
                self._errors.setdefault(entry.step_key or "", []).append(entry.user_message)
            elif level >= logging.WARNING:
                return [f"  warning ({entry.step_key}): {entry.user_message}"]
            return []
        kind, step = event.event_type, event.step_key or ""
        data: Any = event.event_specific_data  # its type follows `kind`
        if kind == dg.DagsterEventType.ASSET_MATERIALIZATION:
            self.metadata[step] = {k: _value(v) for k, v in data.materialization.metadata.items()}
        elif kind == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
            self.checks.append(
                CheckOutcome(
                    name=f"{data.asset_key.to_user_string()}:{data.check_name}",
                    passed=data.passed,
                    is_error=data.severity == dg.AssetCheckSeverity.ERROR,
                    description=data.description or "",
                    figures=_figures(data.metadata),
                )
            )
        elif kind == dg.DagsterEventType.STEP_SUCCESS:
            seconds = data.duration_ms / 1000
            figure = key_figure(step, self.metadata.get(step, {}))
            self.succeeded_steps.append(step)
            line = f"  {step:<{NAME_WIDTH}}{duration(seconds):>10}  {figure}".rstrip()
            return [*self._step_errors(step, ""), line]
        elif kind == dg.DagsterEventType.STEP_FAILURE:
            reason = self._blocked_by(step, data) or _failure_reason(data)
            self.failures.append(step)
            return [
                *self._step_errors(step, reason),
                f"  {step:<{NAME_WIDTH}}{'failed':>10}  {reason}",
            ]
        elif kind == dg.DagsterEventType.RUN_FAILURE:
            self.run_failure = (event.message or "").splitlines()[0] if event.message else ""
        elif kind == dg.DagsterEventType.RUN_SUCCESS:
            self.succeeded = True
        return []

    def _blocked_by(self, step: str, data: Any) -> str:
        """For a step failed by its own blocking check: which check (its line is in the
        summary)."""
        error = getattr(data, "error", None)
        if getattr(error, "cls_name", None) != "DagsterAssetCheckFailedError":
            return ""
        failed = [
            c.name for c in self.failed_checks if c.is_error and c.name.startswith(f"{step}:")
        ]
        return f"its blocking check {', '.join(failed)} failed" if failed else ""

    def _step_errors(self, step: str, reason: str) -> list[str]:
        """The errors `step` logged, but the one its failure reports anyway."""
        errors = self._errors.pop(step, [])
        return [f"  error ({step}): {message}" for message in errors if message != reason]

    @property
    def skipped(self) -> list[str]:
        """The selected assets whose step never finished (below a failure or a block)."""
        return sorted(self.selection - {*self.succeeded_steps, *self.failures})

    @property
    def failed_checks(self) -> list[CheckOutcome]:
        return [check for check in self.checks if not check.passed]

    @property
    def ok(self) -> bool:
        """The run succeeded and no check of ERROR severity failed."""
        return self.succeeded and not any(c.is_error for c in self.failed_checks)

    def summary(self, *, chat_command: str, relative: Callable[[str], str]) -> list[str]:
        """The closing lines: checks, what was skipped, verdict, report, what to run next."""
        failed = self.failed_checks
        if self.checks:
            lines = [f"checks: {len(self.checks) - len(failed)} of {len(self.checks)} passed"]
        else:
            lines = ["checks: none ran"]
        lines += [check.line() for check in failed]
        if self.skipped:
            lines.append(f"not run: {', '.join(self.skipped)}")
        report = self.metadata.get("eval_report", {})
        if report.get("verdict") == "passed" and _approved(report):
            lines.append("verdict: passed (this adapter set is now the one `astrabot chat` uses)")
        elif report.get("verdict") == "passed":
            lines.append(
                "verdict: privacy passed, but it does not write like you yet: not approved"
                " (the report's opening paragraph says why)"
            )
        elif report.get("verdict"):
            lines.append("verdict: FAILED (the adapters are kept but not approved; see the report)")
        if report.get("report"):
            lines.append(f"report: {relative(str(report['report']))} (report.md, metrics.json)")
        if not self.succeeded:
            lines.append(f"run failed: {self._failure_cause()}")
        elif _approved(report):
            lines.append(f"next: {chat_command}   (the model answers as you; /quit leaves)")
        elif report.get("verdict") == "passed":
            lines.append(
                f"next: to talk to it anyway: {chat_command} --adapter DIR (a stage's folder)"
            )
        return lines

    def _failure_cause(self) -> str:
        if self.failures:
            return f"at {', '.join(self.failures)} (the reason is on its line above)"
        return self.run_failure or "see the run's events in the Dagster UI"


def _failure_reason(data: Any) -> str:
    """A failed step's own description (our errors' safe message), else its error's first line."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description.splitlines()[0]
    error = getattr(data, "error", None)
    message = getattr(error, "message", "") or ""
    return message.strip().splitlines()[0] if message.strip() else "see the Dagster event log"
