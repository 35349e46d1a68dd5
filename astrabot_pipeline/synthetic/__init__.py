"""Synthetic demo data: a fake cast, a realistic chat corpus, and an encrypted demo backup.

demo = write_demo_backup("data/backups")          # 20,000 chat messages, ~1.5 s
SignalProcessor(demo.passphrase).decode(demo.path, "data/decoded")
"""

from astrabot_pipeline.synthetic.corpus import (
    CANARY_KINDS,
    Corpus,
    Message,
    MessageKind,
    Thread,
    generate_corpus,
)
from astrabot_pipeline.synthetic.demo_backup import (
    DEMO_PASSPHRASE,
    DemoBackup,
    write_demo_backup,
)
from astrabot_pipeline.synthetic.people import Cast, Group, Person, build_cast
from astrabot_pipeline.synthetic.signal_db import (
    DATABASE_VERSION,
    SignalDatabase,
    write_signal_database,
)

__all__ = [
    "CANARY_KINDS",
    "DATABASE_VERSION",
    "DEMO_PASSPHRASE",
    "Cast",
    "Corpus",
    "DemoBackup",
    "Group",
    "Message",
    "MessageKind",
    "Person",
    "SignalDatabase",
    "Thread",
    "build_cast",
    "generate_corpus",
    "write_demo_backup",
    "write_signal_database",
]
