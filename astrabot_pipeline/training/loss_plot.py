"""A stage's loss curve as a PNG image: training and validation loss against the step.

Rendered with matplotlib's Agg backend on a `Figure` of its own (no pyplot, no display,
no global state), so it works headless and in any thread. Numbers only go in.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

LOSS_CURVE_FILE = "loss_curve.png"


def render_loss_curve(history: Sequence[Mapping[str, Any]], title: str) -> bytes:
    """PNG bytes of `history`'s `{"step", "train_loss", "validation_loss"}` rows.

    A loss not measured at a step (None) is left out of its line; step 0 holds the
    validation loss before training.
    """
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=100, layout="constrained")
    axes = figure.add_subplot()
    for key, label, style in (
        ("train_loss", "training loss", "-"),
        ("validation_loss", "validation loss", "o--"),
    ):
        points = [(row["step"], row[key]) for row in history if row.get(key) is not None]
        if points:
            steps, losses = zip(*points, strict=True)
            axes.plot(steps, losses, style, label=label)
    axes.set_xlabel("optimizer step")
    axes.set_ylabel("loss (owner's tokens)")
    axes.set_title(title)
    axes.grid(alpha=0.3)
    if axes.lines:
        axes.legend()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", metadata={"Software": None})
    return buffer.getvalue()
