"""The synthetic corpus behaves like a real chat history and plants what it says it plants."""

from __future__ import annotations

import re
import struct
import time
from collections import defaultdict
from datetime import UTC, datetime

import pytest

from astrabot_pipeline.synthetic import CANARY_KINDS, Corpus, MessageKind, generate_corpus
from astrabot_pipeline.synthetic.corpus import BURST_GAP_MS, TWEET_LINK
from astrabot_pipeline.synthetic.people import OWNER_KEY, build_cast

DAY_MS = 24 * 3600 * 1000
# First names that are also everyday words would make name detection meaningless.
WORD_NAMES = {"will", "may", "rose", "june", "mark", "bill", "grace", "hope", "joy", "pat",
              "rich", "sue", "art", "faith", "summer", "dawn", "drew", "jack", "penny"}  # fmt: skip


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return generate_corpus(n_messages=4_000, seed=11)


def _chat_by_thread(corpus: Corpus) -> dict[str, list]:
    threads = defaultdict(list)
    for message in corpus.chat_messages:
        threads[message.thread].append(message)
    return threads


def test_same_seed_gives_the_same_corpus_and_another_seed_does_not() -> None:
    first = generate_corpus(n_messages=800, seed=5)
    again = generate_corpus(n_messages=800, seed=5)
    other = generate_corpus(n_messages=800, seed=6)

    def fingerprint(c: Corpus) -> list:
        return [(m.thread, m.author, m.sent_at, m.body, m.kind) for m in c.messages]

    assert fingerprint(first) == fingerprint(again)
    assert first.canaries == again.canaries
    assert first.cast.owner.aci == again.cast.owner.aci
    assert fingerprint(first) != fingerprint(other)
    assert first.cast.owner.aci != other.cast.owner.aci


def test_exactly_n_chat_messages_and_non_chat_rows_on_top(corpus: Corpus) -> None:
    assert len(corpus.chat_messages) == 4_000 == corpus.counts["chat_messages"]
    kinds = {m.kind for m in corpus.messages}
    assert kinds == {MessageKind.CHAT, MessageKind.CALL, MessageKind.GROUP_UPDATE}
    assert all(m.body is None for m in corpus.messages if m.kind is MessageKind.CALL)
    assert [m.index for m in corpus.messages] == list(range(len(corpus.messages)))
    assert [m.sent_at for m in corpus.messages] == sorted(m.sent_at for m in corpus.messages)


def test_cast_is_clearly_fictional_and_big_enough() -> None:
    cast = build_cast(0)
    assert len(cast.contacts) >= 10 and len(cast.groups) >= 2
    people = cast.people
    assert len({p.aci for p in people}) == len({p.e164 for p in people}) == len(people)
    for person in people:
        assert re.fullmatch(r"\+1\d{3}55501\d{2}", person.e164), person.e164
        assert person.email.rsplit("@", 1)[1] in {"example.com", "example.org", "example.net"}
        assert person.given_name.lower() not in WORD_NAMES
        assert re.fullmatch(r"\d+ [A-Z][a-z]+ [A-Z][a-z]+", person.address.street_line)
    assert any(p.nickname for p in cast.contacts)
    for group in cast.groups:
        assert group.title and len(group.members) >= 3
        assert set(group.members) <= {c.key for c in cast.contacts}


def test_corpus_covers_contacts_and_groups(corpus: Corpus) -> None:
    threads = _chat_by_thread(corpus)
    direct = [t for t in corpus.threads if not t.is_group and threads[t.key]]
    groups = [t for t in corpus.threads if t.is_group and threads[t.key]]
    assert len(direct) >= 8 and len(groups) >= 2
    group_authors = {m.author for t in groups for m in threads[t.key]}
    assert len(group_authors) >= 6


def test_owner_writes_over_a_third_in_a_recognisable_style(corpus: Corpus) -> None:
    chat = [m for m in corpus.chat_messages if m.body]
    own = [m.body for m in chat if m.is_outgoing]
    theirs = [m.body for m in chat if not m.is_outgoing]
    assert len(own) / len(chat) >= 0.35

    def lowercase_share(bodies: list[str]) -> float:
        return sum(b == b.lower() for b in bodies) / len(bodies)

    assert lowercase_share(own) > 0.9 > lowercase_share(theirs) + 0.2
    assert sum("hahaha" in b for b in own) > 10 * max(1, sum("hahaha" in b for b in theirs))
    assert any("✨" in b for b in own)


def test_bursts_of_one_sender_within_two_minutes_exist(corpus: Corpus) -> None:
    bursts = 0
    for messages in _chat_by_thread(corpus).values():
        for before, after in zip(messages, messages[1:], strict=False):
            if before.author == after.author and after.sent_at - before.sent_at <= BURST_GAP_MS:
                bursts += 1
    assert bursts >= len(corpus.chat_messages) * 0.15


def test_sessions_are_separated_by_long_gaps(corpus: Corpus) -> None:
    gaps = [
        after.sent_at - before.sent_at
        for messages in _chat_by_thread(corpus).values()
        for before, after in zip(messages, messages[1:], strict=False)
    ]
    assert sum(gap > DAY_MS for gap in gaps) >= 10
    assert sum(gap > 3_600_000 for gap in gaps) >= 100
    assert sorted(gaps)[len(gaps) // 2] < 5 * 60_000  # most replies come within minutes


def test_history_spans_the_requested_months() -> None:
    start = datetime(2023, 9, 1, tzinfo=UTC)
    corpus = generate_corpus(n_messages=1_500, seed=2, start=start, months=6)
    chat = corpus.chat_messages
    span_days = (chat[-1].sent_at - chat[0].sent_at) / DAY_MS
    assert 150 <= span_days <= 190
    assert chat[0].sent_at >= start.timestamp() * 1000


def test_tweet_links_appear_in_twitter_and_x_forms(corpus: Corpus) -> None:
    links = [link for m in corpus.chat_messages for link in TWEET_LINK.findall(m.body or "")]
    assert len(links) == corpus.counts["tweet_links"] >= 30
    assert any(link.startswith("https://twitter.com/") for link in links)
    assert any(link.startswith("https://x.com/") for link in links)
    assert any("?s=20" in link for link in links)
    assert all(re.search(r"/status/\d{19}(\?|$)", link) for link in links)


def test_every_canary_kind_is_planted_exactly_as_listed(corpus: Corpus) -> None:
    bodies = "\n".join(m.body or "" for m in corpus.chat_messages)
    assert set(corpus.canaries) == set(CANARY_KINDS)
    for kind in CANARY_KINDS:
        assert corpus.canaries[kind], kind
        missing = [c for c in corpus.canaries[kind] if c not in bodies]
        assert missing == [], kind


def test_canaries_are_written_the_way_people_write_them(corpus: Corpus) -> None:
    bodies = [m.body or "" for m in corpus.chat_messages]
    cast = corpus.cast
    given = {p.given_name.lower() for p in cast.people}
    assert any(name in given for name in corpus.canaries["name"])  # lowercase names
    assert any(re.search(r"[a-z]+'s ", b) and any(n in b for n in given) for b in bodies)
    assert any(re.search(r"\b[a-z]+[!😂)]", b) and any(n in b for n in given) for b in bodies)
    assert any(re.fullmatch(r"\d{3}\.555\.01\d\d", p) for p in corpus.canaries["phone"])
    assert any("<" in b and any(e in b for e in corpus.canaries["email"]) for b in bodies)
    two_line = [b for b in bodies if any(f"{a}\n" in b for a in corpus.canaries["address"])]
    assert two_line, "an address written over two lines"


def test_edits_quotes_reactions_attachments_and_mentions(corpus: Corpus) -> None:
    chat = corpus.chat_messages
    edited = [m for m in chat if m.edited]
    assert edited and all(m.edited_at > m.sent_at for m in edited)
    assert all(r.body != m.body and r.sent_at < m.edited_at for m in edited for r in m.revisions)
    quoting = [m for m in chat if m.quote is not None]
    assert quoting
    for message in quoting:
        quoted = corpus.messages[message.quote]
        assert quoted.thread == message.thread and quoted.sent_at < message.sent_at
        assert quoted.is_chat and quoted.body
    reacted = [m for m in chat if m.reactions]
    assert reacted and all(r.author != m.author for m in reacted for r in m.reactions)
    photos = [a for m in chat for a in m.attachments]
    assert photos and all(a.data.startswith(b"\x89PNG\r\n\x1a\n") for a in photos)
    assert all(struct.unpack(">II", a.data[16:24]) == (a.width, a.height) for a in photos)
    mentions = [(m, x) for m in chat for x in m.mentions]
    assert mentions and all(m.body[x.start] == "\ufffc" for m, x in mentions)
    assert {m.author for m in corpus.messages if m.kind is MessageKind.CALL} >= {OWNER_KEY}


def test_twenty_thousand_messages_generate_quickly() -> None:
    started = time.perf_counter()
    corpus = generate_corpus()
    assert len(corpus.chat_messages) == 20_000
    assert time.perf_counter() - started < 5.0
