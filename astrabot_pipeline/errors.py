"""The project's one exception base.

Every error the pipeline raises on purpose derives from `AstrabotError` (and, where it
helps callers, from the matching builtin too, e.g. `BackupError` subclasses that are also
`OSError`). Messages of `AstrabotError`s are written to be safe to show: they never
contain message text, names, numbers or secrets, so the Dagster layer may put them in the
event log. Any other exception is treated as unsafe (see `defs/errors.py`).
"""

from __future__ import annotations


class AstrabotError(Exception):
    """Base class of every error astrabot-pipeline raises on purpose; its message is safe."""


__all__ = ["AstrabotError"]
