"""Turning domain exceptions into failed materializations with an actionable message."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg


@contextmanager
def fail_on(*errors: type[BaseException]) -> Iterator[None]:
    """Re-raise `errors` as dg.Failure carrying only the domain message (no traceback noise).

    Domain messages never contain message text, names, numbers or secrets.
    """
    try:
        yield
    except errors as error:
        raise dg.Failure(description=f"{type(error).__name__}: {error}") from None
