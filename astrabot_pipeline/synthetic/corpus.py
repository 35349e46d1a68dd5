"""A synthetic chat history that behaves like a real one, with a manifest of planted PII.

Per thread, conversations come in sessions separated by hours or days; inside a session
people take turns, and a turn is often a burst of several messages seconds apart. The
owner writes about half the messages in a recognisable style (lowercase, "hahaha",
"ngl", ✨). Sprinkled on top: tweet links, quotes, reactions, mentions, photos, edited
messages (with their superseded revisions), calls and group updates (not chat
messages: a decoder must drop them), and PII canaries — the cast's names, phone numbers,
e-mails and street addresses written into bodies the way people write them.

Everything is drawn from one `random.Random(seed)`, so a seed always gives the same
corpus. Timestamps are Unix milliseconds (UTC).
"""

from __future__ import annotations

import base64
import random
import re
import struct
import zlib
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import NamedTuple

from astrabot_pipeline.synthetic import _phrases as phrases
from astrabot_pipeline.synthetic.people import OWNER_KEY, Cast, Person, Style, build_cast

DEFAULT_START = datetime(2024, 3, 4, 8, 0, tzinfo=UTC)
CANARY_KINDS = ("name", "phone", "email", "address")
BURST_GAP_MS = 2 * 60 * 1000  # Vocabulary "Burst": consecutive messages within 2 min
_MIN_SESSION_GAP_MS = 45 * 60 * 1000  # sessions of one thread never run into each other

# How chatty each thread is, relative to the others (unlisted threads: 1.0).
_THREAD_WEIGHTS = {
    "alessia": 5.0,
    "priya": 3.5,
    "mateo": 3.0,
    "dmitri": 2.0,
    "tobias": 2.0,
    "marisol": 1.5,
    "kenji": 1.5,
    "siobhan": 1.2,
    "nadia": 1.0,
    "ingrid": 1.0,
    "oluwaseun": 0.8,
    "henrik": 0.6,
    "group:climbing": 3.0,
    "group:dinner": 2.5,
    "group:books": 1.2,
}
# Waking hours dominate (UTC stands in for the owner's local time).
_HOUR_WEIGHTS = (
    0.3,
    0.15,
    0.05,
    0.02,
    0.02,
    0.05,
    0.3,
    0.8,
    1.2,
    1.1,
    1.0,
    1.1,
    1.5,
    1.3,
    1.0,
    1.0,
    1.1,
    1.4,
    1.8,
    2.0,
    2.1,
    2.0,
    1.5,
    0.8,
)
_REACTION_EMOJI = ("❤️", "👍", "😂", "😮", "😢", "🙏", "🔥", "😂", "❤️")


class MessageKind(StrEnum):
    CHAT = "chat"
    CALL = "call"  # a call record: Signal stores it as a row in the message table
    GROUP_UPDATE = "group_update"  # "X created the group", title changes, …


@dataclass(frozen=True, slots=True)
class Reaction:
    author: str
    emoji: str
    sent_at: int


@dataclass(frozen=True, slots=True)
class Attachment:
    content_type: str
    file_name: str | None
    data: bytes = field(repr=False)
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class Mention:
    person: str
    start: int
    length: int


@dataclass(frozen=True, slots=True)
class Revision:
    """An earlier text of an edited message, superseded by the message's current body."""

    body: str
    sent_at: int


@dataclass(frozen=True, slots=True)
class Call:
    video: bool
    missed: bool  # direction is the author's: the owner calling is outgoing


@dataclass(slots=True)
class Message:
    """One row of history. Times are Unix ms; for an edited message `sent_at` is when it
    first appeared and `edited_at` when its current text was sent (Signal's `date_sent`
    of the newest revision)."""

    thread: str  # Thread.key
    author: str  # Person.key; OWNER_KEY for outgoing
    sent_at: int
    received_at: int
    body: str | None
    kind: MessageKind = MessageKind.CHAT
    index: int = -1  # position in Corpus.messages
    quote: int | None = None  # index of the quoted message in Corpus.messages
    reactions: list[Reaction] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    revisions: list[Revision] = field(default_factory=list)  # oldest first
    edited_at: int | None = None  # when the current body was written
    call: Call | None = None
    pii: tuple[tuple[str, str], ...] = ()  # (canary kind, exact string) written into body

    @property
    def is_outgoing(self) -> bool:
        return self.author == OWNER_KEY

    @property
    def is_chat(self) -> bool:
        return self.kind is MessageKind.CHAT

    @property
    def edited(self) -> bool:
        return bool(self.revisions)


@dataclass(frozen=True, slots=True)
class Thread:
    key: str  # a contact's key, or "group:<group key>"
    title: str
    is_group: bool
    members: tuple[str, ...]  # participants other than the owner


@dataclass(frozen=True)
class Corpus:
    """The generated history; `counts` holds message-level totals (chat_messages, outgoing,
    edited, quotes, tweet_links, pii_messages_<kind>, …)."""

    cast: Cast
    threads: tuple[Thread, ...]
    messages: tuple[Message, ...]  # all kinds, ordered by sent_at
    canaries: dict[str, list[str]]  # kind -> the exact strings written into bodies
    counts: dict[str, int]
    seed: int
    start: datetime
    end: datetime

    @property
    def chat_messages(self) -> list[Message]:
        return [message for message in self.messages if message.is_chat]

    def thread(self, key: str) -> Thread:
        for candidate in self.threads:
            if candidate.key == key:
                return candidate
        raise KeyError(key)


# --------------------------------------------------------------------------- text


_SLOT = re.compile(r"\{(\w+)\}")
TWEET_LINK = re.compile(r"https://(?:mobile\.)?(?:twitter|x)\.com/\w+/status/\d{19}(?:\?[\w=&-]+)?")
_TOKEN_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"
_TWEET_HOSTS = ("twitter.com", "x.com", "twitter.com", "x.com", "mobile.twitter.com")


class _Written(NamedTuple):
    text: str
    mentioned: list[str]  # person keys behind each U+FFFC, in order
    pii: tuple[tuple[str, str], ...]


_SENTINEL_BASE = 0xE000  # private-use code points: untouched by str.lower()


class _Writer:
    """Fills templates in one person's style and records which PII ended up in the text."""

    def __init__(self, rng: random.Random, cast: Cast) -> None:
        self.rng = rng
        self.cast = cast
        self._pii: list[tuple[str, str]] = []

    def name_of(self, person: Person, lower: bool) -> str:
        roll = self.rng.random()
        nickname = person.nickname or person.profile_given_name
        if nickname and roll < 0.35:
            name = nickname
        elif roll > 0.93:
            name = person.family_name
        else:
            name = person.given_name
        return name.lower() if lower and self.rng.random() < 0.85 else name

    def write(
        self,
        template: str,
        author: Person,
        *,
        others: tuple[str, ...] = (),
        subject: Person | None = None,
        extra: dict[str, tuple[str, str | None]] | None = None,
    ) -> _Written:
        """Fill `template`; `extra` maps slots to (text, canary kind or None)."""
        rng, style = self.rng, author.style
        self._pii = []
        deferred: list[Callable[[bool], str]] = []
        mentioned: list[str] = []

        def defer(render: Callable[[bool], str]) -> str:
            deferred.append(render)
            return chr(_SENTINEL_BASE + len(deferred) - 1)

        def person_for(slot: str) -> Person:
            if slot == "you" and others:
                return self.cast.person(rng.choice(others))
            if subject is not None and slot in ("name", "name_poss", "full"):
                return subject
            pool = [p for p in self.cast.people if p.key not in (author.key, *others)]
            return rng.choice(pool or list(self.cast.contacts))

        def fill(match: re.Match[str]) -> str:
            slot = match.group(1)
            if extra and slot in extra:
                value, kind = extra[slot]
                if kind is not None:
                    self._pii.append((kind, value))
                return defer(lambda lower: value)
            if slot in ("you", "friend", "name", "name2"):
                person = person_for(slot)
                return defer(lambda lower: self._name(person, lower))
            if slot == "name_poss":
                person = person_for(slot)
                return defer(lambda lower: self._name(person, lower) + "'s")
            if slot == "full":
                person = person_for(slot)
                return defer(lambda lower: self._full(person, lower))
            if slot == "mention":
                person = self.cast.person(rng.choice(others))
                mentioned.append(person.key)
                return defer(lambda lower: "\ufffc")
            if slot == "laugh":
                return rng.choice(style.laughs)
            if slot == "x":
                return style.exclaim
            return rng.choice(phrases.SLOTS[slot])

        text = _SLOT.sub(fill, template)
        text = self._styled(text, style)
        lower = text == text.lower()
        for position, render in enumerate(deferred):
            text = text.replace(chr(_SENTINEL_BASE + position), render(lower), 1)
        return _Written(text, mentioned, tuple(self._pii))

    def _name(self, person: Person, lower: bool) -> str:
        surface = self.name_of(person, lower)
        self._pii.append(("name", surface))
        return surface

    def _full(self, person: Person, lower: bool) -> str:
        given, family = person.given_name, person.family_name
        if lower:
            given, family = given.lower(), family.lower()
        self._pii.extend((("name", given), ("name", family)))
        return f"{given} {family}"

    def _styled(self, text: str, style: Style) -> str:
        rng = self.rng
        if style.phrases and rng.random() < style.phrase_rate:
            text = f"{rng.choice(style.phrases)} {text}"
        if style.tails and rng.random() < style.tail_rate:
            text = f"{text} {rng.choice(style.tails)}"
        if rng.random() < style.lowercase:
            text = text.lower()
        elif text[:1].isalpha():
            text = text[0].upper() + text[1:]
        if text[-1:].isalnum():
            roll = rng.random()
            if roll < style.period:
                text += "."
            elif roll < style.period + 0.07:
                text += style.exclaim
        if style.emoji and rng.random() < style.emoji_rate:
            emoji = rng.choice(style.emoji) * rng.choice((1, 1, 1, 2, 3))
            text += emoji if rng.random() < style.glue_emoji else f" {emoji}"
        return text


def _typo(text: str, rng: random.Random) -> str | None:
    """A plausible typing slip (swapped or dropped letter) in one word, or None."""
    words = text.split(" ")
    candidates = [i for i, word in enumerate(words) if len(word) >= 4 and word.isalpha()]
    if not candidates:
        return None
    i = rng.choice(candidates)
    word = words[i]
    j = rng.randrange(1, len(word) - 2)
    if rng.random() < 0.6:
        word = word[:j] + word[j + 1] + word[j] + word[j + 2 :]
    else:
        word = word[:j] + word[j + 1 :]
    if word == words[i]:
        return None
    words[i] = word
    return " ".join(words)


def _png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A tiny, valid, solid-colour PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height, 9))
        + chunk(b"IEND", b"")
    )


# --------------------------------------------------------------------------- corpus


def _add_months(moment: datetime, months: int) -> datetime:
    month = moment.month - 1 + months
    year, month = moment.year + month // 12, month % 12 + 1
    day = min(moment.day, 28)
    return moment.replace(year=year, month=month, day=day)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


class _Builder:
    def __init__(self, seed: int, n_messages: int, start: datetime, months: int) -> None:
        self.rng = random.Random(f"astrabot-corpus:{seed}")
        self.seed = seed
        self.n = n_messages
        self.start = start if start.tzinfo else start.replace(tzinfo=UTC)
        self.end = _add_months(self.start, months)
        self.cast = build_cast(seed)
        self.writer = _Writer(self.rng, self.cast)
        self.threads = tuple(
            [Thread(c.key, c.full_name, False, (c.key,)) for c in self.cast.contacts]
            + [Thread(f"group:{g.key}", g.title, True, g.members) for g in self.cast.groups]
        )
        self.chat: list[Message] = []
        self.extra: list[Message] = []  # calls and group updates
        self.quotes: dict[int, Message] = {}  # id(quoting message) -> quoted message

    # ---- sessions

    def _session_starts(self) -> list[tuple[int, Thread, int]]:
        """(planned start ms, thread, message count) for enough sessions to reach n."""
        rng = self.rng
        weights = [_THREAD_WEIGHTS.get(t.key, 1.0) for t in self.threads]
        days = (self.end - self.start).days
        sessions, total = [], 0
        while total < self.n:
            length = max(2, min(80, int(rng.lognormvariate(2.25, 0.65))))
            length = min(length, self.n - total)
            thread = rng.choices(self.threads, weights)[0]
            day = self.start.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
                days=rng.randrange(days)
            )
            hour = rng.choices(range(24), _HOUR_WEIGHTS)[0]
            moment = day + timedelta(hours=hour, seconds=rng.randrange(3600))
            planned = max(_ms(self.start), min(_ms(moment), _ms(self.end) - 6 * 3600 * 1000))
            sessions.append((planned, thread, length))
            total += length
        sessions.sort(key=lambda item: (item[0], item[1].key))
        return sessions

    def simulate(self) -> None:
        thread_free_at: dict[str, int] = {}
        for planned, thread, length in self._session_starts():
            begin = max(planned, thread_free_at.get(thread.key, 0))
            end = self._session(thread, begin, length)
            jitter = self.rng.randrange(15 * 60 * 1000)
            thread_free_at[thread.key] = end + _MIN_SESSION_GAP_MS + jitter

    def _session(self, thread: Thread, now: int, length: int) -> int:
        rng, cast, writer = self.rng, self.cast, self.writer
        topic = phrases.TOPICS[
            rng.choices(list(phrases.TOPIC_WEIGHTS), list(phrases.TOPIC_WEIGHTS.values()))[0]
        ]
        participants = (OWNER_KEY, *thread.members)
        owner_turn = 0.5 if not thread.is_group else 0.3
        author = OWNER_KEY if rng.random() < owner_turn else rng.choice(thread.members)
        written = 0
        first_turn = True
        used: set[str] = set()
        while written < length:
            person = cast.person(author)
            burst = 1
            while burst < 6 and rng.random() < person.style.burstiness:
                burst += 1
            burst = min(burst, length - written)
            for position in range(burst):
                last = written + position == length - 1
                for _ in range(3):  # people rarely say the very same thing twice in a session
                    template = self._template(topic, thread, first_turn, position, last=last)
                    if template not in used:
                        break
                used.add(template)
                others = tuple(p for p in participants if p != author)
                written_text = writer.write(template, person, others=others)
                received = now if author == OWNER_KEY else now + rng.randrange(150, 2500)
                self.chat.append(
                    Message(
                        thread.key, author, now, received, written_text.text, pii=written_text.pii
                    )
                )
                if position < burst - 1:
                    gap = rng.uniform(2, 25) if rng.random() < 0.8 else rng.uniform(25, 100)
                    now += int(gap * 1000) + rng.randrange(1000)
            written += burst
            first_turn = False
            # Next speaker: someone else; in groups the owner joins in less often.
            if thread.is_group:
                pool = [p for p in participants if p != author]
                weights = [2.2 if p == OWNER_KEY else 1.0 for p in pool]
                author = rng.choices(pool, weights)[0]
            else:
                author = thread.members[0] if author == OWNER_KEY else OWNER_KEY
            latency = min(max(rng.lognormvariate(4.0, 1.0), 4.0), 25 * 60)
            now += int(latency * 1000) + rng.randrange(1000)
        return now

    def _template(
        self,
        topic: dict[str, tuple[str, ...]],
        thread: Thread,
        first_turn: bool,
        position: int,
        *,
        last: bool,
    ) -> str:
        rng = self.rng
        if first_turn:
            if position == 0 and rng.random() < 0.3:
                return rng.choice(phrases.GREETINGS)
            if position == 0 and thread.is_group and rng.random() < 0.3:
                return rng.choice(phrases.GROUP_OPENERS)
            return rng.choice(topic["open"] if position <= 1 else topic["more"])
        if last and rng.random() < 0.35:
            return rng.choice(phrases.CLOSERS)
        roll = rng.random()
        if position == 0:
            if roll < 0.08:
                ack = rng.choice(phrases.ACKS).rstrip("?")
                return f"{ack}, {rng.choice(topic['reply'])}"
            if roll < 0.55:
                return rng.choice(topic["reply"])
            if roll < 0.78:
                return rng.choice(phrases.ACKS)
            if roll < 0.83:
                return "{laugh}" if rng.random() < 0.5 else rng.choice(("❤️", "😂", "🙌", "👀"))
            if roll < 0.91:
                return rng.choice(topic["open"])
            return rng.choice(topic["more"])
        if roll < 0.5:
            return rng.choice(topic["more"])
        if roll < 0.8:
            return rng.choice(topic["reply"])
        return rng.choice(phrases.ACKS)

    # ---- features planted on top of the plain conversation

    def _pick(self, count: int, eligible: Callable[[Message], bool]) -> list[Message]:
        pool = [m for m in self.chat if eligible(m)]
        picked = self.rng.sample(pool, min(count, len(pool)))
        picked.sort(key=lambda m: m.sent_at)
        return picked

    def _rewrite(
        self,
        message: Message,
        template: str,
        *,
        subject: Person | None = None,
        extra: dict[str, tuple[str, str | None]] | None = None,
    ) -> list[str]:
        thread = self._thread(message.thread)
        others = tuple(p for p in (OWNER_KEY, *thread.members) if p != message.author)
        author = self.cast.person(message.author)
        written = self.writer.write(template, author, others=others, subject=subject, extra=extra)
        message.body = written.text
        message.pii = written.pii
        return written.mentioned

    def _thread(self, key: str) -> Thread:
        return self._threads_by_key[key]

    def plant(self) -> None:
        self._threads_by_key = {t.key: t for t in self.threads}
        rng, n = self.rng, self.n
        special: set[int] = set()

        def free(message: Message) -> bool:
            return id(message) not in special and message.body is not None

        def claim(messages: list[Message]) -> list[Message]:
            special.update(id(m) for m in messages)
            return messages

        # PII canaries: kinds in turn so that every kind appears even in a small corpus.
        for number, message in enumerate(claim(self._pick(max(12, n // 60), free))):
            kind = CANARY_KINDS[number % len(CANARY_KINDS)]
            self._plant_canary(message, kind)

        for number, message in enumerate(claim(self._pick(max(6, n // 120), free))):
            handle = rng.choice(phrases.TWEET_HANDLES)
            status = rng.randrange(1_500_000_000_000_000_000, 1_900_000_000_000_000_000)
            host = _TWEET_HOSTS[number % len(_TWEET_HOSTS)]
            query = rng.choice(("", "", "?s=20", f"?s=46&t={self._share_token()}"))
            link = f"https://{host}/{handle}/status/{status}{query}"
            self._rewrite(message, rng.choice(phrases.TWEET_MESSAGES), extra={"link": (link, None)})

        for message in claim(self._pick(max(4, n // 250), free)):
            width, height = rng.choice(((16, 12), (12, 16), (20, 20), (24, 18)))
            rgb = (rng.randrange(256), rng.randrange(256), rng.randrange(256))
            stamp = datetime.fromtimestamp(message.sent_at / 1000, UTC)
            name = rng.choice((None, f"IMG_{stamp:%Y%m%d_%H%M%S}.png", "signal-photo.png"))
            message.attachments.append(
                Attachment("image/png", name, _png(width, height, rgb), width, height)
            )
            if rng.random() < 0.35:
                message.body, message.pii = None, ()
            else:
                self._rewrite(message, rng.choice(phrases.CAPTIONS))

        def group_message(message: Message) -> bool:
            return free(message) and message.thread.startswith("group:")

        for message in claim(self._pick(max(3, n // 400), group_message)):
            mentioned = self._rewrite(message, rng.choice(phrases.MENTION_MESSAGES))
            starts = [i for i, char in enumerate(message.body or "") if char == "\ufffc"]
            message.mentions = [Mention(p, s, 1) for p, s in zip(mentioned, starts, strict=True)]

        self._plant_edits(special)
        self._plant_quotes(special)
        self._plant_reactions()
        self._plant_calls()
        self._plant_group_updates()

    def _share_token(self) -> str:
        """A random share token like X's `t=` parameter that spells no one's name by chance."""
        names = {
            name.lower()
            for person in self.cast.people
            for name in (person.given_name, person.family_name, person.nickname)
            if name
        } | {p.profile_given_name.lower() for p in self.cast.people if p.profile_given_name}
        while True:
            token = "".join(self.rng.choices(_TOKEN_ALPHABET, k=22))
            if not any(name in token.lower() for name in names):
                return token

    def _plant_canary(self, message: Message, kind: str) -> None:
        rng = self.rng
        author = self.cast.person(message.author)
        templates = {
            "name": phrases.NAME_CANARIES,
            "phone": phrases.PHONE_CANARIES,
            "email": phrases.EMAIL_CANARIES,
            "address": phrases.ADDRESS_CANARIES,
        }[kind]
        template = rng.choice(templates)
        about_other = any(slot in template for slot in ("{name}", "{name_poss}", "{full}"))
        pool = [p for p in self.cast.people if p.key != author.key]
        subject = rng.choice(pool) if about_other else author
        extra: dict[str, tuple[str, str | None]] = {}
        if kind == "phone":
            extra["phone"] = (rng.choice(subject.phone_forms()), "phone")
        elif kind == "email":
            extra["email"] = (subject.email, "email")
        elif kind == "address":
            address = subject.address
            street = address.street_line if rng.random() < 0.7 else address.street_line_short
            if author.style.lowercase > 0.5 and rng.random() < 0.5:
                street = street.lower()
            extra.update(
                street=(street, "address"),
                city=(address.city, None),
                city_line=(address.city_line, None),
            )
        self._rewrite(message, template, subject=subject, extra=extra)

    def _by_thread(self) -> tuple[dict[str, list[Message]], dict[int, int]]:
        """Each thread's chat messages in order, and each message's position in its thread."""
        by_thread: dict[str, list[Message]] = defaultdict(list)
        position: dict[int, int] = {}
        for message in self.chat:
            position[id(message)] = len(by_thread[message.thread])
            by_thread[message.thread].append(message)
        return by_thread, position

    def _plant_edits(self, special: set[int]) -> None:
        rng = self.rng
        edits = 0
        target = max(3, self.n // 300)
        by_thread, positions = self._by_thread()
        candidates = [m for m in self.chat if id(m) not in special and m.body]
        rng.shuffle(candidates)
        for message in candidates:
            if edits >= target:
                break
            thread = by_thread[message.thread]
            position = positions[id(message)]
            next_at = thread[position + 1].sent_at if position + 1 < len(thread) else None
            room = (next_at - message.sent_at) if next_at else 120_000
            if room < 25_000:
                continue
            typo = _typo(message.body or "", rng)
            if typo is None:
                continue
            edited_at = message.sent_at + rng.randrange(4_000, min(room - 10_000, 90_000))
            revisions = [Revision(typo, message.sent_at)]
            if rng.random() < 0.25:
                second = _typo(message.body or "", rng)
                if second and second != typo:
                    middle = (message.sent_at + edited_at) // 2
                    revisions.append(Revision(second, middle))
            message.revisions = revisions
            message.edited_at = edited_at
            special.add(id(message))
            edits += 1

    def _plant_quotes(self, special: set[int]) -> None:
        rng = self.rng
        by_thread, positions = self._by_thread()
        target = max(6, self.n // 40)
        quoting = self._pick(target * 2, lambda m: not m.edited)
        planted = 0
        for message in quoting:
            if planted >= target:
                break
            thread = by_thread[message.thread]
            position = positions[id(message)]
            window = [
                m for m in thread[max(0, position - 12) : position] if m.body and not m.edited
            ]
            if not window:
                continue
            self.quotes[id(message)] = rng.choice(window)
            if id(message) not in special and rng.random() < 0.5:
                self._rewrite(message, rng.choice(phrases.QUOTE_REPLIES))
            planted += 1

    def _plant_reactions(self) -> None:
        rng = self.rng
        for message in self._pick(max(10, self.n // 18), lambda m: not m.edited):
            thread = self._thread(message.thread)
            people = [p for p in (OWNER_KEY, *thread.members) if p != message.author]
            count = 1 if not thread.is_group else rng.choice((1, 1, 1, 2, 3))
            for author in rng.sample(people, min(count, len(people))):
                delay = int(min(max(rng.lognormvariate(4.0, 1.5), 2.0), 7200) * 1000)
                message.reactions.append(
                    Reaction(author, rng.choice(_REACTION_EMOJI), message.sent_at + delay)
                )

    def _plant_calls(self) -> None:
        rng = self.rng
        direct = [t for t in self.threads if not t.is_group]
        weights = [_THREAD_WEIGHTS.get(t.key, 1.0) for t in direct]
        span = _ms(self.end) - _ms(self.start)
        for _ in range(max(3, self.n // 400)):
            thread = rng.choices(direct, weights)[0]
            outgoing = rng.random() < 0.45
            author = OWNER_KEY if outgoing else thread.members[0]
            at = _ms(self.start) + rng.randrange(span)
            call = Call(video=rng.random() < 0.3, missed=not outgoing and rng.random() < 0.35)
            received = at if outgoing else at + rng.randrange(150, 900)
            self.extra.append(
                Message(thread.key, author, at, received, None, MessageKind.CALL, call=call)
            )

    def _plant_group_updates(self) -> None:
        rng = self.rng
        first_message: dict[str, int] = {}
        for message in self.chat:
            first_message.setdefault(message.thread, message.sent_at)
        for group in self.cast.groups:
            key = f"group:{group.key}"
            begin = first_message.get(key, _ms(self.start))
            created = begin - rng.randrange(10 * 60_000, 2 * 3600_000)
            later = rng.randrange(begin, _ms(self.end))
            for at, author in ((created, group.creator), (later, rng.choice(group.members))):
                # Signal stores a serialized DecryptedGroupV2Context here; opaque bytes
                # stand in for it (a decoder must not show it as text either way).
                body = base64.b64encode(rng.randbytes(48)).decode("ascii")
                received = at if author == OWNER_KEY else at + rng.randrange(150, 900)
                self.extra.append(
                    Message(key, author, at, received, body, MessageKind.GROUP_UPDATE)
                )

    # ---- assembly

    def assemble(self) -> Corpus:
        messages = sorted(self.chat + self.extra, key=lambda m: (m.sent_at, m.thread, m.author))
        _make_sent_times_unique(messages)
        for index, message in enumerate(messages):
            message.index = index
        for message in messages:
            quoted = self.quotes.get(id(message))
            if quoted is not None:
                message.quote = quoted.index
        chat = [m for m in messages if m.is_chat]
        planted: dict[str, set[str]] = {kind: set() for kind in CANARY_KINDS}
        pii_messages: Counter[str] = Counter()
        for message in chat:
            for kind, surface in message.pii:
                planted[kind].add(surface)
            pii_messages.update({kind for kind, _ in message.pii})
        canaries = {kind: sorted(planted[kind]) for kind in CANARY_KINDS}
        counts = {
            "chat_messages": len(chat),
            "outgoing": sum(m.is_outgoing for m in chat),
            "incoming": sum(not m.is_outgoing for m in chat),
            "threads": len(self.threads),
            "contacts": len(self.cast.contacts),
            "groups": len(self.cast.groups),
            "calls": sum(m.kind is MessageKind.CALL for m in messages),
            "group_updates": sum(m.kind is MessageKind.GROUP_UPDATE for m in messages),
            "edited": sum(m.edited for m in chat),
            "superseded_revisions": sum(len(m.revisions) for m in chat),
            "quotes": sum(m.quote is not None for m in chat),
            "reactions": sum(len(m.reactions) for m in chat),
            "mentions": sum(len(m.mentions) for m in chat),
            "attachments": sum(len(m.attachments) for m in chat),
            "tweet_links": sum(len(TWEET_LINK.findall(m.body or "")) for m in chat),
            **{f"pii_messages_{kind}": pii_messages[kind] for kind in CANARY_KINDS},
        }
        return Corpus(
            cast=self.cast,
            threads=self.threads,
            messages=tuple(messages),
            canaries=canaries,
            counts=counts,
            seed=self.seed,
            start=self.start,
            end=self.end,
        )


def _make_sent_times_unique(messages: list[Message]) -> None:
    """Signal has a unique index on (date_sent, from_recipient_id, thread_id): nudge clashes."""
    used: set[tuple[int, str, str]] = set()
    for message in messages:
        for revision_number, revision in enumerate(message.revisions):
            at = revision.sent_at
            while (at, message.author, message.thread) in used:
                at += 1
            used.add((at, message.author, message.thread))
            if revision_number == 0 and at != message.sent_at:
                message.received_at += at - message.sent_at
                message.sent_at = at
            message.revisions[revision_number] = Revision(revision.body, at)
        at = message.edited_at if message.edited_at is not None else message.sent_at
        while (at, message.author, message.thread) in used:
            at += 1
        used.add((at, message.author, message.thread))
        if message.edited_at is not None:
            message.edited_at = at
        else:
            message.received_at += at - message.sent_at
            message.sent_at = at


def generate_corpus(
    *,
    n_messages: int = 20_000,
    seed: int = 0,
    start: datetime = DEFAULT_START,
    months: int = 6,
) -> Corpus:
    """A deterministic synthetic chat history with exactly `n_messages` chat messages.

    Non-chat rows (calls, group updates) and superseded edit revisions come on top.
    """
    if n_messages < 50:
        raise ValueError("n_messages must be at least 50 for every feature to be planted")
    if months < 1:
        raise ValueError("months must be at least 1")
    builder = _Builder(seed, n_messages, start, months)
    builder.simulate()
    builder.chat.sort(key=lambda m: (m.sent_at, m.thread, m.author))
    builder.plant()
    return builder.assemble()
