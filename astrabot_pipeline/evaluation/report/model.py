"""The evaluation report as typed data: sections of numbers per model, checks, loss curves,
notes and a reproducibility record, validated before anything is rendered.

A report holds numbers, model names, counts and settings only, never text from the data:
every value in a table is a number, a boolean or None, and the few strings it has (titles,
labels, notes, names) are written by code and checked for shape. Notes may only speak of
results the report holds: a note that mentions, say, memorization in a report without a
memorization result is refused (`TOPICS` lists what is recognised).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from astrabot_pipeline.evaluation.quality.bootstrap import Comparison
from astrabot_pipeline.evaluation.quality.perplexity import EvaluationError
from astrabot_pipeline.privacy.identifier_digests import KINDS as IDENTIFIER_KINDS

Number = int | float
Value = int | float | bool | None
Better = Literal["lower", "higher"] | None
Severity = Literal["error", "warning"]
# What a failed error-severity check keeps from happening: "privacy" keeps the adapter from
# being used at all (export, chat and serve refuse it) and from approval; "quality" keeps
# it from approval only (it never becomes the default), and says so where it is used.
Gate = Literal["privacy", "quality"]

REPORT_FORMAT = "astrabot-evaluation-report"
REPORT_FORMAT_VERSION = 1
# How a check's value and threshold are shown (metrics.json keeps full precision).
CHECK_FORMAT = ".4g"

_KEY = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")
# Settings and reproducibility strings: versions, hashes, hub ids, sacrebleu signatures.
_SETTING_STRING = re.compile(r"^[A-Za-z0-9 _.,:;|+=()\[\]@#%/-]{0,200}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
MAX_NAME_CHARS = 100
MAX_TEXT_CHARS = 1000
MAX_RECORD_DEPTH = 5
MAX_RECORD_ITEMS = 500


class ReportContentError(EvaluationError):
    """Something that may not go in a report was put in it (a string where a number
    belongs, a path, a malformed key, a non-finite number)."""


class ReportReferenceError(ReportContentError):
    """A note or check speaks of a result the report does not hold."""


@dataclass(frozen=True)
class Topic:
    """A kind of result a note can mention: the words that mention it, and the section or
    column keys of which one must be in the report for the mention to be allowed."""

    name: str
    pattern: str
    keys: frozenset[str]


TOPICS: tuple[Topic, ...] = (
    Topic("perplexity", r"\bperplexit", frozenset({"perplexity"})),
    Topic("bits per character", r"\bbits per char", frozenset({"bits_per_char"})),
    Topic("BLEU", r"\bBLEU\b", frozenset({"bleu"})),
    Topic("chrF", r"\bchrF", frozenset({"chrf"})),
    Topic(
        "next-reply ranking",
        r"\branking\b|\breciprocal rank|\bMRR\b",
        frozenset({"ranking", "ranking_accuracy", "mrr", "ranking_accuracy_likelihood"}),
    ),
    Topic("style match", r"\bstyle\b|\bJensen", frozenset({"style", "style_match"})),
    Topic(
        "leakage",
        r"\bleak",
        frozenset(
            {"leakage", "pii_leakage_score", "probing_leakage_rate"}
            | {f"leaks_{kind}" for kind in IDENTIFIER_KINDS}
        ),
    ),
    Topic("extraction", r"\bextraction\b", frozenset({"extraction_recall"})),
    Topic(
        "memorization",
        r"\bmemori[sz]ation\b",
        frozenset({"memorization", "memorization_score"}),
    ),
    Topic(
        "authorship attribution",
        r"\battribut",
        frozenset({"attribution", "attributed_to_owner"}),
    ),
    Topic(
        "degeneration",
        r"\bdegenerat|\bdistinct-[12]\b|\brepeated line",
        frozenset({"degeneration", "distinct_1", "distinct_2", "repeated_line_share"}),
    ),
    Topic("membership inference", r"\bmembership\b", frozenset({"membership"})),
    Topic(
        "canary exposure",
        r"\bexposure\b|\bcanar",
        frozenset({"canary_exposure", "exposure", "canaries"}),
    ),
)
_TOPIC_PATTERNS = [(topic, re.compile(topic.pattern, re.IGNORECASE)) for topic in TOPICS]


def _key(value: Any, where: str) -> str:
    if not isinstance(value, str) or not _KEY.match(value):
        raise ReportContentError(
            f"{where} must be a key of letters, digits, '_', '.' or '-' (1 to 64 characters)"
        )
    return value


def _text(value: Any, where: str, limit: int = MAX_TEXT_CHARS) -> str:
    """A string written by code: bounded, one line, no control characters."""
    if not isinstance(value, str) or len(value) > limit or _CONTROL.search(value):
        raise ReportContentError(
            f"{where} must be a one-line string of at most {limit} characters written by "
            "code; data never goes in a report"
        )
    return value


def _name(value: Any, where: str) -> str:
    value = _text(value, where, MAX_NAME_CHARS)
    if not value.strip():
        raise ReportContentError(f"{where} must not be empty")
    return value


def _value(value: Any, where: str) -> Value:
    """A table value: a finite number, a boolean or None."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if isinstance(value, float) and not math.isfinite(value):
            raise ReportContentError(
                f"{where} is not a finite number: the evaluation that produced it failed"
            )
        return value
    raise ReportContentError(
        f"{where} holds a {type(value).__name__}: only numbers, booleans or None may go in "
        "a report's tables"
    )


def _setting(value: Any, where: str) -> Any:
    """A setting string: a version, a hash, a hub id or a signature, never a path."""
    if isinstance(value, str):
        if (
            not _SETTING_STRING.match(value)
            or value.startswith(("/", "~"))
            or value.count("/") > 2
            or "../" in value
        ):
            raise ReportContentError(
                f"{where} is not a setting string (a version, hash, hub id or signature); "
                "a path must be reduced to its last part"
            )
        return value
    return _value(value, where)


def _record(value: Any, where: str, depth: int = 0) -> Any:
    """A JSON-able reproducibility record: nested dicts with key names, lists, settings."""
    if depth > MAX_RECORD_DEPTH:
        raise ReportContentError(f"{where} nests deeper than {MAX_RECORD_DEPTH} levels")
    if isinstance(value, Mapping):
        if len(value) > MAX_RECORD_ITEMS:
            raise ReportContentError(f"{where} has more than {MAX_RECORD_ITEMS} entries")
        return {
            _key(k, f"a key in {where}"): _record(v, f"{where}.{k}", depth + 1)
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        if len(value) > MAX_RECORD_ITEMS:
            raise ReportContentError(f"{where} has more than {MAX_RECORD_ITEMS} items")
        return [_record(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
    return _setting(value, where)


def format_value(value: Value, fmt: str) -> str:
    """A table cell: `fmt` (a format spec) for numbers, yes/no for booleans, — for None."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    return format(value, fmt)


def mentioned_topics(text: str) -> list[Topic]:
    """The kinds of result `text` speaks of."""
    return [topic for topic, pattern in _TOPIC_PATTERNS if pattern.search(text)]


@dataclass(frozen=True)
class Column:
    """One figure of a section: `fmt` is a format spec (".4f", "d", "+.1f"); `better` says
    which direction is an improvement, when one is."""

    key: str
    label: str
    fmt: str = ".4g"
    better: Better = None

    def __post_init__(self) -> None:
        _key(self.key, "a column key")
        _name(self.label, f"column {self.key}'s label")
        if self.better not in ("lower", "higher", None):
            raise ReportContentError(f"column {self.key}: better must be lower, higher or None")
        try:
            format(1, self.fmt)
        except (ValueError, TypeError) as error:
            raise ReportContentError(
                f"column {self.key}: {self.fmt!r} is no format spec"
            ) from error


@dataclass(frozen=True)
class ReferenceLine:
    """A horizontal line on a column's chart panel, e.g. chance level."""

    column: str
    value: float
    label: str

    def __post_init__(self) -> None:
        _key(self.column, "a reference line's column")
        if _value(self.value, f"reference line on {self.column}") is None:
            raise ReportContentError(f"reference line on {self.column} needs a value")
        _name(self.label, f"reference line on {self.column}'s label")


@dataclass(frozen=True)
class ChartSpec:
    """A bar chart of a section in the HTML report: one panel per column, a bar per model."""

    columns: tuple[str, ...]
    references: tuple[ReferenceLine, ...] = ()
    log_scale: bool = False
    caption: str = ""

    def __post_init__(self) -> None:
        if not self.columns:
            raise ReportContentError("a chart needs at least one column")
        for column in self.columns:
            _key(column, "a chart column")
        _text(self.caption, "a chart caption")


@dataclass
class ReportSection:
    """A table of figures per model (`rows`: model name -> column key -> value), what the
    figures can and cannot show (`notes`), the settings they were measured with, and an
    optional chart."""

    title: str
    key: str
    columns: list[Column]
    rows: dict[str, dict[str, Value]]
    notes: list[str] = field(default_factory=list)
    chart: ChartSpec | None = None
    settings: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        _key(self.key, "a section key")
        _name(self.title, f"section {self.key}'s title")
        keys = [_key(c.key, f"a column of section {self.key}") for c in self.columns]
        if not keys or len(set(keys)) != len(keys):
            raise ReportContentError(f"section {self.key} needs columns with distinct keys")
        for index, (model, values) in enumerate(self.rows.items()):
            _name(model, f"section {self.key}, row {index}'s model name")
            if not isinstance(values, Mapping):
                raise ReportContentError(f"section {self.key}, row {index} must be a mapping")
            unknown = [k for k in values if k not in keys]
            if unknown:
                raise ReportContentError(
                    f"section {self.key}, row {index} has {len(unknown)} value(s) outside "
                    "its columns"
                )
            for column in self.columns:
                value = _value(
                    values.get(column.key), f"section {self.key}, row {index}, {column.key}"
                )
                if isinstance(value, float) and column.fmt.endswith(("d", "n", "x", "b", "o")):
                    raise ReportContentError(
                        f"section {self.key}, row {index}, {column.key}: its format takes integers"
                    )
        for index, note in enumerate(self.notes):
            _text(note, f"section {self.key}, note {index}")
        for key, value in self.settings.items():
            _setting(value, f"section {self.key}, setting {_key(key, 'a setting key')}")
        if self.chart is not None:
            for named in (*self.chart.columns, *(r.column for r in self.chart.references)):
                if named not in keys:
                    raise ReportReferenceError(
                        f"section {self.key}'s chart names column {named}, which it lacks"
                    )

    def value(self, model: str, column: str) -> Value:
        return self.rows.get(model, {}).get(column)


@dataclass(frozen=True)
class Check:
    """A pass/fail judgement on a figure: `value` against `threshold`, at `severity`;
    `gate` says what a failure at error severity blocks (see `Gate`)."""

    name: str
    passed: bool
    value: Number | None
    threshold: Number | None
    severity: Severity
    description: str
    metric: str | None = None  # the column key it judges, when there is one
    gate: Gate = "privacy"

    def __post_init__(self) -> None:
        _key(self.name, "a check name")
        if not isinstance(self.passed, bool):
            raise ReportContentError(f"check {self.name}: passed must be a boolean")
        for what in ("value", "threshold"):
            value = _value(getattr(self, what), f"check {self.name}'s {what}")
            if isinstance(value, bool):
                raise ReportContentError(f"check {self.name}'s {what} must be a number or None")
        if self.severity not in ("error", "warning"):
            raise ReportContentError(f"check {self.name}: severity must be error or warning")
        if self.gate not in ("privacy", "quality"):
            raise ReportContentError(f"check {self.name}: gate must be privacy or quality")
        _text(self.description, f"check {self.name}'s description")
        if self.metric is not None:
            _key(self.metric, f"check {self.name}'s metric")


@dataclass(frozen=True)
class Difference:
    """A tuned model's difference from the base on one figure (`comparison.metric`, a
    column key), with its paired bootstrap interval; `label` is how the report names it."""

    model: str
    label: str
    comparison: Comparison

    def __post_init__(self) -> None:
        _name(self.model, "a difference's model name")
        _name(self.label, "a difference's label")
        _key(self.comparison.metric, "a difference's metric")
        for what in ("difference", "low", "high"):
            _value(getattr(self.comparison, what), f"difference {self.label}'s {what}")
        if self.comparison.better not in ("lower", "higher"):
            raise ReportContentError(f"difference {self.label}: better must be lower or higher")


def _iso(moment: datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


LOSS_KEYS = ("step", "train_loss", "validation_loss")


@dataclass
class EvaluationReport:
    """Everything a report shows. `loss_curves` maps a stage to its `{"step",
    "train_loss", "validation_loss"}` rows; `adapters` a model name to its adapter
    folder's name (None for the base model)."""

    title: str
    base_model: str
    profile: str
    device: str
    sample_sizes: dict[str, int]
    sections: list[ReportSection]
    checks: list[Check] = field(default_factory=list)
    loss_curves: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    reproducibility: dict[str, Any] = field(default_factory=dict)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    adapters: dict[str, str | None] = field(default_factory=dict)
    # Tuned-minus-base differences with their intervals, and the plain-language paragraph
    # the report opens with (built from the report's own numbers).
    differences: list[Difference] = field(default_factory=list)
    summary: str = ""

    def __post_init__(self) -> None:
        self.validate()

    # -- validation -------------------------------------------------------------------

    def result_keys(self) -> set[str]:
        """The section and column keys of the results this report holds."""
        keys = {section.key for section in self.sections}
        for section in self.sections:
            keys |= {
                column.key
                for column in section.columns
                if any(section.value(model, column.key) is not None for model in section.rows)
            }
        # A difference is a result even when nothing could be measured (n = 0): it says so.
        return keys | {difference.comparison.metric for difference in self.differences}

    def _require_topics(self, text: str, where: str, present: set[str]) -> None:
        for topic in mentioned_topics(text):
            if not topic.keys & present:
                raise ReportReferenceError(
                    f"{where} speaks of {topic.name}, a result this report does not hold: "
                    "drop the note or add the section"
                )

    def validate(self) -> None:
        """Raise `ReportContentError` on anything that may not go in a report."""
        _name(self.title, "the report's title")
        _setting(_name(self.base_model, "the base model's name"), "the base model's name")
        _setting(self.profile, "the profile")
        _text(self.device, "the device", MAX_NAME_CHARS)
        for key, count in self.sample_sizes.items():
            if not isinstance(count, int) or isinstance(count, bool) or count < 0:
                raise ReportContentError(
                    f"sample size {_key(key, 'a sample size key')} must be a count"
                )
            _key(key, "a sample size key")
        for section in self.sections:
            section.validate()
        section_keys = [section.key for section in self.sections]
        if len(set(section_keys)) != len(section_keys):
            raise ReportContentError("two sections share a key")
        names = [check.name for check in self.checks]
        if len(set(names)) != len(names):
            raise ReportContentError("two checks share a name")
        for stage, rows in self.loss_curves.items():
            _name(stage, "a loss curve's stage")
            for index, row in enumerate(rows):
                if not isinstance(row, Mapping) or set(row) - set(LOSS_KEYS):
                    raise ReportContentError(
                        f"loss curve row {index} must hold only {', '.join(LOSS_KEYS)}"
                    )
                for key in LOSS_KEYS:
                    _value(row.get(key), f"loss curve row {index}, {key}")
        for model, adapter in self.adapters.items():
            _name(model, "an adapter's model name")
            if adapter is not None:
                _key(adapter, "an adapter folder's name")
        for index, note in enumerate(self.notes):
            _text(note, f"report note {index}")
        for difference in self.differences:
            Difference.__post_init__(difference)
        _text(self.summary, "the report's summary", 2 * MAX_TEXT_CHARS)
        self.reproducibility = _record(self.reproducibility, "reproducibility")
        if self.finished_at < self.started_at:
            raise ReportContentError("the report finished before it started")

        present = self.result_keys()
        for section in self.sections:
            for index, note in enumerate(section.notes):
                self._require_topics(note, f"section {section.key}, note {index}", present)
        for index, note in enumerate(self.notes):
            self._require_topics(note, f"report note {index}", present)
        self._require_topics(self.summary, "the report's summary", present)
        for check in self.checks:
            self._require_topics(check.description, f"check {check.name}", present)
            if check.metric is not None and check.metric not in present:
                raise ReportReferenceError(
                    f"check {check.name} judges {check.metric}, a result this report lacks"
                )

    # -- views --------------------------------------------------------------------------

    def models(self) -> list[str]:
        """Every model with a figure, in order of first appearance (the base first)."""
        seen: dict[str, None] = {}
        for section in self.sections:
            seen.update(dict.fromkeys(section.rows))
        return list(seen)

    @property
    def duration_seconds(self) -> float:
        return round((self.finished_at - self.started_at).total_seconds(), 1)

    def flat_metrics(self) -> dict[str, float]:
        """Every number as `{section}.{column}.{model}` -> float (for asset metadata)."""
        flat = {}
        for section in self.sections:
            for model, values in section.rows.items():
                for column in section.columns:
                    value = values.get(column.key)
                    if value is not None and not isinstance(value, bool):
                        flat[f"{section.key}.{column.key}.{model}"] = float(value)
        return flat

    def metrics(self) -> dict[str, Any]:
        """The `metrics.json` payload: every figure per model, the checks, the loss curves
        and the reproducibility record, with how each column is shown."""
        self.validate()
        per_model: dict[str, dict[str, dict[str, Value]]] = {m: {} for m in self.models()}
        for section in self.sections:
            for model, values in section.rows.items():
                per_model[model][section.key] = {
                    column.key: values.get(column.key) for column in section.columns
                }
        return {
            "format": REPORT_FORMAT,
            "version": REPORT_FORMAT_VERSION,
            "title": self.title,
            "base_model": self.base_model,
            "profile": self.profile,
            "device": self.device,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "duration_seconds": self.duration_seconds,
            "sample_sizes": dict(self.sample_sizes),
            "models": self.models(),
            "adapters": {model: self.adapters.get(model) for model in self.models()},
            "metrics": per_model,
            "sections": [
                {
                    "key": section.key,
                    "title": section.title,
                    "columns": [
                        {"key": c.key, "label": c.label, "fmt": c.fmt, "better": c.better}
                        for c in section.columns
                    ],
                    "settings": dict(section.settings),
                    "notes": list(section.notes),
                }
                for section in self.sections
            ],
            "checks": [
                {
                    "name": check.name,
                    "passed": check.passed,
                    "value": check.value,
                    "threshold": check.threshold,
                    "severity": check.severity,
                    "description": check.description,
                    "metric": check.metric,
                    "gate": check.gate,
                }
                for check in self.checks
            ],
            "check_format": CHECK_FORMAT,
            "differences": [
                {"model": d.model, "label": d.label, **d.comparison.to_dict()}
                for d in self.differences
            ],
            "summary": self.summary,
            # A list: the stages' order is the curriculum's (metrics.json sorts its keys).
            "loss_curves": [
                {"stage": stage, "rows": [{k: row.get(k) for k in LOSS_KEYS} for row in rows]}
                for stage, rows in self.loss_curves.items()
            ],
            "notes": list(self.notes),
            "reproducibility": self.reproducibility,
        }


def loss_curve_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, Value]:
    """What the Markdown report shows of a loss curve: its length and its key losses."""
    validation = [r["validation_loss"] for r in rows if r.get("validation_loss") is not None]
    train = [r["train_loss"] for r in rows if r.get("train_loss") is not None]
    return {
        "steps": max((int(r["step"]) for r in rows if r.get("step") is not None), default=0),
        "validation_loss_first": validation[0] if validation else None,
        "validation_loss_last": validation[-1] if validation else None,
        "validation_loss_best": min(validation) if validation else None,
        "train_loss_last": train[-1] if train else None,
    }


__all__ = [
    "CHECK_FORMAT",
    "ChartSpec",
    "Check",
    "Column",
    "Difference",
    "EvaluationReport",
    "ReferenceLine",
    "ReportContentError",
    "ReportReferenceError",
    "ReportSection",
    "TOPICS",
    "Topic",
    "format_value",
    "loss_curve_summary",
    "mentioned_topics",
]
