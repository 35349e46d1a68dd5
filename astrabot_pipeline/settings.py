"""Process-wide settings: where data lives, and the offline/privacy environment.

Every entry point (Dagster definitions, the CLI, benchmarks) calls `harden_process()`
first, so the pipeline never reaches a model hub and writes only private files.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from astrabot_pipeline.data_layout import BACKUPS
from astrabot_pipeline.errors import SettingError, UnreadableSecretFileError
from astrabot_pipeline.library_notices import quiet_library_notices

DATA_DIR_ENV = "ASTRABOT_DATA_DIR"
BACKUP_DIR_ENV = "ASTRABOT_BACKUP_DIR"
PASSPHRASE_ENV = "SIGNAL_BACKUP_PASSPHRASE"  # 30 digits (legacy) or 64-char recovery key (v2)
ACI_ENV = "SIGNAL_ACI"  # the account's ACI, for a bare backup-v2 `main` file
DESKTOP_KEY_ENV = "SIGNAL_DESKTOP_KEY"  # hex SQLCipher key of a Signal Desktop database
# Each secret may instead come from a file named by these (how the Dagster decoder launcher
# hands secrets to the decoder process: a 0600 temporary file, never a value in the
# environment); a named file wins over the value variable.
PASSPHRASE_FILE_ENV = "ASTRABOT_PASSPHRASE_FILE"
ACI_FILE_ENV = "ASTRABOT_ACI_FILE"
DESKTOP_KEY_FILE_ENV = "ASTRABOT_DESKTOP_KEY_FILE"
DECODER_LAUNCHER_ENV = "ASTRABOT_DECODER_LAUNCHER"  # "subprocess" (default) or "docker"
DEFAULT_DATA_DIR = "./data"
# The watched backup folder (signal/discovery.py): the largest input it hashes and decodes,
# in GB (real backups with years of media reach tens of GB), and the folders or files a
# symbolic link in it may point to besides the folder itself (os.pathsep-separated).
MAX_BACKUP_GB_ENV = "ASTRABOT_MAX_BACKUP_GB"
DEFAULT_MAX_BACKUP_GB = 200.0
BACKUP_LINK_TARGETS_ENV = "ASTRABOT_BACKUP_LINK_TARGETS"
# Tweet enrichment through Nitter (off unless instances are named): comma-separated base
# URLs of Nitter instances (a self-hosted one is the realistic choice), and a switch
# (1/true/yes/on or 0/false/no/off; unset: on exactly when instances are named).
NITTER_INSTANCES_ENV = "ASTRABOT_NITTER_INSTANCES"
NITTER_ENABLED_ENV = "ASTRABOT_NITTER_ENABLED"
# The IANA time zone the conversation analytics read clock times in (hour of day,
# weekday); unset or empty: the machine's own zone.
TIME_ZONE_ENV = "ASTRABOT_TIME_ZONE"
# Which base model the training stages use and the defaults they train with:
# tiny, tiny-qwen3, small or qwen (see training/profiles.py). `make test` and CI set tiny.
MODEL_PROFILE_ENV = "ASTRABOT_MODEL_PROFILE"
DEFAULT_MODEL_PROFILE = "small"
# How long each training stage trains: demo, epochs:N or minutes:N (training/budget.py);
# unset, `demo` for the generated demo history and `epochs:1` for any other.
TRAIN_BUDGET_ENV = "ASTRABOT_TRAIN_BUDGET"

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
    """Make files private by default, force every ML library offline, and silence the
    library notices a user cannot act on (library_notices.py)."""
    os.umask(0o077)
    for key, value in OFFLINE_ENVIRONMENT.items():
        os.environ.setdefault(key, value)
    os.environ["HF_HUB_OFFLINE"] = "1"
    quiet_library_notices()


def data_dir() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV) or DEFAULT_DATA_DIR).expanduser().resolve()


def model_profile_name(environ: Mapping[str, str] | None = None) -> str:
    """The model profile ASTRABOT_MODEL_PROFILE names (lowercased), or the default."""
    environ = os.environ if environ is None else environ
    return (environ.get(MODEL_PROFILE_ENV) or "").strip().lower() or DEFAULT_MODEL_PROFILE


@dataclass(frozen=True)
class NitterSettings:
    enabled: bool
    instances: list[str]


_SWITCH = {"1": True, "true": True, "yes": True, "on": True}
_SWITCH |= {"0": False, "false": False, "no": False, "off": False}


def nitter_settings(environ: Mapping[str, str] | None = None) -> NitterSettings:
    """Enrichment's switch and instances from ASTRABOT_NITTER_ENABLED / _INSTANCES."""
    environ = os.environ if environ is None else environ
    instances = [
        part.strip() for part in environ.get(NITTER_INSTANCES_ENV, "").split(",") if part.strip()
    ]
    switch = environ.get(NITTER_ENABLED_ENV, "").strip().lower()
    if switch and switch not in _SWITCH:
        raise SettingError(
            f"{NITTER_ENABLED_ENV}={switch!r} is not a switch: use 1 or 0 (true/false, on/off)"
        )
    return NitterSettings(_SWITCH[switch] if switch else bool(instances), instances)


def backup_dir() -> Path:
    configured = os.environ.get(BACKUP_DIR_ENV)
    return Path(configured).expanduser().resolve() if configured else data_dir() / BACKUPS


def max_backup_bytes(environ: Mapping[str, str] | None = None) -> int:
    """The size cap of an input in the backup folder, from ASTRABOT_MAX_BACKUP_GB."""
    environ = os.environ if environ is None else environ
    given = environ.get(MAX_BACKUP_GB_ENV, "").strip()
    try:
        gigabytes = float(given) if given else DEFAULT_MAX_BACKUP_GB
    except ValueError:
        gigabytes = -1.0
    if not 0 < gigabytes < 1e6:
        raise SettingError(
            f"{MAX_BACKUP_GB_ENV}={given!r} is not a size in GB: give a positive number "
            f"such as 50 (unset: {DEFAULT_MAX_BACKUP_GB:.0f})"
        )
    return int(gigabytes * 1e9)


def backup_link_targets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Where a symbolic link in the backup folder may point besides the folder itself."""
    environ = os.environ if environ is None else environ
    given = environ.get(BACKUP_LINK_TARGETS_ENV, "")
    return [str(Path(part).expanduser().resolve()) for part in given.split(os.pathsep) if part]


# Each secret: (its value variable, the variable naming a file that holds it).
SECRET_VARIABLES = {
    "passphrase": (PASSPHRASE_ENV, PASSPHRASE_FILE_ENV),
    "aci": (ACI_ENV, ACI_FILE_ENV),
    "desktop_key": (DESKTOP_KEY_ENV, DESKTOP_KEY_FILE_ENV),
}


@dataclass(frozen=True)
class Secrets:
    """What opens an input: the passphrase (or backup-v2 recovery key), the account's ACI
    (for a bare backup-v2 `main` file) and the hex key of a Signal Desktop database. Any
    may be None: plain inputs need none. Its repr says which are set, never their values."""

    passphrase: str | None = None
    aci: str | None = None
    desktop_key: str | None = None

    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={'set' if value else 'unset'}" for name, value in self.items())
        return f"Secrets({shown})"

    def items(self) -> list[tuple[str, str | None]]:
        """(name, value) of each secret, in SECRET_VARIABLES order."""
        return [(name, getattr(self, name)) for name in SECRET_VARIABLES]


def read_secrets(environ: Mapping[str, str] | None = None) -> Secrets:
    """Every secret from the environment: the file its `*_FILE` variable names, else its
    value variable, else None. The one place the pipeline (CLI, Dagster resources and the
    decoder process alike) reads them.

    Raises UnreadableSecretFileError when a named file cannot be read.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, str | None] = {}
    for name, (env, file_env) in SECRET_VARIABLES.items():
        if path := environ.get(file_env):
            try:
                values[name] = Path(path).read_text(encoding="utf-8").strip() or None
            except (OSError, UnicodeDecodeError) as error:
                reason = getattr(error, "strerror", None) or "it is not UTF-8 text"
                raise UnreadableSecretFileError(
                    f"cannot read the file named by {file_env}: {reason}; point it at a "
                    f"readable file, or unset it and set {env}"
                ) from None
        else:
            values[name] = environ.get(env) or None
    return Secrets(**values)
