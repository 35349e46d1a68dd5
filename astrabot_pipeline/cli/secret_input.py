"""The secrets a command needs, read without ever taking them as arguments.

They come from the environment as `settings.read_secrets` finds them (SIGNAL_BACKUP_PASSPHRASE,
SIGNAL_ACI, SIGNAL_DESKTOP_KEY or the files their ASTRABOT_*_FILE variables name), the
passphrase also from a file named with --passphrase-file (shell history and `ps` would
expose an argument) or a hidden prompt on a terminal.
"""

from __future__ import annotations

import dataclasses
import getpass
import sys
from pathlib import Path

from astrabot_pipeline import settings


def read_secrets(passphrase_file: Path | None, *, required: bool = True) -> settings.Secrets:
    """Every secret as `settings.read_secrets` finds it, the passphrase from --passphrase-file
    first and, when still missing and `required`, from a hidden prompt on a terminal (plain
    inputs need none: the decoder says so when one that does lacks it)."""
    from astrabot_pipeline.errors import UnreadableSecretFileError

    try:
        secrets = settings.read_secrets()
    except UnreadableSecretFileError as error:
        raise SystemExit(f"astrabot: {error}") from None
    if passphrase_file is not None:
        try:
            passphrase = passphrase_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SystemExit(
                f"astrabot: cannot read the passphrase file {passphrase_file}: {error.strerror}"
            ) from None
        return dataclasses.replace(secrets, passphrase=passphrase)
    if secrets.passphrase or not required:
        return secrets
    passphrase = (
        getpass.getpass("Signal backup passphrase (or recovery key): ")
        if sys.stdin.isatty()
        else ""
    )
    if not passphrase:
        raise SystemExit(
            f"astrabot: no passphrase: set {settings.PASSPHRASE_ENV} or pass --passphrase-file FILE"
        )
    return dataclasses.replace(secrets, passphrase=passphrase)


def needs_passphrase(path: Path) -> bool:
    """Whether the input at `path` is encrypted with a passphrase or recovery key."""
    from astrabot_pipeline.signal.inputs import DETECTION_ERRORS, InputKind, detect_input

    try:
        return detect_input(path) in (InputKind.LEGACY_BACKUP, InputKind.BACKUP_V2)
    except DETECTION_ERRORS:
        return False  # the decoder reports what is wrong with the input itself
