"""The watched backup folder and the secrets that open what lands in it."""

from pathlib import Path

import dagster as dg

from astrabot_pipeline.signal.discovery import newest_backup


class SignalBackupResource(dg.ConfigurableResource):
    """The watched backup folder and the secrets that open the inputs in it (each bound to
    its environment variable by `pipeline_resources`)."""

    backup_dir: str
    passphrase: str | None = None  # plain inputs (decrypted SQLite, CSV, exports) need none
    aci: str | None = None  # for a bare backup-v2 `main` file
    desktop_key: str | None = None  # hex SQLCipher key of a Signal Desktop database

    def newest(self) -> Path:
        return newest_backup(self.backup_dir)
