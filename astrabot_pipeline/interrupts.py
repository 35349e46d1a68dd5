"""Ctrl-C and SIGTERM as one kind of interruption, even inside a long SQLite statement.

Python raises KeyboardInterrupt for SIGINT only between bytecodes; a SQLite statement
running in C never gives it the chance, and an exception raised inside a SQLite callback
is swallowed by the sqlite3 module (the statement just fails with "interrupted"). So the
handlers installed by `signals_as_interrupts` also *record* the signal, and code that runs
SQLite asks `pending()` in its progress handler and calls `raise_if_pending()` when a
statement was aborted.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

EXIT_INTERRUPTED = 130  # 128 + SIGINT, what shells report for Ctrl-C
EXIT_TERMINATED = 143  # 128 + SIGTERM


class TerminationRequested(KeyboardInterrupt):
    """SIGTERM: handled like Ctrl-C (every cleanup path that sees KeyboardInterrupt runs)."""


_pending: int | None = None


def pending() -> bool:
    """Whether SIGINT or SIGTERM arrived (and was not yet consumed by `raise_if_pending`)."""
    return _pending is not None


def _interruption(signum: int) -> KeyboardInterrupt:
    return TerminationRequested() if signum == signal.SIGTERM else KeyboardInterrupt()


def raise_if_pending() -> None:
    """Raise the interruption a recorded signal stands for (once), else do nothing."""
    global _pending
    signum, _pending = _pending, None
    if signum is not None:
        raise _interruption(signum)


def _record(signum: int, _frame: FrameType | None) -> None:
    global _pending
    _pending = signum
    raise _interruption(signum)


def exit_status(interruption: KeyboardInterrupt) -> int:
    """The conventional exit status for an interruption: 143 for SIGTERM, 130 for Ctrl-C."""
    return EXIT_TERMINATED if isinstance(interruption, TerminationRequested) else EXIT_INTERRUPTED


@contextmanager
def signals_as_interrupts() -> Iterator[None]:
    """Within the block, SIGINT raises KeyboardInterrupt and SIGTERM TerminationRequested,
    and both are recorded for `pending()`. Outside the main thread it changes nothing
    (Python only delivers signals there)."""
    global _pending
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _pending = None
    previous = {sig: signal.signal(sig, _record) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        _pending = None


__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_TERMINATED",
    "TerminationRequested",
    "exit_status",
    "pending",
    "raise_if_pending",
    "signals_as_interrupts",
]
