"""What every input kind's reader is: one class per kind, asked the same way (`InputReader`).

The processor finds the kind (`inputs.detect_input`), takes that kind's reader from the
table in `registry.py`, and lets it fill a private temporary folder; each reader returns a
`DecodedInput`: the contract tables, the counts every kind has, and in `report` what only
its own kind reports (a legacy backup's frames, a backup-v2 input's records).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, Protocol

import pandas as pd

from astrabot_pipeline.signal.discovery import input_size
from astrabot_pipeline.signal.inputs import InputKind
from astrabot_pipeline.signal.tables import NormalizedBackup

if TYPE_CHECKING:
    from astrabot_pipeline.signal.legacy.crypto import KeyRing

PROGRESS_EVERY_FRAMES = 10_000
PROGRESS_EVERY_BYTES = 16 << 20  # large attachments: frames alone would report too rarely

DecodeProgress = Callable[[int, int, int], None]
"""Called as progress(frames_read, bytes_read, file_size) every PROGRESS_EVERY_FRAMES frames
or PROGRESS_EVERY_BYTES bytes, whichever comes first, and once at the end."""


@dataclass(frozen=True)
class KindReport:
    """What only one input kind reports (a legacy backup's frames, a backup v2's records);
    each kind that has such counts subclasses it."""


@dataclass(frozen=True, repr=False)
class DecodeSecrets:
    """What an input may need to open: passphrase or recovery key, ACI, Desktop key."""

    passphrase: str | None = None
    aci: str | None = None
    desktop_key: str | None = None


@dataclass(frozen=True, repr=False)
class DecodeRequest:
    """One decode as the processor asks it of a reader: secrets, options, progress."""

    secrets: DecodeSecrets
    legacy_key_ring: Callable[[], KeyRing]  # derived once per processor, when first asked
    extract_attachments: bool
    verify_mac: bool
    salvage: bool  # keep what was read before damage (legacy backups, backup-v2 exports)
    progress: DecodeProgress | None


@dataclass(frozen=True)
class DecodedInput:
    """What a reader wrote into the temporary output folder, and counts (never content)."""

    tables: dict[str, pd.DataFrame]
    database: Path | None  # the SQLite database it left in the folder, if any
    bytes_read: int
    database_version: int | None
    warnings: tuple[str, ...]
    blobs_extracted: int = 0
    bytes_not_decoded: int = 0  # non-zero only for a salvaged (damaged) input
    report: KindReport | None = None
    final_progress: tuple[int, int, int] | None = field(default=None, compare=False)
    """The last progress report, given once the output folder is in place."""


class InputReader(Protocol):
    """Decodes one input kind into the contract tables inside `work_dir`."""

    kind: ClassVar[InputKind]

    def decode(self, path: Path, work_dir: Path, request: DecodeRequest) -> DecodedInput: ...


def decoded_from_normalized(
    normalized: NormalizedBackup, path: Path, work_dir: Path
) -> DecodedInput:
    """The result of a reader that only normalizes (Desktop, plain SQLite, CSV export)."""
    return DecodedInput(
        tables=normalized.tables,
        database=first_database(work_dir),
        bytes_read=input_size(path),
        database_version=normalized.database_version,
        warnings=tuple(normalized.warnings),
    )


def first_database(work_dir: Path) -> Path | None:
    """The SQLite database a reader left in `work_dir` (the first by name), if any."""
    databases = sorted(work_dir.glob("*.sqlite"))
    return databases[0] if databases else None
