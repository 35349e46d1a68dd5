"""`astrabot purge`: delete the decoded plaintext (or, with --all, every output) under the
data folder, never the backups or the secrets, after showing what goes and asking."""

from __future__ import annotations

import argparse
import sys

from astrabot_pipeline import settings
from astrabot_pipeline.cli.sizes import readable_size


def _purge(args: argparse.Namespace) -> int:
    from astrabot_pipeline.privacy.purge import (
        PurgeError,
        everything_targets,
        measure,
        plaintext_targets,
        purge_paths,
    )

    data_dir = settings.data_dir()
    kept = (settings.backup_dir(),)
    targets = (everything_targets if args.all else plaintext_targets)(data_dir, keep=kept)
    if not targets:
        print(f"nothing to purge under {data_dir}")
        return 0
    if not args.yes:
        if not sys.stdin.isatty():
            print(
                "astrabot purge: not a terminal: pass --yes to delete without asking",
                file=sys.stderr,
            )
            return 2
        print(f"about to delete under {data_dir}:")
        for target in targets:
            size, files = measure(target)
            print(f"  {target.relative_to(data_dir)} ({files:,} files, {readable_size(size)})")
        if input("delete these? [y/N] ").strip().lower() not in ("y", "yes"):
            print("nothing deleted")
            return 1
    try:
        purged = purge_paths(data_dir, targets, keep=kept)
    except PurgeError as error:
        print(f"astrabot purge: {error}", file=sys.stderr)
        return 2
    for item in purged:
        print(f"deleted {item.path} ({item.files:,} files, {readable_size(item.size)})")
    total = sum(item.size for item in purged)
    print(f"purged {len(purged)} paths, {readable_size(total)}; kept backups/ and secrets/")
    if not args.all:
        print("re-materializing decoded_backup decodes the backup again")
    return 0


def register(commands: argparse._SubParsersAction) -> None:
    """Add `purge` to the `astrabot` parser's `commands`."""
    purge = commands.add_parser(
        "purge",
        help="delete the decoded plaintext and raw-text intermediates under ASTRABOT_DATA_DIR",
        allow_abbrev=False,
    )
    purge.add_argument(
        "--all",
        action="store_true",
        help="also delete dataset/, canaries/, models/, reports/, exports/ and every asset "
        "output (never backups/ or secrets/)",
    )
    purge.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    purge.set_defaults(handler=_purge)
