"""Training progress as numbers: throttled updates (loss, lr, tokens/s, ETA) from the
Trainer's logs, and the one log line each of them reads as. Never text of the data."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping

from astrabot_pipeline.durations import minutes_seconds

# At most one progress update per this many seconds (plus the last one).
PROGRESS_INTERVAL_SECONDS = 10.0

# What a stage hands each progress update to (e.g. a logger): floats only.
TrainingProgressCallback = Callable[[dict[str, float]], None]


def format_progress(update: Mapping[str, float]) -> str:
    """One log line from a progress update: numbers only."""
    parts = [f"step {int(update.get('step', 0))}/{int(update.get('max_steps', 0))}"]
    if "loss" in update:
        parts.append(f"loss {update['loss']:.4f}")
    if "eval_loss" in update:
        parts.append(f"validation loss {update['eval_loss']:.4f}")
    if "learning_rate" in update:
        parts.append(f"lr {update['learning_rate']:.2e}")
    if "tokens_per_second" in update:
        parts.append(f"{update['tokens_per_second']:.0f} tokens/s")
    if "eta_seconds" in update:
        parts.append(f"ETA {minutes_seconds(update['eta_seconds'])}")
    return ", ".join(parts)


class ProgressUpdate(dict[str, float]):
    """A progress update: a `dict[str, float]` whose `str()` is its log line."""

    def __str__(self) -> str:
        return format_progress(self)


def throttled_progress(
    progress: TrainingProgressCallback,
    interval: float = PROGRESS_INTERVAL_SECONDS,
    clock=time.monotonic,
):
    """A `TrainerCallback` handing `progress` the Trainer's logs as `ProgressUpdate`s."""
    from transformers import TrainerCallback

    class ThrottledProgress(TrainerCallback):
        """Turns the trainer's logs into throttled numeric updates (loss, lr, tokens/s, ETA).

        At most one update every `interval` seconds, plus the last one at the end of
        training. Updates are `ProgressUpdate`s: floats only, `str()` gives the line.
        """

        def __init__(self) -> None:
            self.started: float | None = None
            self.first_step = 0
            self.first_tokens = 0
            self.last_emit: float | None = None
            self.latest: ProgressUpdate | None = None
            self.emitted_latest = True

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = clock()
            self.last_emit = None  # the first training log is always shown
            self.first_step = state.global_step
            self.first_tokens = state.num_input_tokens_seen or 0

        def on_log(self, args, state, control, logs=None, **kwargs):
            numbers = {k: float(v) for k, v in (logs or {}).items() if isinstance(v, (int, float))}
            update = ProgressUpdate(numbers)
            update["step"] = float(state.global_step)
            update["max_steps"] = float(state.max_steps)
            now = clock()
            if self.started is not None:
                elapsed = max(now - self.started, 1e-9)
                done = state.global_step - self.first_step
                tokens = (state.num_input_tokens_seen or 0) - self.first_tokens
                if tokens > 0:
                    update["tokens_per_second"] = tokens / elapsed
                if done > 0:
                    update["eta_seconds"] = max(
                        0.0, (state.max_steps - state.global_step) * elapsed / done
                    )
            self.latest, self.emitted_latest = update, False
            if self.last_emit is None or now - self.last_emit >= interval:
                self._emit(now)

        def on_train_end(self, args, state, control, **kwargs):
            if not self.emitted_latest:
                self._emit(clock())

        def _emit(self, now: float) -> None:
            self.last_emit, self.emitted_latest = now, True
            if self.latest is not None:
                progress(self.latest)

    return ThrottledProgress()
