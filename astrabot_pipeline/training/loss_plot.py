"""Charts as PNG images: a stage's loss curve, every stage's curves in one figure, and bar
charts of evaluation figures per model.

Rendered with matplotlib's Agg backend on a `Figure` of its own (no pyplot, no display,
no global state), so it works headless and in any thread. Numbers and model names only go
in; names are shown literally (mathtext's `$` is escaped).
"""

from __future__ import annotations

import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

LOSS_CURVE_FILE = "loss_curve.png"
_LOSS_LINES = (
    ("train_loss", "training loss", "-"),
    ("validation_loss", "validation loss", "o--"),
)


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), dpi=100, layout="constrained")


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()


def _literal(label: str) -> str:
    """`label` as matplotlib shows it verbatim (a `$` would start mathtext)."""
    return label.replace("$", r"\$")


def _plot_history(axes, history: Sequence[Mapping[str, Any]], title: str) -> None:
    for key, label, style in _LOSS_LINES:
        points = [(row["step"], row[key]) for row in history if row.get(key) is not None]
        if points:
            steps, losses = zip(*points, strict=True)
            axes.plot(steps, losses, style, label=label)
    axes.set_xlabel("optimizer step")
    axes.set_title(_literal(title))
    axes.grid(alpha=0.3)
    if axes.lines:
        axes.legend()


def render_loss_curve(history: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """PNG bytes of `history`'s `{"step", "train_loss", "validation_loss"}` rows.

    A loss not measured at a step (None) is left out of its line; step 0 holds the
    validation loss before training.
    """
    figure = _figure(6.4, 3.6)
    axes = figure.add_subplot()
    _plot_history(axes, history, title)
    axes.set_ylabel("loss (owner's tokens)")
    return _png(figure)


def render_loss_curves(histories: Mapping[str, Sequence[Mapping[str, Any]]]) -> bytes:
    """One figure, a panel per stage (in the order given) on a shared loss axis."""
    if not histories:
        raise ValueError("no loss curve to draw")
    figure = _figure(min(4.0 * len(histories), 14.0), 3.6)
    panels = figure.subplots(1, len(histories), sharey=True, squeeze=False)[0]
    for axes, (stage, history) in zip(panels, histories.items(), strict=True):
        _plot_history(axes, history, stage)
    panels[0].set_ylabel("loss (owner's tokens)")
    return _png(figure)


def render_metric_bars(
    models: Sequence[str],
    panels: Sequence[tuple[str, Sequence[float | None]]],
    *,
    title: str,
    references: Mapping[int, Sequence[tuple[float, str]]] | None = None,
    log_scale: bool = False,
) -> bytes:
    """Bar charts of figures per model: one panel per `(label, values)` (a value per model,
    None for a model without it), with optional horizontal reference lines per panel index
    (e.g. chance level)."""
    if not panels or not models:
        raise ValueError("no figure to draw")
    references = references or {}
    figure = _figure(min(max(3.2 * len(panels), 5.0), 14.0), 3.8)
    figure.suptitle(_literal(title))
    axes_row = figure.subplots(1, len(panels), squeeze=False)[0]
    positions = list(range(len(models)))
    for index, (axes, (label, values)) in enumerate(zip(axes_row, panels, strict=True)):
        heights = [math.nan if v is None else float(v) for v in values]
        bars = axes.bar(positions, heights, color="#4c72b0")
        # Rounded: the exact figures are in the report's tables.
        labels = ["" if v is None else format(v, ".4g") for v in values]
        axes.bar_label(bars, labels=labels, fontsize=8)
        for value, line_label in references.get(index, ()):
            axes.axhline(value, color="#c44e52", linestyle="--", label=_literal(line_label))
        if references.get(index):
            axes.legend(fontsize=8)
        axes.set_xticks(positions, [_literal(m) for m in models], rotation=20, ha="right")
        axes.set_title(_literal(label), fontsize=10)
        if log_scale:
            axes.set_yscale("log")
        axes.grid(axis="y", alpha=0.3)
    return _png(figure)
