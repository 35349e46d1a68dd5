"""The demo backup decodes to exactly the corpus it was generated from."""

from __future__ import annotations

import json
import sqlite3
import stat
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest

from astrabot_pipeline.signal import SignalProcessor, read_tables
from astrabot_pipeline.synthetic import (
    DEMO_PASSPHRASE,
    Corpus,
    DemoBackup,
    generate_corpus,
    write_demo_backup,
    write_signal_database,
)
from astrabot_pipeline.synthetic.signal_db import (
    DATABASE_VERSION,
    GROUP_UPDATE_BIT,
    INCOMING_TYPE,
    OUTGOING_TYPE,
)

N_MESSAGES = 600
SEED = 3


@dataclass
class Decoded:
    demo: DemoBackup
    corpus: Corpus
    tables: dict[str, pd.DataFrame]


@pytest.fixture(scope="module")
def decoded(tmp_path_factory: pytest.TempPathFactory) -> Decoded:
    root = tmp_path_factory.mktemp("demo")
    demo = write_demo_backup(root / "backups", n_messages=N_MESSAGES, seed=SEED)
    SignalProcessor(demo.passphrase).decode(demo.path, root / "decoded")
    corpus = generate_corpus(n_messages=N_MESSAGES, seed=SEED)
    return Decoded(demo, corpus, read_tables(root / "decoded"))


def _ms(series: pd.Series) -> list[int]:
    return [int(ts.value // 1_000_000) for ts in series]


def test_decoded_chat_messages_are_exactly_the_corpus_chat_messages(decoded: Decoded) -> None:
    messages = decoded.tables["messages"]
    chat = decoded.corpus.chat_messages
    assert decoded.demo.message_count == len(chat) == N_MESSAGES
    assert len(messages) == len(chat)  # calls, group updates and old revisions dropped
    expected = sorted(m.edited_at or m.sent_at for m in chat)
    assert sorted(_ms(messages["sent_at"])) == expected
    assert sorted(messages["body"].dropna()) == sorted(m.body for m in chat if m.body)
    assert int(messages["is_outgoing"].sum()) == decoded.corpus.counts["outgoing"]


def test_owner_is_identified_as_self(decoded: Decoded) -> None:
    recipients, messages = decoded.tables["recipients"], decoded.tables["messages"]
    me = recipients[recipients["is_self"]]
    assert len(me) == 1
    assert me["aci"].iloc[0] == decoded.corpus.cast.owner.aci
    self_id = me["recipient_id"].iloc[0]
    assert (messages.loc[messages["is_outgoing"], "sender_id"] == self_id).all()
    assert (messages.loc[~messages["is_outgoing"], "sender_id"] != self_id).all()


def test_contacts_groups_and_threads_survive(decoded: Decoded) -> None:
    recipients, threads = decoded.tables["recipients"], decoded.tables["threads"]
    people = recipients[~recipients["is_group"] & ~recipients["is_self"]]
    groups = recipients[recipients["is_group"]]
    assert len(people) >= 8
    assert len(groups) >= 2
    assert set(groups["group_title"]) == {g.title for g in decoded.corpus.cast.groups}
    assert people["nickname"].notna().any()
    assert int(threads["is_group"].sum()) == len(groups)


def test_edits_are_marked_and_show_their_latest_text(decoded: Decoded) -> None:
    messages = decoded.tables["messages"]
    edited = messages[messages["edited"]]
    corpus_edited = [m for m in decoded.corpus.chat_messages if m.edited]
    assert len(edited) == len(corpus_edited) >= 1
    assert sorted(edited["body"]) == sorted(m.body for m in corpus_edited)
    old_texts = {r.body for m in corpus_edited for r in m.revisions}
    assert not old_texts & set(messages["body"].dropna())


def test_quotes_reactions_mentions_and_attachments_resolve(decoded: Decoded) -> None:
    tables, counts = decoded.tables, decoded.corpus.counts
    messages = tables["messages"].set_index("message_id")
    quoting = messages[messages["quote_message_id"].notna()]
    assert len(quoting) == counts["quotes"]
    by_time = {
        (m.sent_at, m.body): decoded.corpus.messages[m.quote].body
        for m in decoded.corpus.chat_messages
        if m.quote is not None
    }
    for sent_at, body, target in zip(
        _ms(quoting["sent_at"]), quoting["body"], quoting["quote_message_id"], strict=True
    ):
        key = (sent_at, body if isinstance(body, str) else None)
        assert messages.loc[int(target), "body"] == by_time[key]
    assert len(tables["reactions"]) == counts["reactions"]
    assert len(tables["mentions"]) == counts["mentions"]
    assert len(tables["attachments"]) == counts["attachments"]
    assert int((messages["attachment_count"] > 0).sum()) == counts["attachments"]
    paths = tables["attachments"]["path"].dropna()
    assert len(paths) == counts["attachments"]
    assert all(Path(p).read_bytes().startswith(b"\x89PNG") for p in paths)


def test_outputs_are_private_and_the_manifest_lists_the_canaries(decoded: Decoded) -> None:
    demo = decoded.demo
    for path in (demo.path, demo.canaries_path):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert demo.canaries_path.name == "signal-demo.backup.canaries.json"
    manifest = json.loads(demo.canaries_path.read_text(encoding="utf-8"))
    assert manifest == decoded.corpus.canaries
    assert all(manifest[kind] for kind in ("name", "phone", "email", "address"))
    assert sorted(p.name for p in demo.path.parent.iterdir()) == [
        "signal-demo.backup",
        "signal-demo.backup.canaries.json",
    ]  # the plaintext scratch database is gone


def test_same_arguments_give_the_same_backup_bytes(decoded: Decoded, tmp_path: Path) -> None:
    again = write_demo_backup(tmp_path, n_messages=N_MESSAGES, seed=SEED)
    assert again.path.read_bytes() == decoded.demo.path.read_bytes()
    assert decoded.demo.passphrase == DEMO_PASSPHRASE


def test_database_uses_signal_types_and_from_to_rules(tmp_path: Path) -> None:
    corpus = generate_corpus(n_messages=300, seed=1)
    database = write_signal_database(corpus, tmp_path / "signal.db")
    with sqlite3.connect(database.path) as connection:
        assert connection.execute("PRAGMA user_version").fetchone()[0] == DATABASE_VERSION
        owner = database.recipient_ids["owner"]
        rows = connection.execute(
            "SELECT m.type, m.from_recipient_id, m.to_recipient_id, r.type "
            "FROM message m JOIN thread t ON t._id = m.thread_id "
            "JOIN recipient r ON r._id = t.recipient_id"
        ).fetchall()
        revisions = connection.execute(
            "SELECT old.original_message_id, new.original_message_id, new.revision_number "
            "FROM message old JOIN message new ON new._id = old.latest_revision_id"
        ).fetchall()
    types = {row[0] for row in rows}
    assert {INCOMING_TYPE, OUTGOING_TYPE} <= types
    assert any(t & GROUP_UPDATE_BIT for t in types) and types & {1, 2, 3, 8, 10, 11}
    for kind, sender, receiver, thread_type in rows:
        if kind == OUTGOING_TYPE:
            assert sender == owner and receiver != owner
        elif kind == INCOMING_TYPE:
            assert sender != owner
            assert (receiver == owner) == (thread_type == 0)
    assert revisions and all(new >= 1 for _, _, new in revisions)
    assert database.message_rows == len(rows)
