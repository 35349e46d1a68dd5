"""The watched backup folder and the secrets that open what lands in it."""

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import dagster as dg

from astrabot_pipeline import settings
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.signal.discovery import (
    DEFAULT_MAX_BACKUP_BYTES,
    HashCache,
    content_sha256,
    newest_backup,
)


class SignalBackupResource(dg.ConfigurableResource):
    """The watched backup folder and the secrets that open the inputs in it (each bound to
    its environment variable by `pipeline_resources`)."""

    backup_dir: str
    passphrase: str | None = None  # plain inputs (decrypted SQLite, CSV, exports) need none
    aci: str | None = None  # for a bare backup-v2 `main` file
    desktop_key: str | None = None  # hex SQLCipher key of a Signal Desktop database
    max_backup_bytes: int = DEFAULT_MAX_BACKUP_BYTES  # ASTRABOT_MAX_BACKUP_GB
    link_targets: list[str] = []  # ASTRABOT_BACKUP_LINK_TARGETS: where a symlink may point
    hash_cache: str | None = None  # the file keeping content hashes between ticks

    def newest(self) -> Path:
        """The newest readable, plausible input within the size cap (signal/discovery.py)."""
        return newest_backup(
            self.backup_dir, link_targets=self.link_targets, max_bytes=self.max_backup_bytes
        )

    def fingerprint(self, backup: Path) -> str:
        """`backup`'s content hash, read from the hash cache when the file is unchanged."""
        cache = HashCache(self.hash_cache) if self.hash_cache else None
        return content_sha256(backup, cache=cache)


def refuse_secrets_in_run_config(run_config: Mapping[str, Any]) -> None:
    """Raises SettingError when the run's config gives a secret a value of its own.

    Run config (the launchpad, `--config`) is stored with the run in Dagster's database
    and shown in the UI, so a secret typed there is refused rather than used; bound to its
    environment variable (`{"env": ...}`, as `pipeline_resources` binds it) it is fine.
    """
    signal = run_config.get("resources", {}).get("signal", {}) or {}
    given = signal.get("config", {}) or {}
    for name, (value_env, file_env) in settings.SECRET_VARIABLES.items():
        if isinstance(given.get(name), str):
            raise SettingError(
                f"the {name} was given in run config, which Dagster stores with the run: "
                f"remove it there and export {value_env}, or name a 0600 file in {file_env}"
            )
