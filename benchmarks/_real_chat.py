"""Real human chat for the benchmarks: the #duraspace IRC logs (CC BY 4.0), as one loader.

Shared by the voice benchmark (a Signal history whose owner is one real person with
thousands of messages) and the anonymizer's clean-chat precision set (a seeded random
sample, labelled by hand). Source, licence and the extraction are in
docs/real-chat-corpus.md.

    python benchmarks/_real_chat.py extract --logs DIR    # original-logs/ -> the data file
    python benchmarks/_real_chat.py build --out DIR [--owner NICK] [--format backup|sqlite]
    python benchmarks/_real_chat.py sample --n 2000 --seed 20 --out FILE

`build` writes the history with the project's own writers (`write_signal_database`, then
`write_corpus_backup` for an encrypted legacy `.backup`): the owner is the device
owner, every other speaker a contact whose Signal nickname is their IRC nick (so the
anonymizer's contact list knows them), the channel one group thread, times preserved.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import html
import json
import random
import re
import sys
import uuid
from collections import Counter
from collections.abc import Container, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from astrabot_pipeline import storage  # noqa: E402
from astrabot_pipeline.synthetic.corpus import Corpus, Message, Thread  # noqa: E402
from astrabot_pipeline.synthetic.demo_backup import write_corpus_backup  # noqa: E402
from astrabot_pipeline.synthetic.people import (  # noqa: E402
    OWNER_KEY,
    Address,
    Cast,
    Group,
    Person,
    Style,
)
from astrabot_pipeline.synthetic.signal_db import write_signal_database  # noqa: E402

DATA_DIR = Path(__file__).resolve().parent / "data" / "real_chat"
DATA_FILE = DATA_DIR / "duraspace_irc.jsonl.gz"
LABELS_FILE = DATA_DIR / "precision_labels.jsonl"
CHANNEL = "#duraspace"
# The logger's clock: UTC (meetings "at 20:00 UTC" are logged at [20:00]); the days of
# --start/--end are UTC days.
LOG_ZONE = UTC
MIN_OWNER_MESSAGES = 1_000
# Public like the demo's: the history is built from public logs.
PASSPHRASE = "222223333344444555556666677777"
BACKUP_NAME = "real-chat.backup"
SQLITE_NAME = "real-chat.db"

# Programs, not people: a link-title bot, the logger, the Slack bridge's own lines.
BOTS = frozenset(
    {"kompewter", "DuraLogBot", "DSpaceSlackBot", "DSpaceSlackBot1", "DSpaceSlackBot2"}
)
_BRIDGES = re.compile(r"^DSpaceSlackBot\d*$")
_LINE = re.compile(
    r'^<span class="irc-date">(?P<clock>[^<]*)</span>\s*'
    r'<span class="irc-black">(?P<body>.*)</span><br\s*/?>\s*$'
)
_SAID = re.compile(r"^<(?P<nick>[^>\s]+)> ?(?P<text>.*)$")  # "<nick> text"
_SLACK = re.compile(r"^<(?P<nick>[^>\s]+)> (?P<text>.*)$")  # bridged: "<slack nick> text"
_CLOCK = re.compile(r"^\[([01]?\d|2[0-3]):([0-5]\d)\]$")
_TAG = re.compile(r"<[^>]+>")


class RealChatError(Exception):
    """The real-chat data is missing, malformed, or cannot give what was asked."""


@dataclass(frozen=True)
class ChatMessage:
    """One line said in the channel: who, when (Unix ms, minute or second precision)."""

    id: int  # position in the extracted file, in log order
    speaker: str
    sent_at: int
    text: str
    channel: str = CHANNEL


# --------------------------------------------------------------------------- extraction


def _clock(raw: str, day: date) -> datetime | None:
    """The moment of a "[H:MM]" line (the logger wrote UTC); None for any other stamp."""
    if match := _CLOCK.match(raw):
        return datetime.combine(day, time(int(match[1]), int(match[2])), tzinfo=UTC)
    return None


def parse_log_lines(lines: Iterable[str], day: date) -> list[tuple[str, datetime, str]]:
    """(speaker, time, text) of every chat line of one day's log, bots and bridges unwrapped.

    Joins, quits, topic and server notices, and /me actions are not chat lines and are
    left out; a line from the Slack bridge counts as said by the Slack user it names.
    Lines stamped otherwise than "[H:MM]" are left out too: the only ones, in
    2018-05-09.log, are a meeting pasted in from another client's log, unescaped markup
    included (docs/real-chat-corpus.md).
    """
    said: list[tuple[str, datetime, str]] = []
    for line in lines:
        match = _LINE.match(line.strip())
        if not match:
            continue
        when = _clock(match["clock"], day)
        body = html.unescape(_TAG.sub("", match["body"]))
        spoken = _SAID.match(body)
        if when is None or spoken is None:
            continue
        speaker, text = spoken["nick"], spoken["text"]
        if _BRIDGES.match(speaker) and (bridged := _SLACK.match(text)):
            speaker, text = bridged["nick"], bridged["text"]
        text = text.strip()
        if speaker in BOTS or not text:
            continue
        said.append((speaker, when, text))
    return said


def extract(logs_dir: Path) -> list[ChatMessage]:
    """Every chat line of `original-logs/YYYY-MM-DD.log`, in file then line order."""
    files = sorted(logs_dir.glob("????-??-??.log"))
    if not files:
        raise RealChatError(f"no YYYY-MM-DD.log files in {logs_dir}: pass original-logs/")
    messages: list[ChatMessage] = []
    for path in files:
        day = date.fromisoformat(path.stem)
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        for speaker, when, text in parse_log_lines(lines, day):
            sent_at = int(when.timestamp() * 1000)
            messages.append(ChatMessage(len(messages), speaker, sent_at, text))
    return messages


def write_messages(messages: Sequence[ChatMessage], path: Path) -> None:
    """A gzip'd JSON-lines file, byte-identical for the same messages (mtime 0)."""
    lines = "".join(json.dumps(asdict(m), ensure_ascii=False) + "\n" for m in messages)
    with (
        storage.atomic_output(path) as tmp,
        open(tmp, "wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0) as packed,
    ):
        packed.write(lines.encode())


# --------------------------------------------------------------------------- loading


def parse_messages(lines: Iterable[str]) -> list[ChatMessage]:
    """ChatMessages from JSON lines (the data file's format)."""
    messages = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            messages.append(
                ChatMessage(
                    id=int(row["id"]),
                    speaker=str(row["speaker"]),
                    sent_at=int(row["sent_at"]),
                    text=str(row["text"]),
                    channel=str(row.get("channel", CHANNEL)),
                )
            )
        except (ValueError, KeyError, TypeError) as error:
            raise RealChatError(f"line {number} is not a chat message ({error})") from None
    return messages


def load_messages(path: Path = DATA_FILE) -> list[ChatMessage]:
    if not path.is_file():
        raise RealChatError(f"{path} is missing: see docs/real-chat-corpus.md to rebuild it")
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        return parse_messages(lines)


def file_digest(path: Path = DATA_FILE) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def speaker_counts(messages: Iterable[ChatMessage]) -> Counter[str]:
    return Counter(message.speaker for message in messages)


def choose_owner(
    messages: Sequence[ChatMessage], name: str | None = None, minimum: int = MIN_OWNER_MESSAGES
) -> str:
    """`name`, or the speaker with the most messages; refused under `minimum` messages."""
    counts = speaker_counts(messages)
    if not counts:
        raise RealChatError("no messages to choose an owner from")
    owner = name if name is not None else min(counts, key=lambda s: (-counts[s], s))
    if counts[owner] < minimum:
        raise RealChatError(f"{owner!r} has {counts[owner]} messages, fewer than {minimum}")
    return owner


def between(
    messages: Sequence[ChatMessage], start: date | None, end: date | None
) -> list[ChatMessage]:
    """The messages sent on days in [start, end) (log-local days), both bounds optional."""

    def day(message: ChatMessage) -> date:
        return datetime.fromtimestamp(message.sent_at / 1000, LOG_ZONE).date()

    return [
        m for m in messages if (start is None or day(m) >= start) and (end is None or day(m) < end)
    ]


def draw_sample(messages: Sequence[ChatMessage], n: int, seed: int) -> list[ChatMessage]:
    """`n` distinct messages drawn uniformly with `random.Random(seed)`, in id order."""
    if n > len(messages):
        raise RealChatError(f"cannot draw {n} messages from {len(messages)}")
    return sorted(random.Random(seed).sample(list(messages), n), key=lambda m: m.id)


# --------------------------------------------------------------------------- precision set

SPAN_TYPES = ("PERSON", "PHONE", "EMAIL", "URL", "ADDRESS", "HANDLE", "ID", "OTHER")
STYLE_FLAGS = ("ellipsis", "slang", "shouting")
_ELLIPSIS = re.compile(r"\.\.|\u2026")
_TOKEN = re.compile(r"[A-Za-z0-9']+")
# Chat abbreviations, interjections and spoken forms (lower-cased tokens), plus "hmmm",
# "hahaha", "lool"-style stretches through the pattern below.
SLANG = frozenset((
    "lol", "lmao", "rofl", "heh", "hehe", "hah", "haha", "btw", "imo", "imho", "afaik",
    "iirc", "fwiw", "tbh", "brb", "bbl", "afk", "np", "thx", "ty", "pls", "plz", "u", "ur",
    "ya", "yea", "yeah", "yep", "yup", "nope", "gonna", "wanna", "gotta", "dunno", "kinda",
    "sorta", "meh", "ugh", "argh", "oops", "doh", "woot", "w00t", "yay", "omg", "wtf",
    "ftw", "cya", "ttyl", "gtg", "nvm", "idk", "tho", "cuz", "coz", "kk", "okey", "dokey",
    "fyi", "atm", "asap", "gotchya", "aye", "yeh", "nah", "ack", "erm", "um", "umm",
))  # fmt: skip
_STRETCHED = re.compile(r"^(?:hm{2,}|(?:ha){2,}h?|lo+l|argh+|u+gh+|o+ps+)$")
_URLISH = re.compile(r"\S+://\S+|www\.\S+|\S+\.(?:org|com|net)\S*")
_WORD3 = re.compile(r"(?<![\w.#/-])[A-Za-z]{3,}(?![\w.(/-])")
# A word is "ordinary" (not an acronym) when the corpus writes it in lower case at least
# this often and in capitals under this share of its uses.
ORDINARY_MIN_LOWER = 20
ORDINARY_MAX_CAPS_SHARE = 0.05


def ordinary_words(messages: Iterable[ChatMessage]) -> frozenset[str]:
    """Lower-cased words the corpus itself writes in lower case (JIRA, SOLR, XMLUI are not)."""
    total: Counter[str] = Counter()
    capitals: Counter[str] = Counter()
    lower: Counter[str] = Counter()
    for message in messages:
        for word in _WORD3.findall(_URLISH.sub(" ", message.text)):
            key = word.lower()
            total[key] += 1
            capitals[key] += word.isupper()
            lower[key] += word.islower()
    return frozenset(
        word
        for word, count in total.items()
        if lower[word] >= ORDINARY_MIN_LOWER and capitals[word] / count < ORDINARY_MAX_CAPS_SHARE
    )


def style_flags(text: str, ordinary: Container[str]) -> dict[str, bool]:
    """ellipsis: ".." or "…"; slang: a token in SLANG or a stretched "hmmm"/"haha";
    shouting: a word of 3+ letters in capitals that the corpus writes in lower case."""
    tokens = [token.lower() for token in _TOKEN.findall(text)]
    return {
        "ellipsis": bool(_ELLIPSIS.search(text)),
        "slang": any(t in SLANG or _STRETCHED.match(t) for t in tokens),
        "shouting": any(
            word.isupper() and word.lower() in ordinary
            for word in _WORD3.findall(_URLISH.sub(" ", text))
        ),
    }


@dataclass(frozen=True)
class LabelledMessage:
    """A message of the precision set with its hand-made gold spans (start, end, type)."""

    id: int
    speaker: str
    text: str
    spans: tuple[tuple[int, int, str], ...]
    style: dict[str, bool]

    @property
    def has_pii(self) -> bool:
        return bool(self.spans)


def parse_labels(lines: Iterable[str]) -> list[LabelledMessage]:
    labelled = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            text = str(row["text"])
            spans = tuple((int(a), int(b), str(kind)) for a, b, kind in row["spans"])
            style = {flag: bool(row["style"][flag]) for flag in STYLE_FLAGS}
            message = LabelledMessage(int(row["id"]), str(row["speaker"]), text, spans, style)
        except (ValueError, KeyError, TypeError) as error:
            raise RealChatError(f"label line {number} is malformed ({error})") from None
        for start, end, kind in spans:
            if kind not in SPAN_TYPES or not 0 <= start < end <= len(text):
                raise RealChatError(f"label line {number} has a bad span {start}-{end} {kind}")
        labelled.append(message)
    return labelled


def load_labels(path: Path = LABELS_FILE) -> list[LabelledMessage]:
    if not path.is_file():
        raise RealChatError(f"{path} is missing: see docs/real-chat-corpus.md")
    with path.open(encoding="utf-8") as lines:
        return parse_labels(lines)


# --------------------------------------------------------------------------- Signal history

_STYLE = Style(lowercase=0.0, period=0.0, exclaim="!", laughs=(), emoji=(), emoji_rate=0.0)
_ADDRESS = Address(1, "Example", "Street", "St", "Springfield", "IL", "62701")


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, ":".join(("astrabot-real-chat", *parts))))


def _person(key: str, nick: str, index: int) -> Person:
    """A contact known by its nick only; numbers in the fictional 555-01xx range."""
    area, line = 201 + index // 100, 100 + index % 100
    return Person(
        key=key,
        given_name=nick,
        family_name="",
        e164=f"+1{area}555{line:04d}",
        email=f"user{index}@example.org",
        address=_ADDRESS,
        aci=_uuid("aci", nick),
        pni=_uuid("pni", nick),
        style=_STYLE,
        nickname=None if key == OWNER_KEY else nick,
        in_address_book=False,
    )


def _sent_times(messages: Sequence[ChatMessage]) -> list[int]:
    """Times kept in log order: lines logged in the same minute are spread a second apart
    (a millisecond apart past the minute's end, or after the clock steps back)."""
    times: list[int] = []
    for message in messages:
        at = message.sent_at
        if times and at <= times[-1]:
            step = 1000 if times[-1] + 1000 < message.sent_at + 60_000 else 1
            at = times[-1] + step
        times.append(at)
    return times


def signal_corpus(messages: Sequence[ChatMessage], owner: str) -> Corpus:
    """The messages as the project's Corpus: owner outgoing, one group thread per channel."""
    if not messages:
        raise RealChatError("no messages to build a history from")
    speakers = sorted(speaker_counts(messages))
    keys = {nick: (OWNER_KEY if nick == owner else f"irc{index}") for index, nick in
            enumerate(speakers)}  # fmt: skip
    if owner not in keys:
        raise RealChatError(f"{owner!r} says nothing in these messages")
    people = {nick: _person(keys[nick], nick, index) for index, nick in enumerate(speakers)}
    channels = sorted({m.channel for m in messages})
    groups, threads = [], []
    for number, channel in enumerate(channels):
        members = tuple(
            sorted({keys[m.speaker] for m in messages if m.channel == channel} - {OWNER_KEY})
        )
        digest = hashlib.sha256(f"real-chat:{channel}".encode()).digest()
        group_key = f"channel{number}"
        groups.append(
            Group(group_key, channel, members, "__signal_group__v2__!" + digest.hex(), digest)
        )
        threads.append(Thread(f"group:{group_key}", channel, True, members))
    thread_of = {channel: thread.key for channel, thread in zip(channels, threads, strict=True)}
    ordered = sorted(messages, key=lambda m: m.id)
    rows = [
        Message(thread_of[m.channel], keys[m.speaker], at, at, m.text, index=index)
        for index, (m, at) in enumerate(zip(ordered, _sent_times(ordered), strict=True))
    ]
    contacts = tuple(people[nick] for nick in speakers if nick != owner)
    outgoing = sum(m.speaker == owner for m in ordered)
    counts = {
        "chat_messages": len(rows),
        "outgoing": outgoing,
        "incoming": len(rows) - outgoing,
        "threads": len(threads),
        "contacts": len(contacts),
        "groups": len(groups),
    }
    first = datetime.fromtimestamp(rows[0].sent_at / 1000, LOG_ZONE)
    last = datetime.fromtimestamp(rows[-1].sent_at / 1000, LOG_ZONE)
    return Corpus(
        cast=Cast(owner=people[owner], contacts=contacts, groups=tuple(groups)),
        threads=tuple(threads),
        messages=tuple(rows),
        canaries={},
        counts=counts,
        seed=0,
        start=first,
        end=last + timedelta(seconds=1),
    )


def write_history(corpus: Corpus, out_dir: Path, kind: str = "backup") -> Path:
    """`out_dir/real-chat.backup` (encrypted, PASSPHRASE) or `out_dir/real-chat.db`."""
    out_dir = storage.private_dir(out_dir)
    if kind == "sqlite":
        target = out_dir / SQLITE_NAME
        target.unlink(missing_ok=True)
        write_signal_database(corpus, target)
        return target
    if kind != "backup":
        raise RealChatError(f"unknown history format {kind!r}: backup or sqlite")
    return write_corpus_backup(
        corpus,
        out_dir / BACKUP_NAME,
        PASSPHRASE,
        tag=f"astrabot-real-chat:{len(corpus.messages)}",
    )


# --------------------------------------------------------------------------- CLI


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    extract_cmd = commands.add_parser("extract", help="original-logs/ -> the data file")
    extract_cmd.add_argument("--logs", type=Path, required=True)
    extract_cmd.add_argument("--out", type=Path, default=DATA_FILE)
    build_cmd = commands.add_parser("build", help="write a Signal history")
    build_cmd.add_argument("--out", type=Path, required=True)
    build_cmd.add_argument("--owner", help="a nick; default: the most active speaker")
    build_cmd.add_argument("--start", type=date.fromisoformat, help="first day (YYYY-MM-DD)")
    build_cmd.add_argument("--end", type=date.fromisoformat, help="day after the last")
    build_cmd.add_argument("--format", choices=("backup", "sqlite"), default="backup")
    sample_cmd = commands.add_parser("sample", help="a seeded random sample, one JSON a line")
    sample_cmd.add_argument("--n", type=int, default=2000)
    sample_cmd.add_argument("--seed", type=int, required=True)
    sample_cmd.add_argument("--out", type=Path, required=True)
    for command in (build_cmd, sample_cmd):
        command.add_argument("--data", type=Path, default=DATA_FILE)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "extract":
        messages = extract(args.logs)
        write_messages(messages, args.out)
        print(f"messages {len(messages)}  speakers {len(speaker_counts(messages))}")
        print(f"sha256 {file_digest(args.out)}  bytes {args.out.stat().st_size}")
        return 0
    messages = load_messages(args.data)
    if args.command == "sample":
        sample = draw_sample(messages, args.n, args.seed)
        lines = "".join(json.dumps(asdict(m), ensure_ascii=False) + "\n" for m in sample)
        storage.write_text(args.out, lines)
        print(f"sampled {len(sample)} of {len(messages)} messages (seed {args.seed})")
        return 0
    messages = between(messages, args.start, args.end)
    owner = choose_owner(messages, args.owner)
    corpus = signal_corpus(messages, owner)
    path = write_history(corpus, args.out, args.format)
    counts = corpus.counts
    print(
        f"messages {counts['chat_messages']}  owner messages {counts['outgoing']}  "
        f"speakers {counts['contacts'] + 1}  threads {counts['threads']}"
    )
    print(f"wrote {path}" + (f" (passphrase {PASSPHRASE})" if args.format == "backup" else ""))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except RealChatError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
