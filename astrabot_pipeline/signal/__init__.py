"""Signal Android legacy `.backup` decoding: stream, verify, replay to SQLite, normalize.

Typical use::

    result = SignalProcessor(passphrase).decode("signal-2024.backup", "data/decoded")
    tables = read_tables(result.out_dir)
"""

from astrabot_pipeline.signal.android_db.database_tables import NormalizedBackup, normalize_database
from astrabot_pipeline.signal.errors import (
    BackupError,
    CorruptFrameError,
    PassphraseFormatError,
    TruncatedBackupError,
    UnsupportedBackupError,
    WrongPassphraseError,
)
from astrabot_pipeline.signal.legacy.crypto import (
    BackupKeys,
    KeyRing,
    derive_backup_key,
    derive_keys,
    normalize_passphrase,
)
from astrabot_pipeline.signal.legacy.encoder import BackupWriter, encode_sqlite_to_backup
from astrabot_pipeline.signal.legacy.reader import (
    BackupHeader,
    BackupReader,
    BlobEvent,
    DatabaseVersionEvent,
    EndEvent,
    FrameEvent,
    KeyValueEvent,
    PreferenceEvent,
    StatementEvent,
)
from astrabot_pipeline.signal.legacy.sqlite_replay import (
    ReplayStats,
    SqliteReplayer,
    replay_into_sqlite,
)
from astrabot_pipeline.signal.processor import (
    DecodeResult,
    IntegrityReport,
    SignalProcessor,
    read_tables,
)
from astrabot_pipeline.signal.tables import SCHEMAS, TABLE_NAMES, SchemaMismatchError, conform

__all__ = [
    "SCHEMAS",
    "TABLE_NAMES",
    "BackupError",
    "BackupHeader",
    "BackupKeys",
    "BackupReader",
    "BackupWriter",
    "BlobEvent",
    "CorruptFrameError",
    "DatabaseVersionEvent",
    "DecodeResult",
    "EndEvent",
    "FrameEvent",
    "IntegrityReport",
    "KeyRing",
    "KeyValueEvent",
    "NormalizedBackup",
    "PassphraseFormatError",
    "PreferenceEvent",
    "ReplayStats",
    "SchemaMismatchError",
    "SignalProcessor",
    "SqliteReplayer",
    "StatementEvent",
    "TruncatedBackupError",
    "UnsupportedBackupError",
    "WrongPassphraseError",
    "conform",
    "derive_backup_key",
    "derive_keys",
    "encode_sqlite_to_backup",
    "normalize_database",
    "normalize_passphrase",
    "read_tables",
    "replay_into_sqlite",
]
