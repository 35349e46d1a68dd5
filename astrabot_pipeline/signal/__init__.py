"""Signal histories -> the contract tables: every input kind this project reads, decoded alike.

Six input kinds, each a reader in `registry.READERS`: the legacy Android `.backup`
(`legacy/`), backup v2 and its plaintext export (`backup_v2/`), Signal Desktop's database
(`desktop/`), an already-decrypted Android database and a signalbackup-tools CSV export
(`android_db/`, which also reads the databases the other kinds produce). What every kind
shares sits here: detection (`inputs.py`), the watched folder (`discovery.py`), the
processor, the tables (`tables.py`), the output folder and the errors. Formats:
docs/backup-formats.md.

Typical use::

    result = SignalProcessor(passphrase).decode("signal-2024.backup", "data/decoded")
    tables = read_tables(result.out_dir)
"""

from astrabot_pipeline.signal.errors import (
    BackupError,
    CorruptFrameError,
    PassphraseFormatError,
    TruncatedBackupError,
    UnsupportedBackupError,
    WrongPassphraseError,
)
from astrabot_pipeline.signal.inputs import InputKind, detect_input
from astrabot_pipeline.signal.processor import DecodeResult, SignalProcessor, read_tables

__all__ = [
    "BackupError",
    "CorruptFrameError",
    "DecodeResult",
    "InputKind",
    "PassphraseFormatError",
    "SignalProcessor",
    "TruncatedBackupError",
    "UnsupportedBackupError",
    "WrongPassphraseError",
    "detect_input",
    "read_tables",
]
