"""How long something takes, as the progress lines write it: "4m22s"."""

from __future__ import annotations


def minutes_seconds(seconds: float) -> str:
    """`seconds` rounded to whole seconds as minutes and seconds: 262.4 -> "4m22s"."""
    minutes, rest = divmod(max(0, round(seconds)), 60)
    return f"{minutes}m{rest:02d}s"


__all__ = ["minutes_seconds"]
