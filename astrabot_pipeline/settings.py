"""Process-wide settings: where data lives, and the offline/privacy environment.

Every entry point (Dagster definitions, the CLI, benchmarks) calls `harden_process()`
first, so the pipeline never reaches a model hub and writes only private files.
"""

from __future__ import annotations

import os
from pathlib import Path

DATA_DIR_ENV = "ASTRABOT_DATA_DIR"
BACKUP_DIR_ENV = "ASTRABOT_BACKUP_DIR"
PASSPHRASE_ENV = "SIGNAL_BACKUP_PASSPHRASE"  # 30 digits (legacy) or 64-char recovery key (v2)
ACI_ENV = "SIGNAL_ACI"  # the account's ACI, for a bare backup-v2 `main` file
DESKTOP_KEY_ENV = "SIGNAL_DESKTOP_KEY"  # hex SQLCipher key of a Signal Desktop database
DECODER_LAUNCHER_ENV = "ASTRABOT_DECODER_LAUNCHER"  # "subprocess" (default) or "docker"
DEFAULT_DATA_DIR = "./data"

# Environment the pipeline sets for itself (not only in tests): no hub downloads, no
# telemetry, and tldextract uses its bundled suffix list instead of fetching one.
OFFLINE_ENVIRONMENT = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",
    "TOKENIZERS_PARALLELISM": "false",
    "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
    "WANDB_DISABLED": "true",
    "WANDB_MODE": "disabled",
}


def harden_process() -> None:
    """Make files private by default and force every ML library offline."""
    os.umask(0o077)
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    os.environ["HF_HUB_OFFLINE"] = "1"


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()


def backup_dir() -> Path:
    configured = os.environ.get(BACKUP_DIR_ENV)
    return Path(configured).expanduser().resolve() if configured else data_dir() / "backups"
