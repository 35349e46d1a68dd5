"""Write the encrypted demo backup: synthetic corpus -> Signal-shaped SQLite -> `.backup`.

Beside the backup goes `<file name>.canaries.json`, `{kind: [exact strings]}` for the kinds
name, phone, email and address: the PII written into the messages. It is scaffolding for
the privacy gate and the tests (`privacy.load_canaries` reads it), never an input of the
anonymizer. The same arguments always give the same
bytes (IV and salt derive from them), so re-running the demo does not look like a new
backup to the `signal_backup` source.
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from astrabot_pipeline import storage
from astrabot_pipeline.privacy.canaries import canaries_path_for
from astrabot_pipeline.signal.legacy.encoder import encode_sqlite_to_backup
from astrabot_pipeline.synthetic.corpus import Corpus, generate_corpus
from astrabot_pipeline.synthetic.signal_db import write_signal_database

# Demo only: the value is public, like everything in the demo backup.
DEMO_PASSPHRASE = "111112222233333444445555566666"
DEMO_FILE_NAME = "signal-demo.backup"


@dataclass(frozen=True)
class DemoBackup:
    path: Path
    passphrase: str = field(repr=False)
    canaries_path: Path
    message_count: int  # chat messages a decoder must report (no calls, updates, old revisions)
    seed: int
    backup_version: int
    counts: Mapping[str, int]


def write_corpus_backup(
    corpus: Corpus, backup_path: Path, passphrase: str, *, tag: str, backup_version: int = 1
) -> Path:
    """Write `corpus` as an encrypted legacy backup at `backup_path`. IV and salt derive
    from `tag`, so the same corpus and tag give the same bytes. The plaintext database
    stays in a scratch folder beside the backup (inside its private folder) and is
    removed after."""
    seed = tag.encode()
    with tempfile.TemporaryDirectory(prefix=".corpus-db-", dir=backup_path.parent) as scratch:
        database = write_signal_database(corpus, Path(scratch) / "signal.db")
        encode_sqlite_to_backup(
            database.path,
            backup_path,
            passphrase,
            backup_version=backup_version,
            iv=hashlib.sha256(seed + b":iv").digest()[:16],
            salt=hashlib.sha256(seed + b":salt").digest(),
            attachments=database.attachments,
            key_values=database.key_values,
        )
    return backup_path


def write_demo_backup(
    out_dir: str | Path,
    *,
    n_messages: int = 20_000,
    seed: int = 0,
    backup_version: int = 1,
    passphrase: str = DEMO_PASSPHRASE,
    file_name: str = DEMO_FILE_NAME,
) -> DemoBackup:
    """Generate the corpus and write `out_dir/file_name` (0600) and its canary manifest."""
    out_dir = storage.private_dir(out_dir)
    corpus = generate_corpus(n_messages=n_messages, seed=seed)
    backup_path = write_corpus_backup(
        corpus,
        out_dir / file_name,
        passphrase,
        tag=f"astrabot-demo-backup:{seed}:{n_messages}:{backup_version}",
        backup_version=backup_version,
    )
    canaries_path = storage.write_json(canaries_path_for(backup_path), corpus.canaries)
    return DemoBackup(
        path=backup_path,
        passphrase=passphrase,
        canaries_path=canaries_path,
        message_count=corpus.counts["chat_messages"],
        seed=seed,
        backup_version=backup_version,
        counts=dict(corpus.counts),
    )
