"""The decoder as an external process for Dagster Pipes: `python -m astrabot_pipeline.signal.pipes_entry`.

Launched by the `decoder` resource as a subprocess or in the decoder image. Extras carry
`backup_path`, `out_dir`, the backup's `backup_sha256` (optional) and options; the secrets (passphrase, ACI, Desktop key) are read by
`settings.read_secrets` from the files named by ASTRABOT_*_FILE (or, failing that, from
their SIGNAL_* variables), never from extras or arguments. Only counts, versions, timings
and safe failure messages go back to Dagster.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dagster_pipes import PipesContext, PipesMetadataRawValue, open_dagster_pipes

from astrabot_pipeline import settings
from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.interrupts import exit_status, signals_as_interrupts
from astrabot_pipeline.settings import DESKTOP_KEY_FILE_ENV, PASSPHRASE_FILE_ENV
from astrabot_pipeline.signal.discovery import content_sha256
from astrabot_pipeline.signal.processor import DecodeResult, SignalProcessor

PIPES_ENTRY_MODULE = "astrabot_pipeline.signal.pipes_entry"
FAILURE_KEY = "decode_failure"
"""Custom-message key of a failed decode: {FAILURE_KEY: "<ErrorClass>: <message>"}."""
EXIT_DECODE_FAILED = 2
WITHHELD = (
    "unexpected error in the decoder (its message is withheld: it may quote the backup's "
    "content); please report this type as a bug"
)

__all__ = [
    "DESKTOP_KEY_FILE_ENV",  # re-exported: where the launcher and its tests have found them
    "EXIT_DECODE_FAILED",
    "FAILURE_KEY",
    "PASSPHRASE_FILE_ENV",
    "PIPES_ENTRY_MODULE",
    "failure_message",
    "run",
]


def materialization_metadata(
    result: DecodeResult, backup: Path, backup_sha256: str | None = None
) -> dict[str, PipesMetadataRawValue]:
    """Counts, versions and timings of a decode: what the asset shows (never text). The
    backup's hash is the one the asset passed (from the hash cache) when it passed one: a
    backup of tens of GB is not read a second time just for this."""
    return {
        "backup_sha256": backup_sha256 or content_sha256(backup),
        "backup_version": result.backup_version,
        "database_version": result.database_version,
        "frames": result.frames,
        "bytes_read": result.bytes_read,
        "blobs_extracted": result.blobs_extracted,
        "warnings": len(result.warnings),
        "seconds": result.seconds,
        **{f"rows_{name}": count for name, count in result.row_counts.items()},
    }


def failure_message(error: BaseException, backup: Path) -> str:
    """What the decoder reports for `error`: "<Type>: <message>" for our own errors (their
    messages are safe), the type and a fixed text for anything else."""
    if isinstance(error, AstrabotError):
        return f"{type(error).__name__}: {error}"
    if isinstance(error, KeyboardInterrupt):
        return f"{type(error).__name__}: decoding interrupted"
    if isinstance(error, FileNotFoundError):
        return f"FileNotFoundError: no such backup file {backup.name}"
    return f"{type(error).__name__}: {WITHHELD}"


def run(pipes: PipesContext) -> int:
    """Decode as the extras say and report the materialization. 0 on success; on a failure
    the message of `failure_message` is reported and 2 returned (130/143 when SIGINT/SIGTERM,
    e.g. Dagster terminating the run, stopped it)."""
    backup = Path(pipes.get_extra("backup_path"))
    out_dir = Path(pipes.get_extra("out_dir"))

    def progress(frames: int, bytes_read: int, file_size: int) -> None:
        share = bytes_read / file_size if file_size else 1.0
        pipes.log.info(f"decoded {frames} frames, {bytes_read} of {file_size} bytes ({share:.0%})")

    try:
        with signals_as_interrupts():
            secrets = settings.read_secrets()
            processor = SignalProcessor(
                secrets.passphrase,
                aci=secrets.aci,
                desktop_key=secrets.desktop_key,
                extract_attachments=bool(pipes.extras.get("extract_attachments", True)),
                verify_mac=bool(pipes.extras.get("verify_mac", True)),
            )
            result = processor.decode(backup, out_dir, progress=progress)
    except (Exception, KeyboardInterrupt) as error:
        # Everything is caught: an exception leaving `open_dagster_pipes` would be reported
        # to Dagster with its message and stack, which may quote the backup's content.
        message = failure_message(error, backup)
        pipes.log.error(message)
        pipes.report_custom_message({FAILURE_KEY: message})
        if isinstance(error, KeyboardInterrupt):
            return exit_status(error)
        return EXIT_DECODE_FAILED
    for warning in result.warnings:
        pipes.log.warning(warning)
    digest = pipes.extras.get("backup_sha256")
    metadata = materialization_metadata(result, backup, digest if isinstance(digest, str) else None)
    pipes.report_asset_materialization(metadata=metadata)
    return 0


def main() -> int:
    settings.harden_process()
    with open_dagster_pipes() as pipes:
        return run(pipes)


if __name__ == "__main__":
    sys.exit(main())
