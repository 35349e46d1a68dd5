"""Benchmark harness: run a callable in a fresh child process, report wall time and peak RSS.

A forked child gives each measurement its own peak-RSS counter, so the baseline and our
implementation are compared fairly in the same run.
"""

from __future__ import annotations

import multiprocessing as mp
import resource
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astrabot_pipeline.settings import harden_process  # noqa: E402

harden_process()


def _child(fn: Callable[[], Any], queue: mp.Queue) -> None:
    try:
        start = time.perf_counter()
        extra = fn()
        seconds = time.perf_counter() - start
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put(("ok", (seconds, peak_mib, extra)))
    except BaseException:
        queue.put(("error", traceback.format_exc()))


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """(seconds, peak RSS MiB of the child, fn's return value)."""
    context = mp.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(fn, queue))
    process.start()
    status, payload = queue.get()
    process.join()
    if status != "ok":
        raise RuntimeError(f"benchmark child failed:\n{payload}")
    return payload


def report(label: str, items: int, unit: str, seconds: float, peak_mib: float) -> None:
    rate = items / seconds if seconds else float("inf")
    print(
        f"  {label:<38} {items:>9,} {unit} in {seconds:7.2f} s = {rate:>12,.0f} {unit}/s, peak RSS {peak_mib:7.0f} MiB"
    )
