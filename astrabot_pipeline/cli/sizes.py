"""Byte counts as the commands print them (decimal units, as the decoder's MB/s)."""

from __future__ import annotations

MB = 1_000_000


def readable_size(size: int) -> str:
    """`size` bytes as bytes, kB or MB, one decimal."""
    if size < 1000:
        return f"{size:,} bytes"
    return f"{size / 1000:,.1f} kB" if size < MB else f"{size / MB:,.1f} MB"
