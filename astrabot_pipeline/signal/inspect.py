"""What a backup holds, without writing anything: `inspect_input` for either format.

A legacy `.backup` is MAC-checked frame by frame (`legacy/inspect.py`); a backup-v2 input
is authenticated and its frames counted by kind (`backup_v2/inspect.py`).
"""

from __future__ import annotations

from pathlib import Path

from astrabot_pipeline.signal.backup_v2.inspect import BackupV2Inspection, inspect_backup_v2
from astrabot_pipeline.signal.errors import PassphraseMissingError, UnsupportedBackupError
from astrabot_pipeline.signal.input_reader import DecodeProgress
from astrabot_pipeline.signal.inputs import InputKind, detect_input
from astrabot_pipeline.signal.legacy.crypto import KeyRing
from astrabot_pipeline.signal.legacy.inspect import BackupInspection, inspect_backup


def inspect_input(
    backup_path: str | Path,
    passphrase: str | KeyRing | None,
    *,
    aci: str | None = None,
    progress: DecodeProgress | None = None,
) -> BackupInspection | BackupV2Inspection:
    """Inspect a legacy `.backup` or a backup-v2 input, whichever `backup_path` holds."""
    kind = detect_input(backup_path)
    if kind in (InputKind.BACKUP_V2, InputKind.BACKUP_V2_EXPORT):
        return inspect_backup_v2(
            backup_path,
            recovery_key=passphrase if isinstance(passphrase, str) else None,
            aci=aci,
        )
    if kind is not InputKind.LEGACY_BACKUP:
        raise UnsupportedBackupError(
            f"inspect reads Signal .backup files and backup-v2 inputs; this is a {kind.value} "
            "input: decode it instead"
        )
    if passphrase is None:
        raise PassphraseMissingError(
            "this backup needs its passphrase: set SIGNAL_BACKUP_PASSPHRASE to the 30 digits "
            "Signal showed when backups were turned on"
        )
    return inspect_backup(backup_path, passphrase, progress=progress)
