"""`astrabot decode` and `astrabot inspect`: a Signal history into the normalized tables, or
its versions and counts checked without writing anything.

The decoder image runs these two commands: what this module imports when loaded must be in
docker/decoder/Dockerfile; the decoder itself is imported by the handlers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from astrabot_pipeline.cli.progress import ProgressBar
from astrabot_pipeline.cli.secret_input import needs_passphrase, read_secrets
from astrabot_pipeline.cli.sizes import MB


def _failed(command: str, error: Exception, bar: ProgressBar) -> int:
    """Close the progress bar, say what went wrong (never a secret), return exit status 2."""
    bar.close()
    if isinstance(error, FileNotFoundError):
        print(f"astrabot {command}: no such backup file: {error.filename}", file=sys.stderr)
    else:
        print(f"astrabot {command}: {error}", file=sys.stderr)
    return 2


def _decode(args: argparse.Namespace) -> int:
    from astrabot_pipeline.signal import (
        BackupError,
        CorruptFrameError,
        SignalProcessor,
        TruncatedBackupError,
    )
    from astrabot_pipeline.signal.output_dir import check_output_dir, check_readable_input

    bar = ProgressBar("decoding")
    try:  # before the passphrase (prompt, key derivation) and any decoding work
        check_output_dir(args.out, replace=args.force, input_path=args.backup)
        check_readable_input(args.backup)
    except (BackupError, FileNotFoundError) as error:
        return _failed("decode", error, bar)
    secrets = read_secrets(args.passphrase_file, required=needs_passphrase(args.backup))
    processor = SignalProcessor(
        secrets.passphrase,
        aci=secrets.aci,
        desktop_key=secrets.desktop_key,
        extract_attachments=not args.no_attachments,
        verify_mac=not args.no_verify_mac,
    )
    try:
        result = processor.decode(
            args.backup, args.out, progress=bar, salvage=args.salvage, replace=args.force
        )
    except KeyboardInterrupt:
        bar.close()  # the interruption message starts on its own line
        raise
    except (BackupError, FileNotFoundError) as error:
        status = _failed("decode", error, bar)
        if args.salvage and isinstance(error, CorruptFrameError | TruncatedBackupError):
            print(
                "astrabot decode: --salvage: the damage comes before any frame could be "
                "decoded; no output written",
                file=sys.stderr,
            )
        return status
    bar.close()
    for warning in result.warnings:
        print(f"astrabot decode: warning: {warning}", file=sys.stderr)
    counts = ", ".join(f"{name} {count}" for name, count in result.row_counts.items())
    rate = result.bytes_read / MB / max(result.seconds, 1e-9)
    if result.frames is not None:  # a legacy .backup
        what = f"{result.frames} frames"
    elif result.records is not None:  # backup v2: JSON lines or protobuf records
        what = f"{result.records} records (format version {result.format_version})"
    else:
        what = f"a {result.input_kind} input"
    print(
        f"decoded {what} ({result.bytes_read / MB:,.1f} MB in "
        f"{result.seconds:.1f} s, {rate:,.1f} MB/s) into {result.out_dir} ({counts})"
    )
    if result.bytes_not_decoded:
        print(
            f"salvaged a damaged backup: {result.bytes_not_decoded} bytes at the end were not "
            "decoded (see the warning above)"
        )
    return 0


def _inspect(args: argparse.Namespace) -> int:
    from astrabot_pipeline.signal import BackupError
    from astrabot_pipeline.signal.backup_v2.inspect import BackupV2Inspection
    from astrabot_pipeline.signal.inspect import inspect_input
    from astrabot_pipeline.signal.output_dir import check_readable_input

    bar = ProgressBar("checking")
    try:
        check_readable_input(args.backup)  # before asking for the passphrase
    except (BackupError, FileNotFoundError) as error:
        return _failed("inspect", error, bar)
    secrets = read_secrets(args.passphrase_file, required=needs_passphrase(args.backup))
    try:
        report = inspect_input(args.backup, secrets.passphrase, aci=secrets.aci, progress=bar)
    except KeyboardInterrupt:
        bar.close()
        raise
    except (BackupError, FileNotFoundError) as error:
        return _failed("inspect", error, bar)
    bar.close()
    if isinstance(report, BackupV2Inspection):
        print("\n".join(report.summary_lines()))
        return 0
    lines = [
        f"backup: {report.backup_path.name} ({report.file_size:,} bytes, every MAC verified "
        f"in {report.seconds:.1f} s)",
        f"format version: {report.backup_version}",
        f"database version: {report.database_version}",
        f"frames: {report.frames:,}",
        *(f"  {kind}: {count:,}" for kind, count in report.frames_by_kind.items()),
        "blobs:" if report.blob_counts else "blobs: none",
        *(
            f"  {kind}: {count:,} ({report.blob_bytes[kind]:,} bytes)"
            for kind, count in report.blob_counts.items()
        ),
        "table rows (INSERT statements):",
        *(f"  {table}: {count:,}" for table, count in report.table_rows.items()),
        *(f"warning: {warning}" for warning in report.warnings),
    ]
    print("\n".join(lines))
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add `decode` and `inspect` to the `astrabot` parser's `commands`."""
    decode = commands.add_parser(
        "decode",
        help="decode any supported Signal history into the normalized Parquet tables",
        allow_abbrev=False,
    )
    decode.add_argument(
        "backup",
        type=Path,
        help=".backup file, backup-v2 folder/main file, plaintext export (.zip/main.jsonl), "
        "Desktop db.sqlite or folder, decrypted Signal SQLite, or --exportcsv folder "
        "(secrets: SIGNAL_BACKUP_PASSPHRASE, SIGNAL_ACI, SIGNAL_DESKTOP_KEY)",
    )
    decode.add_argument(
        "--out",
        type=Path,
        required=True,
        help="output folder: new or empty (an earlier astrabot decode output needs --force; "
        "a folder holding anything else is refused)",
    )
    decode.add_argument(
        "--force",
        action="store_true",
        help="replace an earlier astrabot decode output in --out (never a folder holding "
        "files astrabot did not write)",
    )
    decode.add_argument("--passphrase-file", type=Path, help="file holding the passphrase")
    decode.add_argument(
        "--no-attachments", action="store_true", help="MAC-check attachments but do not write them"
    )
    decode.add_argument(
        "--salvage",
        action="store_true",
        help="on a truncated or corrupted backup, keep what was decoded before the damage",
    )
    decode.add_argument(
        "--no-verify-mac",
        action="store_true",
        help="diagnostic only: skip MAC checks of frames and blobs (damage goes undetected)",
    )
    decode.set_defaults(handler=_decode)

    inspect = commands.add_parser(
        "inspect",
        help="MAC-check a .backup (or read a backup-v2 input or plaintext export) and print "
        "versions and counts, writing nothing",
        allow_abbrev=False,
    )
    inspect.add_argument("backup", type=Path)
    inspect.add_argument("--passphrase-file", type=Path, help="file holding the passphrase")
    inspect.set_defaults(handler=_inspect)
