"""`astrabot` commands that work without Dagster.

One module per command group, each adding its commands to the parser and holding their
handlers: `backup` (decode, inspect), `demo` (demo, demo-passphrase), `purge`, `model`
(chat, export, serve). Handlers import what they need (the decoder, the demo generator,
the model code with torch), so a command loads only its own code. Secrets never travel
as arguments (`secret_input`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from astrabot_pipeline import interrupts, settings
from astrabot_pipeline.cli import backup, demo, model, purge
from astrabot_pipeline.errors import AstrabotError


def build_parser() -> argparse.ArgumentParser:
    # No prefix matching: `--passphrase SECRET` must fail, not be read as --passphrase-file.
    parser = argparse.ArgumentParser(
        prog="astrabot", description=__doc__.splitlines()[0], allow_abbrev=False
    )
    commands = parser.add_subparsers(dest="command", required=True)
    backup.register(commands)
    demo.register(commands)
    purge.register(commands)
    model.register(commands)
    demo.register_passphrase(commands)  # listed last in --help
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run one command; exit 2 with one line on a failure a user can hit, 130 on Ctrl-C and
    143 on SIGTERM (no traceback; a decode removes its partial output first)."""
    settings.harden_process()
    args = build_parser().parse_args(argv)
    if getattr(args, "out", "unset") is None:
        args.out = settings.backup_dir()
    try:
        with interrupts.signals_as_interrupts():
            return args.handler(args)
    except KeyboardInterrupt as interruption:
        status = interrupts.exit_status(interruption)
        cause = "SIGTERM" if status == interrupts.EXIT_TERMINATED else "Ctrl-C"
        print(f"astrabot {args.command}: interrupted ({cause})", file=sys.stderr)
        return status
    except AstrabotError as error:
        print(f"astrabot {args.command}: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        # Only the error's description and the file's name: never text read from a file.
        where = f" ({Path(error.filename).name})" if error.filename else ""
        reason = error.strerror or type(error).__name__
        print(f"astrabot {args.command}: {reason}{where}", file=sys.stderr)
        return 2


__all__ = ["build_parser", "main"]
