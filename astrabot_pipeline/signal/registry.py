"""Every input kind this package reads, and the reader that decodes it: one table.

A new kind is a new reader class (see `input_reader.InputReader`) added here and a content
check in `inputs.detect_input`; the processor does not change.
"""

from __future__ import annotations

from astrabot_pipeline.signal.android_db.csv_export import CsvExportReader
from astrabot_pipeline.signal.android_db.plain_sqlite import PlainSqliteReader
from astrabot_pipeline.signal.backup_v2.reader import BackupV2ExportReader, BackupV2Reader
from astrabot_pipeline.signal.desktop.reader import DesktopReader
from astrabot_pipeline.signal.input_reader import InputReader
from astrabot_pipeline.signal.inputs import InputKind
from astrabot_pipeline.signal.legacy.decode import LegacyBackupReader

READERS: dict[InputKind, InputReader] = {
    reader.kind: reader
    for reader in (
        LegacyBackupReader(),
        BackupV2Reader(),
        BackupV2ExportReader(),
        DesktopReader(),
        PlainSqliteReader(),
        CsvExportReader(),
    )
}
