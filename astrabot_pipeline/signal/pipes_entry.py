"""The decoder as an external process for Dagster Pipes: `python -m astrabot_pipeline.signal.pipes_entry`.

Launched by the `decoder` resource as a subprocess or in the decoder image. Extras carry
`backup_path`, `out_dir` and options; the passphrase is read from the file named by
ASTRABOT_PASSPHRASE_FILE (or, failing that, from SIGNAL_BACKUP_PASSPHRASE), never from
extras or arguments. Only counts, versions and timings go back to Dagster.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from dagster_pipes import PipesContext, open_dagster_pipes

from astrabot_pipeline import settings
from astrabot_pipeline.signal.discovery import content_sha256
from astrabot_pipeline.signal.errors import BackupError, PassphraseMissingError
from astrabot_pipeline.signal.processor import DecodeResult, SignalProcessor

PIPES_ENTRY_MODULE = "astrabot_pipeline.signal.pipes_entry"
PASSPHRASE_FILE_ENV = "ASTRABOT_PASSPHRASE_FILE"
DESKTOP_KEY_FILE_ENV = "ASTRABOT_DESKTOP_KEY_FILE"
FAILURE_KEY = "decode_failure"
"""Custom-message key of a failed decode: {FAILURE_KEY: "<ErrorClass>: <message>"}."""
EXIT_DECODE_FAILED = 2


def read_secret(file_env: str, value_env: str) -> str | None:
    """A secret from the file named by `file_env`, else from `value_env`, else None (plain
    inputs need none; the decoder says which variable to set when one that does is missing)."""
    if secret_file := os.environ.get(file_env):
        try:
            return Path(secret_file).read_text(encoding="utf-8").strip() or None
        except OSError as error:
            raise PassphraseMissingError(
                f"cannot read the secret file named by {file_env}: {error.strerror}"
            ) from None
    return os.environ.get(value_env) or None


def read_passphrase() -> str | None:
    """The passphrase from ASTRABOT_PASSPHRASE_FILE, else SIGNAL_BACKUP_PASSPHRASE."""
    return read_secret(PASSPHRASE_FILE_ENV, settings.PASSPHRASE_ENV)


def materialization_metadata(result: DecodeResult, backup: Path) -> dict[str, object]:
    """Counts, versions and timings of a decode: what the asset shows (never text)."""
    return {
        "backup_sha256": content_sha256(backup),
        "backup_version": result.backup_version,
        "database_version": result.database_version,
        "frames": result.frames,
        "bytes_read": result.bytes_read,
        "blobs_extracted": result.blobs_extracted,
        "warnings": len(result.warnings),
        "seconds": result.seconds,
        **{f"rows_{name}": count for name, count in result.row_counts.items()},
    }


def run(pipes: PipesContext) -> int:
    """Decode as the extras say and report the materialization; 0, or 2 on a BackupError."""
    backup = Path(pipes.get_extra("backup_path"))
    out_dir = Path(pipes.get_extra("out_dir"))

    def progress(frames: int, bytes_read: int, file_size: int) -> None:
        share = bytes_read / file_size if file_size else 1.0
        pipes.log.info(f"decoded {frames} frames, {bytes_read} of {file_size} bytes ({share:.0%})")

    try:
        processor = SignalProcessor(
            read_passphrase(),
            aci=os.environ.get(settings.ACI_ENV) or None,
            desktop_key=read_secret(DESKTOP_KEY_FILE_ENV, settings.DESKTOP_KEY_ENV),
            extract_attachments=bool(pipes.extras.get("extract_attachments", True)),
            verify_mac=bool(pipes.extras.get("verify_mac", True)),
        )
        result = processor.decode(backup, out_dir, progress=progress)
    except (BackupError, FileNotFoundError) as error:
        if isinstance(error, FileNotFoundError):
            message = f"FileNotFoundError: no such backup file {backup.name}"
        else:
            message = f"{type(error).__name__}: {error}"
        pipes.log.error(message)
        pipes.report_custom_message({FAILURE_KEY: message})
        return EXIT_DECODE_FAILED
    for warning in result.warnings:
        pipes.log.warning(warning)
    pipes.report_asset_materialization(metadata=materialization_metadata(result, backup))
    return 0


def main() -> int:
    settings.harden_process()
    with open_dagster_pipes() as pipes:
        return run(pipes)


if __name__ == "__main__":
    sys.exit(main())
