"""What is known about tweet ids, in SQLite, so a re-run never refetches it.

Default place: `$ASTRABOT_DATA_DIR/cache/tweets.sqlite` (it replaces the JSON cache
`cache/tweets.json`). The file is 0600 and missing parent folders are made 0700. Every
write is its own transaction (or one `transaction()` block is), in WAL mode, so a crash or
an exception mid-run leaves every committed row and a sound file. A file at the path that is
not a readable cache of this schema is moved aside as `<name>.corrupt-<timestamp>` with a
warning and a fresh cache is started: a cache costs only refetches, so it is never trusted
and never fatal.

Rows, keyed by tweet id:
- status `resolved`: text/author/date/quoted_* hold the tweet; never fetched again.
- status `not_found`: gone for good (reason: not_found, deleted, suspended, protected,
  withheld, unavailable, invalid_id); never fetched again (negative caching).
- status `failed`: a transient failure (reason: rate_limited, challenge, server_error,
  timeout, too_large, unknown_layout, connect_error, ...); fetched again only from
  `retry_after` on, which backs off exponentially per consecutive failure (see
  `failure_backoff_seconds`).
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.storage import PRIVATE_FILE_MODE, make_parents

if TYPE_CHECKING:
    from astrabot_pipeline.enrichment.parser import ParsedTweet

logger = logging.getLogger(__name__)

CACHE_FILE_NAME = "tweets.sqlite"  # under $ASTRABOT_DATA_DIR/cache/
SCHEMA_VERSION = 1
# PRAGMA application_id marks the file as ours ("ASTW"); anything else is moved aside.
APPLICATION_ID = 0x41535457
# A transient failure is retried after 10 min, then 20, 40, ... at most a week later.
FAILURE_BACKOFF_BASE_SECONDS = 600.0
FAILURE_BACKOFF_CAP_SECONDS = 7 * 24 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS tweets (
    tweet_id      TEXT PRIMARY KEY,
    status        TEXT NOT NULL CHECK (status IN ('resolved', 'not_found', 'failed')),
    reason        TEXT,
    text          TEXT,
    author        TEXT,
    date          TEXT,
    quoted_text   TEXT,
    quoted_author TEXT,
    fetched_at    REAL NOT NULL,
    retry_after   REAL,
    failures      INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID
"""


_SELECT = (
    "SELECT tweet_id, status, reason, text, author, date, quoted_text, quoted_author,"
    " fetched_at, retry_after, failures FROM tweets"
)


class CacheStatus(StrEnum):
    RESOLVED = "resolved"
    NOT_FOUND = "not_found"
    FAILED = "failed"


class TweetCacheError(AstrabotError, OSError):
    """The cache file or its folder cannot be created or opened (permissions, read-only
    disk, a folder in the way). An unreadable *file* is never this: it is moved aside."""


def failure_backoff_seconds(consecutive_failures: int) -> float:
    """How long after its n-th consecutive failure (n >= 1) a tweet is left alone."""
    exponent = min(max(consecutive_failures, 1) - 1, 30)
    return min(FAILURE_BACKOFF_BASE_SECONDS * 2.0**exponent, FAILURE_BACKOFF_CAP_SECONDS)


@dataclass(frozen=True)
class CachedTweet:
    """One cache row. `date` is when the tweet was posted (UTC); `fetched_at` and
    `retry_after` are epoch seconds; `failures` counts consecutive transient failures."""

    tweet_id: str
    status: CacheStatus
    reason: str | None
    text: str | None
    author: str | None
    date: datetime | None
    quoted_text: str | None
    quoted_author: str | None
    fetched_at: float
    retry_after: float | None
    failures: int


def _cached(row: tuple[Any, ...]) -> CachedTweet:
    (tweet_id, status, reason, text, author, date, quoted_text, quoted_author) = row[:8]
    fetched_at, retry_after, failures = row[8:11]
    return CachedTweet(
        tweet_id=tweet_id,
        status=CacheStatus(status),
        reason=reason,
        text=text,
        author=author,
        date=datetime.fromisoformat(date) if date else None,
        quoted_text=quoted_text,
        quoted_author=quoted_author,
        fetched_at=fetched_at,
        retry_after=retry_after,
        failures=failures,
    )


class TweetCache:
    """The SQLite tweet cache at `path` (None: in memory, for tests and dry runs).

    Safe to share between threads (one connection behind a lock). Use as a context
    manager or call `close()`.
    """

    def __init__(self, path: str | os.PathLike[str] | None) -> None:
        self.path = Path(path) if path is not None else None
        self.moved_aside: Path | None = None  # where an unreadable file at `path` went
        self._lock = threading.RLock()
        self._batch_depth = 0
        self._conn = self._open()

    # -- opening -----------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        if self.path is None:
            conn = sqlite3.connect(":memory:", check_same_thread=False, isolation_level=None)
            self._initialize(conn)
            return conn
        try:
            make_parents(self.path.parent)
            try:
                return self._open_file()
            except sqlite3.DatabaseError as error:
                self._move_aside(type(error).__name__)
                return self._open_file()
        except (OSError, sqlite3.Error) as error:
            raise TweetCacheError(
                f"cannot open the tweet cache {self.path} ({type(error).__name__}): make its "
                "folder writable by this user, or point ASTRABOT_DATA_DIR elsewhere"
            ) from error

    def _open_file(self) -> sqlite3.Connection:
        assert self.path is not None
        if self.path.is_symlink() or (self.path.exists() and not self.path.is_file()):
            # Never follow a link (or write into a folder) someone left at our path.
            raise sqlite3.DatabaseError("not a regular file")
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        if fresh:
            # Create the file 0600 before SQLite does (it would honour the umask instead).
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW, PRIVATE_FILE_MODE)
            os.close(fd)
        os.chmod(self.path, PRIVATE_FILE_MODE)
        conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        try:
            if not fresh:
                self._check_ours(conn)
            self._initialize(conn)
        except BaseException:
            conn.close()
            raise
        return conn

    @staticmethod
    def _check_ours(conn: sqlite3.Connection) -> None:
        """Raise sqlite3.DatabaseError unless the file is a sound cache of this schema."""
        (application_id,) = conn.execute("PRAGMA application_id").fetchone()
        (version,) = conn.execute("PRAGMA user_version").fetchone()
        if application_id != APPLICATION_ID or version != SCHEMA_VERSION:
            raise sqlite3.DatabaseError("not an astrabot tweet cache of this version")
        (verdict,) = conn.execute("PRAGMA quick_check").fetchone()
        if verdict != "ok":
            raise sqlite3.DatabaseError("integrity check failed")
        conn.execute("SELECT tweet_id, status, failures FROM tweets LIMIT 1").fetchall()

    @staticmethod
    def _initialize(conn: sqlite3.Connection) -> None:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=5000")
        conn.execute(f"PRAGMA application_id={APPLICATION_ID}")
        conn.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        conn.execute(_SCHEMA)

    def _move_aside(self, why: str) -> None:
        assert self.path is not None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        os.replace(self.path, target)
        for suffix in ("-wal", "-shm", "-journal"):
            sidecar = self.path.with_name(self.path.name + suffix)
            if sidecar.exists():
                os.replace(sidecar, target.with_name(target.name + suffix))
        self.moved_aside = target
        logger.warning(
            "tweet cache %s was not a readable cache (%s): moved aside to %s; "
            "its tweets will be fetched again",
            self.path,
            why,
            target.name,
        )

    # -- writing -----------------------------------------------------------------------

    @contextmanager
    def transaction(self) -> Iterator[TweetCache]:
        """Group writes into one commit: all of them land, or (on an exception) none."""
        with self._lock:
            outer = self._batch_depth == 0
            if outer:
                self._conn.execute("BEGIN IMMEDIATE")
            self._batch_depth += 1
            try:
                yield self
            except BaseException:
                self._batch_depth -= 1
                if outer:
                    self._conn.execute("ROLLBACK")
                raise
            self._batch_depth -= 1
            if outer:
                self._conn.execute("COMMIT")

    def _upsert(self, row: Mapping[str, Any]) -> None:
        columns = ", ".join(row)
        placeholders = ", ".join(f":{name}" for name in row)
        with self.transaction():
            self._conn.execute(
                f"INSERT OR REPLACE INTO tweets ({columns}) VALUES ({placeholders})", row
            )

    def put_resolved(self, tweet_id: str, tweet: ParsedTweet, *, now: float | None = None) -> None:
        """Store a fetched tweet; it will never be fetched again."""
        self._upsert(
            {
                "tweet_id": str(tweet_id),
                "status": CacheStatus.RESOLVED.value,
                "reason": None,
                "text": tweet.text,
                "author": tweet.author,
                "date": tweet.date.isoformat() if tweet.date is not None else None,
                "quoted_text": tweet.quoted_text,
                "quoted_author": tweet.quoted_author,
                "fetched_at": time.time() if now is None else now,
                "retry_after": None,
                "failures": 0,
            }
        )

    def put_not_found(self, tweet_id: str, reason: str, *, now: float | None = None) -> None:
        """Store that a tweet is gone for good (deleted, suspended, ...): never refetched."""
        self._upsert(
            {
                "tweet_id": str(tweet_id),
                "status": CacheStatus.NOT_FOUND.value,
                "reason": str(reason),
                "fetched_at": time.time() if now is None else now,
                "failures": 0,
            }
        )

    def put_failure(
        self,
        tweet_id: str,
        reason: str,
        retry_after: float | None = None,
        *,
        now: float | None = None,
    ) -> float:
        """Record a transient failure; return the epoch second from which it may be retried
        (infinity for a tweet already resolved or not found: it keeps that verdict).

        That is the later of `retry_after` (e.g. from a Retry-After header) and the cache's
        own backoff, `failure_backoff_seconds(consecutive failures)` from now.
        """
        now = time.time() if now is None else now
        tweet_id = str(tweet_id)
        with self.transaction():
            known = self.get(tweet_id)
            if known is not None and known.status is not CacheStatus.FAILED:
                return math.inf  # a final verdict: never fetched again
            failures = (known.failures if known is not None else 0) + 1
            earliest = max(retry_after or 0.0, now + failure_backoff_seconds(failures))
            self._upsert(
                {
                    "tweet_id": tweet_id,
                    "status": CacheStatus.FAILED.value,
                    "reason": str(reason),
                    "fetched_at": now,
                    "retry_after": earliest,
                    "failures": failures,
                }
            )
        return earliest

    # -- reading -----------------------------------------------------------------------

    def get(self, tweet_id: str) -> CachedTweet | None:
        with self._lock:
            row = self._conn.execute(_SELECT + " WHERE tweet_id = ?", (str(tweet_id),)).fetchone()
        return _cached(row) if row is not None else None

    def get_many(self, tweet_ids: Iterable[str]) -> dict[str, CachedTweet]:
        """The rows known for `tweet_ids` (unknown ids are absent), in few queries."""
        ids = list(dict.fromkeys(str(tweet_id) for tweet_id in tweet_ids))
        found: dict[str, CachedTweet] = {}
        with self._lock:
            for start in range(0, len(ids), 500):  # SQLite caps bound parameters per query
                chunk = ids[start : start + 500]
                marks = ", ".join("?" * len(chunk))
                for row in self._conn.execute(_SELECT + f" WHERE tweet_id IN ({marks})", chunk):
                    found[row[0]] = _cached(row)
        return found

    def should_fetch(self, tweet_id: str, now: float | None = None) -> bool:
        """Whether asking an instance about `tweet_id` can teach anything now: unknown ids
        yes, resolved and not-found ones never, failed ones once `retry_after` has passed."""
        known = self.get(tweet_id)
        if known is None:
            return True
        if known.status is not CacheStatus.FAILED:
            return False
        now = time.time() if now is None else now
        return known.retry_after is None or now >= known.retry_after

    def counts(self) -> dict[str, int]:
        """Rows per status (every status present, 0 when none)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT status, COUNT(*) FROM tweets GROUP BY status"
            ).fetchall()
        counts = {status.value: 0 for status in CacheStatus}
        counts.update({status: int(count) for status, count in rows})
        return counts

    def __len__(self) -> int:
        return sum(self.counts().values())

    # -- lifetime ----------------------------------------------------------------------

    def close(self) -> None:
        with self._lock:
            if self._conn is None:
                return
            try:
                if self.path is not None:
                    self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            finally:
                self._conn.close()
                self._conn = None  # type: ignore[assignment]

    def __enter__(self) -> TweetCache:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
