"""`astrabot serve`'s generation line: one reply generated at a time, a bounded queue behind it.

The model generates in one worker thread (two generations at once would share the same
cores and memory, and each would be slower). Requests wait their turn in order; when
`max_waiting` already wait, a new one is refused at once (`QueueFull`, answered 503 with
`Retry-After`) instead of waiting without bound. A waiting request whose deadline passes
before its turn never starts (`TurnMissed`); a running one stops at the next token once
its deadline passes, its client leaves, or the server stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

from astrabot_pipeline.generation import GenerationSettings
from astrabot_pipeline.inference.generation import Reply

Backend = Callable[..., Reply]
MAX_RETRY_AFTER_SECONDS = 60


class QueueFull(Exception):
    """Every place in the line is taken; `retry_after` estimates when one frees (seconds)."""

    def __init__(self, retry_after: int):
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after


class TurnMissed(Exception):
    """The request's deadline passed (or the server began stopping) before its turn."""


class GenerationQueue:
    """Runs backend calls one at a time in a worker thread, at most `max_waiting` behind."""

    def __init__(self, max_waiting: int, stopping: threading.Event):
        self.max_waiting = max_waiting
        self.stopping = stopping
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="astrabot-generate")
        self._in_line = 0  # running + waiting; changed on the event loop's thread only
        self._seconds: deque[float] = deque(maxlen=8)  # the last generations' durations

    def retry_after(self) -> int:
        """Seconds until a place is likely free: the line times the recent mean duration."""
        mean = sum(self._seconds) / len(self._seconds) if self._seconds else 1.0
        return max(1, min(MAX_RETRY_AFTER_SECONDS, math.ceil(mean * max(1, self._in_line))))

    async def generate(
        self,
        backend: Backend,
        messages: Sequence[Mapping[str, str]],
        settings: GenerationSettings,
        *,
        deadline: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Reply:
        """The backend's reply, generated in turn. `deadline` is a `time.monotonic()` time;
        `on_text` is called from the worker thread. Raises `QueueFull`, `TurnMissed`, or
        what the backend raised. Cancelling the caller stops the generation."""
        if self._in_line > self.max_waiting:
            raise QueueFull(self.retry_after())
        left = threading.Event()

        def should_stop() -> bool:
            return left.is_set() or self.stopping.is_set() or time.monotonic() >= deadline

        def work() -> Reply:
            if should_stop():
                raise TurnMissed
            started = time.monotonic()
            try:
                return backend(messages, settings, on_text=on_text, should_stop=should_stop)
            finally:
                self._seconds.append(time.monotonic() - started)

        loop = asyncio.get_running_loop()
        self._in_line += 1
        job = self._worker.submit(work)
        job.add_done_callback(lambda _: self._leave_from(loop))
        try:
            return await asyncio.wrap_future(job)
        except asyncio.CancelledError:
            left.set()  # a running generation stops at its next token; a waiting one never runs
            raise

    def _leave_from(self, loop: asyncio.AbstractEventLoop) -> None:
        # A closed loop: the server has stopped, and nothing waits for the count.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._leave)

    def _leave(self) -> None:
        self._in_line -= 1

    def close(self) -> None:
        """Stop the running generation (the caller set `stopping`) and wait for the worker."""
        self._worker.shutdown(wait=True, cancel_futures=True)
