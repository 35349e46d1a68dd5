"""How a failing asset reads in the event log: our own errors with their message, anything
else with its type and where it was raised, never its message.

`AstrabotError` messages are written to be safe (see `astrabot_pipeline/errors.py`). A
library's message is not: a pandas or pyarrow `ValueError` can quote a cell, i.e. a chat
message. Dagster records a failed step's message, stack and chained causes in the event log,
so every asset body runs under `redact_failures`, which turns any exception into a
`dg.Failure` raised `from None` (nothing chained, nothing of the original recorded).
"""

from __future__ import annotations

import functools
import inspect
import os
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar, cast

import dagster as dg

import astrabot_pipeline
from astrabot_pipeline.errors import AstrabotError

WITHHELD = (
    "unexpected error (its message is withheld from the event log: it may quote your data); "
    "please report this type and location as a bug"
)
REDACTS_FAILURES = "__astrabot_redacts_failures__"
"""Attribute set on every function `redact_failures` wrapped (the definitions test checks it)."""

_PACKAGE_ROOT = Path(astrabot_pipeline.__file__).resolve().parent
_F = TypeVar("_F", bound=Callable)


def _type_name(error: BaseException) -> str:
    kind = type(error)
    return (
        kind.__qualname__
        if kind.__module__ == "builtins"
        else f"{kind.__module__}.{kind.__qualname__}"
    )


def _raised_at(error: BaseException) -> str:
    """The innermost frame of our own code the error passed through: file, line, function."""
    ours = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if Path(frame.filename).resolve().is_relative_to(_PACKAGE_ROOT)
    ]
    if not ours:
        return ""
    frame = ours[-1]
    where = Path(frame.filename).resolve().relative_to(_PACKAGE_ROOT.parent).as_posix()
    return f" at {where}:{frame.lineno} in {frame.name}"


def failure_for(error: Exception) -> dg.Failure:
    """The dg.Failure to show for `error`: "<Type>: <message>" for our own errors; for
    anything else "<Type> at <file:line> in <function>: " and, for an OSError, the system's
    text for its error number, otherwise a note that the message is withheld."""
    if isinstance(error, AstrabotError):
        return dg.Failure(description=f"{type(error).__name__}: {error}")
    where = f"{_type_name(error)}{_raised_at(error)}"
    if isinstance(error, OSError) and isinstance(error.errno, int) and error.errno > 0:
        # The system's words for the error number (e.g. "No space left on device"), never
        # the exception's own text or file name.
        return dg.Failure(description=f"{where}: [Errno {error.errno}] {os.strerror(error.errno)}")
    return dg.Failure(description=f"{where}: {WITHHELD}")


@contextmanager
def failures_redacted() -> Iterator[None]:
    """Within the block, every exception but a deliberate dg.Failure (or retry request)
    leaves as `failure_for(error)`, with nothing of the original chained to it.
    KeyboardInterrupt and Dagster's run termination (BaseExceptions) pass untouched."""
    try:
        yield
    except (dg.Failure, dg.RetryRequested):
        raise
    except Exception as error:
        raise failure_for(error) from None


def redact_failures(function: _F) -> _F:
    """Decorator for an asset (or observation) function: its body runs under
    `failures_redacted`; generators stay generators, the signature Dagster reads is kept."""
    if inspect.isgeneratorfunction(function):

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with failures_redacted():
                yield from function(*args, **kwargs)

    else:

        @functools.wraps(function)
        def wrapper(*args, **kwargs):
            with failures_redacted():
                return function(*args, **kwargs)

    setattr(wrapper, REDACTS_FAILURES, True)
    # The usual typed-decorator cast: functools.wraps keeps the signature Dagster reads.
    return cast(_F, wrapper)
