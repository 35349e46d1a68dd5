"""`astrabot demo` and `astrabot demo-passphrase`: the synthetic encrypted demo backup, made
by the demo generator (imported by the handlers only: the decoder image has none)."""

from __future__ import annotations

import argparse
from pathlib import Path


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


def register(commands: argparse._SubParsersAction) -> None:
    """Add `demo` to the `astrabot` parser's `commands`."""
    demo = commands.add_parser("demo", help="write the synthetic encrypted demo backup")
    demo.add_argument("--out", type=Path, default=None, help="folder (default: backup dir)")
    demo.add_argument("--messages", type=int, default=20_000)
    demo.add_argument("--seed", type=int, default=0)
    demo.add_argument("--if-missing", action="store_true", help="do nothing if a backup exists")
    demo.set_defaults(handler=_demo)


def register_passphrase(commands: argparse._SubParsersAction) -> None:
    """Add `demo-passphrase` to the `astrabot` parser's `commands`."""
    passphrase = commands.add_parser("demo-passphrase", help="print the demo backup's passphrase")
    passphrase.set_defaults(handler=_demo_passphrase)
