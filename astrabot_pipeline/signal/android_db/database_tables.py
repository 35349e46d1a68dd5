"""Read a replayed Signal Android database into the data-contract tables.

Columns are always found by name (PRAGMA table_info), never by position, so one code
path covers the single `message` table (DB >= 174, `from/to_recipient_id` from 185), the
merged `mms` table (168-173) and the older separate `sms` + `mms` tables (< 168).
Schema landmarks and the `type` bit field: docs/backup-formats.md §6, §6.2.
"""

from __future__ import annotations

import sqlite3
from collections import Counter
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
from google.protobuf.message import DecodeError

from astrabot_pipeline.signal.android_db.recipients import (
    RECIPIENT_FIELDS,
    recipient_name_forms,
    recipient_record,
)
from astrabot_pipeline.signal.android_db.schema import (
    ATTACHMENT_COLUMNS,
    BASE_TYPE_MASK,
    FIRST_RECIPIENT_TABLE_VERSION,
    INCOMING_BASE,
    LONG_TEXT_CONTENT_TYPE,
    MAX_LONG_TEXT_BYTES,
    MENTION_COLUMNS,
    MESSAGE_COLUMNS,
    NON_CHAT_BITS,
    OUTGOING_BASES,
    REACTION_COLUMNS,
    RECIPIENT_COLUMNS,
    THREAD_COLUMNS,
    ReactionList,
)
from astrabot_pipeline.signal.errors import UnsupportedBackupError
from astrabot_pipeline.signal.sqlite_guard import ReadGuard, quote_identifier
from astrabot_pipeline.signal.tables import (
    KEY_VALUE_TABLE,
    PREFERENCE_TABLE,
    NormalizedBackup,
    conform,
    stripped_text,
    to_int,
    to_timestamp,
)


def normalize_database(
    db_path: str | Path,
    *,
    blob_root: str | Path | None = None,
    attachment_paths: Mapping[int, str] | None = None,
) -> NormalizedBackup:
    """Read a replayed (or otherwise untrusted) database into conformed contract tables.

    `attachment_paths` maps attachment row ids to the files this decode's own reader
    wrote, relative to `blob_root`; paths stored inside the database are never followed.
    Attachment paths in the result stay relative to `blob_root`. The database is read
    under `sqlite_guard`'s read-only authorizer, limits and work budget.
    """
    db_path = Path(db_path)
    connection = sqlite3.connect(f"file:{db_path.as_posix()}?mode=ro", uri=True)
    try:
        guard = ReadGuard(connection, db_path.stat().st_size)
        normalizer = _Normalizer(
            connection,
            guard,
            Path(blob_root) if blob_root else None,
            dict(attachment_paths or {}),
        )
        return normalizer.run()
    finally:
        connection.close()


# -- small helpers ------------------------------------------------------------------------


def _ints_or_none(series: pd.Series) -> list[int | None]:
    """A numeric column's values as Python ints, None where missing (no per-cell pandas call)."""
    return to_int(series).to_numpy(dtype=object, na_value=None).tolist()


def _nonzero(series: pd.Series) -> pd.Series:
    return to_int(series).fillna(0) != 0


def _inside(root: Path | None, relative: str) -> Path | None:
    """`root / relative` if it is a plain file inside `root` (no absolute path, no `..`,
    no symlink out), else None."""
    if root is None or not isinstance(relative, str):
        return None
    candidate = Path(relative)
    if candidate.is_absolute() or ".." in candidate.parts:
        return None
    base = root.resolve()
    path = (base / candidate).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


# -- the normalizer -------------------------------------------------------------------------


class _Normalizer:
    """One pass over an open database: recipients, messages, then the dependent tables."""

    def __init__(
        self,
        connection: sqlite3.Connection,
        guard: ReadGuard,
        blob_root: Path | None,
        attachment_paths: dict[int, str],
    ) -> None:
        self.connection = connection
        self.guard = guard
        self.blob_root = blob_root
        self.warnings: list[str] = []
        self.columns = self._probe_columns()
        with guard.reading("the schema version", trusted=True):
            self.database_version = connection.execute("PRAGMA user_version").fetchone()[0]
        self.key_values = self._side_values(KEY_VALUE_TABLE, "key")
        self.preferences = self._side_values(PREFERENCE_TABLE, "key")
        self.blob_paths = attachment_paths
        self.sms_offset = 0

    def query(self, sql: str, what: str) -> pd.DataFrame:
        """Run one of our SELECTs and return its rows as a DataFrame."""
        with self.guard.reading(what):
            cursor = self.connection.execute(sql)
            columns = [description[0] for description in cursor.description]
            rows = cursor.fetchall()
        return pd.DataFrame.from_records(rows, columns=columns, coerce_float=True)

    def _probe_columns(self) -> dict[str, dict[str, str]]:
        with self.guard.reading("the table list"):
            names = [
                row[0]
                for row in self.connection.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                )
            ]
        columns: dict[str, dict[str, str]] = {}
        for name in names:
            if not isinstance(name, str) or "\x00" in name:
                continue  # not a name SQL can address: nothing of Signal's
            readable = self.guard.readable_columns(self.connection, name)
            columns[name.lower()] = {column.lower(): column for column in readable}
        if self.guard.skipped_columns:
            self.warnings.append(
                f"{len(self.guard.skipped_columns)} generated column(s) computed by functions "
                "outside the safe list were not read"
            )
        return columns

    def has(self, table: str) -> bool:
        return table in self.columns

    def select(self, table: str, wanted: Mapping[str, Sequence[str]]) -> pd.DataFrame:
        """SELECT the first existing candidate column per canonical name (NULL if none)."""
        available = self.columns[table]
        parts = []
        for alias, candidates in wanted.items():
            column = next((available[c] for c in candidates if c in available), None)
            source = quote_identifier(column) if column else "NULL"
            parts.append(f"{source} AS {quote_identifier(alias)}")
        sql = f"SELECT {', '.join(parts)} FROM {quote_identifier(table)}"
        return self.query(sql, f"table {table}")

    def _side_values(self, table: str, key: str) -> dict[str, object]:
        if not self.has(table) or not {key, "value"} <= set(self.columns[table]):
            return {}
        frame = self.query(
            f"SELECT {quote_identifier(key)}, value FROM {quote_identifier(table)}", table
        )
        return dict(frame.itertuples(index=False, name=None))

    # -- driver ---------------------------------------------------------------------------

    def run(self) -> NormalizedBackup:
        if not self.has("recipient"):
            raise UnsupportedBackupError(
                f"this backup's database (version {self.database_version}) predates Signal's "
                f"recipient table (version {FIRST_RECIPIENT_TABLE_VERSION}, 2019); make a new "
                "backup with a current Signal version"
            )
        raw_recipients = self.select("recipient", RECIPIENT_COLUMNS)
        recipients = self.recipients(raw_recipients)
        raw = self.raw_messages()
        self_id = self.find_self_id(recipients, raw)
        if self_id is None:
            self_id = self._placeholder_self(recipients)
        recipients["is_self"] = recipients["recipient_id"] == self_id
        raw["sender_id"] = self.senders(raw, self_id)
        attachments, long_texts = self.attachments()
        messages = self.messages(raw, attachments, long_texts)
        kept_ids = set(messages["message_id"].tolist())
        latest = self.latest_revisions(raw)
        tables = {
            "messages": messages,
            "recipients": recipients,
            "threads": self.threads(recipients),
            "reactions": self.reactions(raw, kept_ids, latest),
            "mentions": self.mentions(kept_ids),
            "attachments": attachments[attachments["message_id"].isin(kept_ids)],
            "recipient_names": recipient_name_forms(raw_recipients),
        }
        conformed = {
            name: conform(name, frame.reset_index(drop=True)) for name, frame in tables.items()
        }
        return NormalizedBackup(conformed, self_id, self.database_version, self.warnings)

    # -- recipients -------------------------------------------------------------------------

    def recipients(self, raw: pd.DataFrame) -> pd.DataFrame:
        titles = self.group_titles()
        records = [recipient_record(row, titles) for row in raw.itertuples(index=False)]
        frame = pd.DataFrame.from_records(records, columns=RECIPIENT_FIELDS)
        frame["recipient_id"] = to_int(frame["recipient_id"])
        return frame.dropna(subset=["recipient_id"])

    def group_titles(self) -> dict[int, str]:
        if not self.has("groups") or "recipient_id" not in self.columns["groups"]:
            return {}
        frame = self.select("groups", {"recipient_id": ["recipient_id"], "title": ["title"]})
        frame["recipient_id"] = to_int(frame["recipient_id"])
        return {
            int(row.recipient_id): row.title
            for row in frame.dropna(subset=["recipient_id"]).itertuples(index=False)
        }

    def find_self_id(self, recipients: pd.DataFrame, raw: pd.DataFrame) -> int | None:
        """The owner's recipient: account ACI/E164 key-values, else the sender of outgoing rows."""
        aci = stripped_text(
            self.key_values.get("account.aci")
            or self.key_values.get("account.uuid")
            or self.preferences.get("pref_local_uuid")
        )
        e164 = stripped_text(
            self.key_values.get("account.e164") or self.preferences.get("pref_local_number")
        )
        for column, wanted in (("aci", aci), ("e164", e164)):
            if wanted:
                values = recipients[column].fillna("").str.lower()
                match = recipients.loc[values == wanted.lower(), "recipient_id"]
                if len(match):
                    return int(match.iloc[0])
        outgoing_senders = to_int(raw.loc[raw["is_outgoing"], "from_recipient_id"]).dropna()
        if len(outgoing_senders):
            return int(Counter(outgoing_senders.tolist()).most_common(1)[0][0])
        return None

    def _placeholder_self(self, recipients: pd.DataFrame) -> int:
        self_id = int(recipients["recipient_id"].max()) + 1 if len(recipients) else 1
        self.warnings.append(
            "the owner's own recipient was not found (no account key-values); outgoing "
            f"messages use a placeholder recipient {self_id}"
        )
        placeholder = dict.fromkeys(RECIPIENT_FIELDS)
        placeholder.update(recipient_id=self_id, is_self=True, is_group=False)
        recipients.loc[len(recipients)] = placeholder
        return self_id

    # -- threads --------------------------------------------------------------------------

    def threads(self, recipients: pd.DataFrame) -> pd.DataFrame:
        if not self.has("thread"):
            return pd.DataFrame(columns=["thread_id", "recipient_id", "is_group", "title"])
        frame = self.select("thread", THREAD_COLUMNS)
        # pre-108 `recipient_ids` is text ("5"); take the first id
        first_id = frame["recipient_id"].map(
            lambda v: str(v).split()[0] if stripped_text(v) else None
        )
        frame["recipient_id"] = to_int(first_id)
        frame["thread_id"] = to_int(frame["thread_id"])
        frame = frame.dropna(subset=["thread_id", "recipient_id"])
        info = recipients.set_index("recipient_id")
        frame["is_group"] = frame["recipient_id"].map(info["is_group"]).fillna(False).astype(bool)
        # astype(object): with no names at all the mapped column would be all-NaN floats
        frame["title"] = frame["recipient_id"].map(info["display_name"]).astype(object)
        return frame

    # -- messages -------------------------------------------------------------------------

    def message_sources(self) -> list[tuple[str, int]]:
        """(table, id offset): sms ids are shifted past mms ids, as Signal's V168 migration does."""
        if self.has("message"):
            return [("message", 0)]
        if self.has("mms") and self.has("sms"):
            max_mms = self.query('SELECT MAX(_id) FROM "mms"', "table mms").iloc[0, 0]
            max_mms = None if pd.isna(max_mms) else max_mms
            self.sms_offset = int(max_mms or 0) + 1
            return [("mms", 0), ("sms", self.sms_offset)]
        return [(table, 0) for table in ("mms", "sms") if self.has(table)]

    def raw_messages(self) -> pd.DataFrame:
        """Every message row of every source, with message_id, direction and chat flag."""
        frames = []
        for table, offset in self.message_sources():
            frame = self.select(table, MESSAGE_COLUMNS)
            frame["message_id"] = to_int(frame["row_id"]) + offset
            frames.append(frame)
        if not frames:
            return pd.DataFrame(columns=[*MESSAGE_COLUMNS, "message_id", "is_outgoing", "is_chat"])
        raw = pd.concat(frames, ignore_index=True).dropna(subset=["message_id"])
        types = to_int(raw["type"]).fillna(0).astype("int64")
        base = types & BASE_TYPE_MASK
        raw["is_outgoing"] = base.isin(list(OUTGOING_BASES))
        raw["is_chat"] = (raw["is_outgoing"] | (base == INCOMING_BASE)) & (
            (types & NON_CHAT_BITS) == 0
        )
        return raw.reset_index(drop=True)

    def senders(self, raw: pd.DataFrame, self_id: int) -> pd.Series:
        """Owner for outgoing; from_recipient_id (>= 185) or the other-party column if incoming."""
        author = to_int(raw["from_recipient_id"]).fillna(to_int(raw["other_party"]))
        return author.mask(raw["is_outgoing"], self_id).astype("Int64")

    def latest_revisions(self, raw: pd.DataFrame) -> dict[int, int]:
        """Superseded edit revision id -> id of its newest revision."""
        latest = to_int(raw["latest_revision_id"])
        pairs = raw.loc[latest.notna(), "message_id"]
        return dict(zip(pairs.astype(int), latest.dropna().astype(int), strict=True))

    def messages(
        self, raw: pd.DataFrame, attachments: pd.DataFrame, long_texts: Mapping[int, str]
    ) -> pd.DataFrame:
        kept = raw[self._chat_mask(raw)].copy()
        dropped = kept[["thread_id", "date_sent", "sender_id"]].isna().any(axis=1)
        if dropped.any():
            self.warnings.append(
                f"{int(dropped.sum())} message(s) without thread, date or sender skipped"
            )
            kept = kept[~dropped]
        revised = set(to_int(raw["latest_revision_id"]).dropna().astype(int).tolist())
        kept["edited"] = (
            to_int(kept["original_message_id"]).notna()
            | (to_int(kept["revision_number"]).fillna(0) > 0)
            | kept["message_id"].isin(revised)
        )
        kept["quote_message_id"] = self.resolve_quotes(raw, kept)
        counts = attachments.groupby("message_id").size()
        kept["attachment_count"] = kept["message_id"].map(counts).fillna(0).astype("int32")
        if long_texts:
            kept["body"] = [
                long_texts.get(int(mid), body)
                for mid, body in zip(kept["message_id"], kept["body"], strict=True)
            ]
        kept["sent_at"] = to_timestamp(kept["date_sent"])
        kept["received_at"] = to_timestamp(kept["date_received"])
        kept["thread_id"] = to_int(kept["thread_id"])
        kept = kept.dropna(subset=["sent_at"])
        return kept.sort_values("message_id", kind="stable")

    @staticmethod
    def _chat_mask(raw: pd.DataFrame) -> pd.Series:
        """Chat messages only: no stories, remote-deleted tombstones or superseded revisions."""
        return (
            raw["is_chat"]
            & ~_nonzero(raw["story_type"])
            & ~_nonzero(raw["remote_deleted"])
            & to_int(raw["latest_revision_id"]).isna()
        )

    def resolve_quotes(self, raw: pd.DataFrame, kept: pd.DataFrame) -> pd.Series:
        """Map quote_id (the quoted message's sent time) + quote_author to a kept message_id."""
        by_time_author: dict[tuple[int, int], int] = {}
        by_time: dict[int, list[int]] = {}
        for message_id, when, author in zip(
            _ints_or_none(raw["message_id"]),
            _ints_or_none(raw["date_sent"]),
            _ints_or_none(raw["sender_id"]),
            strict=True,
        ):
            if when is None or message_id is None:  # raw has no rows without an id
                continue
            by_time.setdefault(when, []).append(message_id)
            if author is not None:
                by_time_author.setdefault((when, author), message_id)
        latest = self.latest_revisions(raw)
        kept_ids = set(kept["message_id"].astype(int).tolist())
        resolved: list[int | None] = []
        for quote_id, author in zip(
            _ints_or_none(kept["quote_id"]),
            _ints_or_none(kept["quote_author"]),
            strict=True,
        ):
            target = None
            if quote_id is not None and quote_id != 0:
                target = by_time_author.get((quote_id, author if author is not None else -1))
                candidates = by_time.get(quote_id, [])
                if target is None and len(candidates) == 1:
                    target = candidates[0]
                target = latest.get(target, target) if target is not None else None
            resolved.append(target if target in kept_ids else None)
        return pd.Series(resolved, index=kept.index, dtype="Int64")

    # -- dependent tables --------------------------------------------------------------------

    def attachment_table(self) -> str | None:
        return next((t for t in ("attachment", "part") if self.has(t)), None)

    def attachments(self) -> tuple[pd.DataFrame, dict[int, str]]:
        """Contract attachments (no quote thumbnails, no long-text bodies) and long texts."""
        table = self.attachment_table()
        if table is None:
            return pd.DataFrame(columns=[*ATTACHMENT_COLUMNS, "path"]), {}
        frame = self.select(table, ATTACHMENT_COLUMNS)
        frame["attachment_id"] = to_int(frame["attachment_id"])
        frame["message_id"] = to_int(frame["message_id"])
        frame["size"] = to_int(frame["size"])
        frame = frame.dropna(subset=["attachment_id", "message_id"])
        frame = frame[~_nonzero(frame["quote"])]
        paths = [self.blob_paths.get(int(i)) for i in frame["attachment_id"]]
        frame["path"] = pd.Series(paths, index=frame.index, dtype=object)
        is_long_text = frame["content_type"] == LONG_TEXT_CONTENT_TYPE
        long_texts = {}
        for row in frame[is_long_text & frame["path"].notna()].itertuples(index=False):
            text = self._read_long_text(row.path)
            if text is not None:
                long_texts[int(row.message_id)] = text
        return frame[~is_long_text], long_texts

    def _read_long_text(self, relative: str) -> str | None:
        """The full text of a long message, read only from inside `blob_root`."""
        path = _inside(self.blob_root, relative)
        if path is None:
            self.warnings.append("a long-text attachment lies outside the output; ignored")
            return None
        try:
            with path.open("rb") as handle:
                data = handle.read(MAX_LONG_TEXT_BYTES + 1)
        except OSError:
            self.warnings.append("a long-text attachment could not be read; kept the short body")
            return None
        if len(data) > MAX_LONG_TEXT_BYTES:
            self.warnings.append(
                f"a long-text attachment is over {MAX_LONG_TEXT_BYTES:,} bytes; kept its start"
            )
            data = data[:MAX_LONG_TEXT_BYTES]
        return data.decode("utf-8", errors="replace")

    def reactions(
        self, raw: pd.DataFrame, kept_ids: set[int], latest: Mapping[int, int]
    ) -> pd.DataFrame:
        if self.has("reaction"):
            frame = self.select("reaction", REACTION_COLUMNS)
            frame["message_id"] = to_int(frame["message_id"])
            if self.sms_offset and "is_mms" in self.columns["reaction"]:
                on_sms = to_int(frame["is_mms"]).fillna(1) == 0
                frame.loc[on_sms, "message_id"] += self.sms_offset
        else:
            frame = self._legacy_reactions(raw)
        frame["message_id"] = frame["message_id"].map(
            lambda i: latest.get(i, i) if not pd.isna(i) else i
        )
        frame["author_id"] = to_int(frame["author_id"])
        frame["sent_at"] = to_timestamp(frame["date_sent"])
        frame = frame.dropna(subset=["message_id", "author_id"])
        return frame[frame["message_id"].isin(kept_ids)]

    def _legacy_reactions(self, raw: pd.DataFrame) -> pd.DataFrame:
        """DB 37-120: reactions are a protobuf ReactionList BLOB on each sms/mms row."""
        records = []
        undecodable = 0
        for message_id, blob in zip(raw["message_id"], raw["reactions_blob"], strict=True):
            if not isinstance(blob, bytes) or not blob:
                continue
            try:
                reaction_list = ReactionList.FromString(blob)
            except DecodeError:
                undecodable += 1
                continue
            for reaction in reaction_list.reactions:
                records.append(
                    (int(message_id), reaction.author, reaction.emoji, reaction.sentTime)
                )
        if undecodable:
            self.warnings.append(f"{undecodable} legacy reaction list(s) could not be decoded")
        return pd.DataFrame.from_records(
            records, columns=["message_id", "author_id", "emoji", "date_sent"]
        )

    def mentions(self, kept_ids: set[int]) -> pd.DataFrame:
        if not self.has("mention"):
            return pd.DataFrame(columns=list(MENTION_COLUMNS))
        frame = self.select("mention", MENTION_COLUMNS)
        for column in MENTION_COLUMNS:
            frame[column] = to_int(frame[column])
        frame = frame.dropna()
        return frame[frame["message_id"].isin(kept_ids)]


__all__ = ["normalize_database"]
