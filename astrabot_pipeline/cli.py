"""`astrabot` commands that work without Dagster.

Secrets never travel as arguments: the passphrase comes from SIGNAL_BACKUP_PASSPHRASE
or a file named with --passphrase-file (shell history and `ps` would expose an argument).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from astrabot_pipeline import settings


def _read_passphrase(passphrase_file: Path | None) -> str:
    if passphrase_file is not None:
        try:
            return passphrase_file.read_text(encoding="utf-8").strip()
        except OSError as error:
            raise SystemExit(
                f"astrabot: cannot read the passphrase file {passphrase_file}: {error.strerror}"
            ) from None
    passphrase = os.environ.get(settings.PASSPHRASE_ENV, "")
    if not passphrase:
        raise SystemExit(
            f"astrabot: no passphrase: set {settings.PASSPHRASE_ENV} or pass --passphrase-file FILE"
        )
    return passphrase


def _decode(args: argparse.Namespace) -> int:
    from astrabot_pipeline.signal import BackupError, SignalProcessor

    passphrase = _read_passphrase(args.passphrase_file)
    processor = SignalProcessor(passphrase, extract_attachments=not args.no_attachments)
    try:
        result = processor.decode(args.backup, args.out)
    except BackupError as error:
        print(f"astrabot decode: {error}", file=sys.stderr)
        return 2
    except FileNotFoundError as error:
        print(f"astrabot decode: no such backup file: {error.filename}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{name} {count}" for name, count in result.row_counts.items())
    print(f"decoded {result.frames} frames into {result.out_dir} ({counts})")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from astrabot_pipeline.synthetic import write_demo_backup

    existing = sorted(args.out.glob("*.backup")) if args.out.exists() else []
    if args.if_missing and existing:
        print(f"demo backup already present: {existing[-1]}")
        return 0
    demo = write_demo_backup(args.out, n_messages=args.messages, seed=args.seed)
    print(f"wrote demo backup {demo.path} ({demo.message_count} messages)")
    return 0


def _demo_passphrase(_: argparse.Namespace) -> int:
    from astrabot_pipeline.synthetic import DEMO_PASSPHRASE

    print(DEMO_PASSPHRASE)
    return 0


def build_parser() -> argparse.ArgumentParser:
    # No prefix matching: `--passphrase SECRET` must fail, not be read as --passphrase-file.
    parser = argparse.ArgumentParser(
        prog="astrabot", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True)

    decode = commands.add_parser(
        "decode", help="decrypt a Signal .backup into SQLite + Parquet", allow_abbrev=False
    )
    decode.add_argument("backup", type=Path)
    decode.add_argument("--out", type=Path, required=True, help="output folder (created)")
    decode.add_argument("--passphrase-file", type=Path, help="file holding the passphrase")
    decode.add_argument(
        "--no-attachments", action="store_true", help="MAC-check attachments but do not write them"
    )
    decode.set_defaults(handler=_decode)

    demo = commands.add_parser("demo", help="write the synthetic encrypted demo backup")
    demo.add_argument("--out", type=Path, default=None, help="folder (default: backup dir)")
    demo.add_argument("--messages", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--if-missing", action="store_true", help="do nothing if a backup exists")
    demo.set_defaults(handler=_demo)

    passphrase = commands.add_parser("demo-passphrase", help="print the demo backup's passphrase")
    passphrase.set_defaults(handler=_demo_passphrase)
    return parser


def main(argv: list[str] | None = None) -> int:
    settings.harden_process()
    args = build_parser().parse_args(argv)
    if getattr(args, "out", "unset") is None:
        args.out = settings.backup_dir()
    return args.handler(args)


if __name__ == "__main__":
    raise SystemExit(main())
