"""The real-chat loader shared by the voice and precision benchmarks reads what the logs say.

Its parser, owner choice and Signal-history builder run on a few in-test lines; the
committed data files are only checked (line count, digest) against
docs/real-chat-corpus.md, and those checks skip, saying why, when the files are absent.
"""

from __future__ import annotations

import gzip
import re
import sqlite3
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _real_chat as real_chat  # noqa: E402

from astrabot_pipeline.synthetic.people import OWNER_KEY  # noqa: E402

DOC = ROOT / "docs" / "real-chat-corpus.md"
DAY = date(2012, 3, 28)
LOG = """\
<span class="irc-date">[6:34]</span> <span class="irc-green">* DuraLogBot (~PircBot@host) has joined #duraspace</span><br />
<span class="irc-date">[18:58]</span> <span class="irc-black">&lt;hpottinger&gt; mhwood: are we giving up on Bamboo?</span><br />
<span class="irc-date">[18:58]</span> <span class="irc-black">&lt;mhwood&gt; We were using Bamboo?</span><br />
<span class="irc-date">[18:59]</span> <span class="irc-brick">* hpottinger grins</span><br />
<span class="irc-date">[19:00]</span> <span class="irc-black">&lt;kompewter&gt; [ DS-1 ] - <a href="https://x.example/DS-1">https://x.example/DS-1</a></span><br />
<span class="irc-date">[19:01]</span> <span class="irc-black">&lt;mhwood&gt; see <a href="https://x.example/a?b=1&amp;c=2">https://x.example/a?b=1&amp;c=2</a> ...lol</span><br />
<span class="irc-date">[19:02]</span> <span class="irc-black">&lt;DSpaceSlackBot&gt; &lt;kshepherd&gt; here!</span><br />
<span class="irc-date">3:01:26 PM CDT</span> <span class="irc-black"> tdonohue: pasted from another client</span><br/>
"""  # noqa: E501


def _utc(hour: int, minute: int) -> datetime:
    return datetime(2012, 3, 28, hour, minute, tzinfo=UTC)


def test_log_lines_keep_chat_only_with_speakers_bridges_and_clocks_resolved() -> None:
    said = real_chat.parse_log_lines(LOG.splitlines(), DAY)

    assert said == [
        ("hpottinger", _utc(18, 58), "mhwood: are we giving up on Bamboo?"),
        ("mhwood", _utc(18, 58), "We were using Bamboo?"),
        ("mhwood", _utc(19, 1), "see https://x.example/a?b=1&c=2 ...lol"),
        ("kshepherd", _utc(19, 2), "here!"),  # said on Slack, relayed by the bridge
    ]


def _messages(counts: dict[str, int]) -> list[real_chat.ChatMessage]:
    start = int(_utc(12, 0).timestamp() * 1000)
    speakers = [nick for nick, count in counts.items() for _ in range(count)]
    return [
        real_chat.ChatMessage(index, nick, start + index * 30_000, f"line {index}")
        for index, nick in enumerate(speakers)
    ]


def test_owner_is_the_most_active_speaker_and_too_few_messages_are_refused() -> None:
    messages = _messages({"ann": 3, "bob": 5, "cy": 5})

    assert real_chat.choose_owner(messages, minimum=5) == "bob"  # ties: the first by name
    assert real_chat.choose_owner(messages, "cy", minimum=5) == "cy"
    with pytest.raises(real_chat.RealChatError, match="3 messages, fewer than 5"):
        real_chat.choose_owner(messages, "ann", minimum=5)


def test_history_has_the_owner_as_device_owner_and_nicks_as_contact_names(
    tmp_path: Path,
) -> None:
    messages = _messages({"ann": 2, "bob": 3})
    same_minute = real_chat.ChatMessage(5, "ann", messages[-1].sent_at, "same minute")
    messages.append(same_minute)

    corpus = real_chat.signal_corpus(messages, "bob")
    path = real_chat.write_history(corpus, tmp_path, "sqlite")

    rows = [(m.author, m.thread, m.body) for m in corpus.messages]
    assert [author for author, _, _ in rows] == ["irc0", "irc0", OWNER_KEY, OWNER_KEY,
                                                 OWNER_KEY, "irc0"]  # fmt: skip
    assert {thread for _, thread, _ in rows} == {corpus.threads[0].key}
    assert corpus.threads[0].title == real_chat.CHANNEL and corpus.threads[0].is_group
    times = [m.sent_at for m in corpus.messages]
    assert times[:5] == [m.sent_at for m in messages[:5]]
    assert times[5] == times[4] + 1000  # logged in the same minute: one second later
    with sqlite3.connect(path) as db:
        names = dict(db.execute("SELECT _id, nickname_joined_name FROM recipient WHERE type = 0"))
        bodies = [body for (body,) in db.execute("SELECT body FROM message ORDER BY date_sent")]
    assert sorted(name for name in names.values() if name) == ["ann"]  # the owner has none
    assert bodies == [m.text for m in messages]


def test_style_flags_follow_the_documented_rules() -> None:
    ordinary = frozenset({"not", "all"})

    assert real_chat.style_flags("me too...always", ordinary) == {
        "ellipsis": True, "slang": False, "shouting": False}  # fmt: skip
    assert real_chat.style_flags("hmmm, NOT for JIRA lol", ordinary) == {
        "ellipsis": False, "slang": True, "shouting": True}  # fmt: skip
    assert not real_chat.style_flags("see http://x.org/ALL", ordinary)["shouting"]


def _documented(name: str) -> tuple[int, str]:
    """(lines, sha256) that docs/real-chat-corpus.md gives for a committed file."""
    row = re.search(
        rf"\| `{re.escape(name)}` \| ([\d,]+) \| `([0-9a-f]{{64}})` \|", DOC.read_text()
    )
    assert row, f"docs/real-chat-corpus.md has no row for {name}"
    return int(row[1].replace(",", "")), row[2]


@pytest.mark.parametrize("path", [real_chat.DATA_FILE, real_chat.LABELS_FILE], ids=str)
def test_committed_data_matches_the_documented_line_count_and_digest(path: Path) -> None:
    if not path.is_file():
        pytest.skip(f"{path.name} is not in this checkout (docs/real-chat-corpus.md)")
    raw = path.read_bytes()
    text = gzip.decompress(raw) if path.suffix == ".gz" else raw

    assert (text.count(b"\n"), real_chat.file_digest(path)) == _documented(path.name)


def test_precision_labels_parse_with_spans_inside_their_text() -> None:
    if not real_chat.LABELS_FILE.is_file():
        pytest.skip("precision_labels.jsonl is not in this checkout")
    labelled = real_chat.load_labels()

    assert len({m.id for m in labelled}) == len(labelled) == 2000
    assert all(m.text[a:b].strip() == m.text[a:b] for m in labelled for a, b, _ in m.spans)
