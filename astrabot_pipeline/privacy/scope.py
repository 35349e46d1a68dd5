"""Consent and scope: which threads, contacts, group chats and dates may be used at all.

Applied to decoded messages or conversation windows before anything is anonymized or
written, so what is out of scope never reaches the training data. Contacts are named
the way the owner knows them (recipient id, phone number, or any name form, compared
case- and accent-insensitively) and resolved against the decoded `recipients` and
`recipient_names` tables.

Semantics, in the order rows are dropped (each dropped row is counted once, under the
first reason that applies):

- ``thread``: ``include_threads`` (when given) keeps only those threads;
  ``exclude_threads`` drops those.
- ``group``: ``include_groups=False`` drops every group chat.
- ``contact``: ``include_contacts`` (when given) keeps only one-to-one chats with those
  contacts (group chats stay governed by ``include_groups`` and the thread lists);
  ``exclude_contacts`` drops the one-to-one chats with those contacts.
- ``opt_out``: an opted-out person's own messages are dropped everywhere, and the
  one-to-one chat with them entirely (the owner's side of it is about them). Their
  recipient ids come back in ``always_replace_ids``: the anonymizer must replace every
  mention of them (they are known contacts, so the deny-list already holds every form
  of their name, number and e-mail).
- ``date``: messages sent before ``start`` or after ``end`` are dropped. A date-only
  ``end`` ("2024-06-30") includes that whole day. Naive datetimes are taken as UTC.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeAlias

import pandas as pd

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.privacy.known_contacts import digits_of, fold
from astrabot_pipeline.signal.tables import conform, owner_ids

DROP_REASONS = ("thread", "group", "contact", "opt_out", "date")
_NAME_COLUMNS = ("display_name", "given_name", "family_name", "nickname", "username", "aci")

DateBound: TypeAlias = str | dt.date | dt.datetime | pd.Timestamp | None


class ScopeError(AstrabotError, ValueError):
    """A scope setting cannot be read (a date that is not ISO 8601, a start after the end)."""


@dataclass(frozen=True)
class ScopePolicy:
    """What the owner allows the pipeline to use; the defaults keep everything in scope."""

    include_threads: Sequence[int | str] = ()
    exclude_threads: Sequence[int | str] = ()
    include_contacts: Sequence[int | str] = ()
    exclude_contacts: Sequence[int | str] = ()
    opt_out_contacts: Sequence[int | str] = ()
    include_groups: bool = True
    start: DateBound = None
    end: DateBound = None

    @property
    def is_everything(self) -> bool:
        return not (
            self.include_threads
            or self.exclude_threads
            or self.include_contacts
            or self.exclude_contacts
            or self.opt_out_contacts
            or not self.include_groups
            or self.start is not None
            or self.end is not None
        )


@dataclass
class ScopeResult:
    """The rows in scope, counts of dropped rows by reason, and who must always be replaced.

    `counts` holds numbers only (safe for metadata): ``rows_in``, ``rows_kept``,
    ``dropped_<reason>`` for every reason, and ``unmatched_<list>`` for contact entries
    that named nobody in the recipients table (a typo in an opt-out must not pass quietly).
    """

    frame: pd.DataFrame
    counts: dict[str, int] = field(default_factory=dict)
    always_replace_ids: frozenset[int] = frozenset()

    def enforce_consent(self, deny_listed: Collection[str]) -> list[str]:
        """Raises ScopeError when the owner's refusals cannot be honoured; returns warnings
        (counts only) about what merely did not match.

        An opt-out or exclusion naming nobody is refused (a misspelt name must not let
        someone's messages through), and so is an opted-out person whose ``recipient:<id>``
        key is missing from `deny_listed` (the known-contact keys, whose every form is
        replaced in the text); an inclusion naming nobody only warns.
        """
        counts = self.counts
        refused = counts["unmatched_opt_out_contacts"] + counts["unmatched_exclude_contacts"]
        if refused:
            raise ScopeError(
                f"{refused} opt_out_contacts/exclude_contacts entries match no known contact: "
                "name each by recipient id, phone number or a name form they are saved as"
            )
        missing = {f"recipient:{rid}" for rid in self.always_replace_ids} - set(deny_listed)
        if missing:
            raise ScopeError(f"{len(missing)} opted-out contacts are not on the deny-list")
        unmatched = counts["unmatched_include_contacts"]
        return [f"{unmatched} include_contacts entries match no contact"] if unmatched else []


class ContactIndex:
    """Resolves the owner's way of naming a contact to recipient ids (people, not groups)."""

    def __init__(self, recipients: pd.DataFrame, names: pd.DataFrame | None = None) -> None:
        recipients = conform("recipients", recipients)
        people = recipients[~recipients["is_group"].astype(bool)]
        self._ids = {int(rid) for rid in people["recipient_id"]}
        self._by_name: dict[str, set[int]] = {}
        self._by_digits: dict[str, set[int]] = {}
        for row in people.itertuples(index=False):
            rid = int(row.recipient_id)
            forms = [getattr(row, column) for column in _NAME_COLUMNS]
            forms += [row.email]
            given, family = row.given_name, row.family_name
            if isinstance(given, str) and isinstance(family, str):
                forms.append(f"{given} {family}")
            for form in forms:
                self._add_name(form, rid)
            if isinstance(row.e164, str) and digits_of(row.e164):
                self._by_digits.setdefault(digits_of(row.e164), set()).add(rid)
        if names is not None:
            for row in conform("recipient_names", names).itertuples(index=False):
                if int(row.recipient_id) in self._ids:
                    self._add_name(row.name, int(row.recipient_id))

    def _add_name(self, form: object, rid: int) -> None:
        if isinstance(form, str) and form.strip():
            self._by_name.setdefault(_name_key(form), set()).add(rid)

    def resolve(self, selector: int | str) -> set[int]:
        """Every person `selector` names: a recipient id, an E.164 number, or a name form."""
        text = str(selector).strip()
        if not text:
            return set()
        found = set(self._by_name.get(_name_key(text), ()))
        if text.isdigit() and int(text) in self._ids:
            found.add(int(text))
        digits = digits_of(text)
        if len(digits) >= 7 and not any(ch.isalpha() for ch in text):
            for known, rids in self._by_digits.items():
                # "+1 415 555 0134", "4155550134" and "0044 7700…" all name the same number.
                if known == digits or known.endswith(digits.lstrip("0")):
                    found |= rids
        return found

    def resolve_all(self, selectors: Iterable[int | str]) -> tuple[set[int], int]:
        """(recipient ids, how many selectors matched nobody)."""
        ids: set[int] = set()
        unmatched = 0
        for selector in selectors:
            matched = self.resolve(selector)
            ids |= matched
            unmatched += not matched
        return ids, unmatched


def apply_scope(
    frame: pd.DataFrame,
    recipients: pd.DataFrame,
    names: pd.DataFrame | None,
    policy: ScopePolicy,
    *,
    threads: pd.DataFrame | None = None,
) -> ScopeResult:
    """Rows of `frame` (messages or windows: thread_id, sender_id, sent_at) in scope.

    `threads` (the decoded table) tells group chats and one-to-one partners apart; without
    it a thread is a group when its messages come from more than one non-owner sender.
    """
    rows_in = len(frame)
    index = ContactIndex(recipients, names)
    include_ids, unmatched_include = index.resolve_all(policy.include_contacts)
    exclude_ids, unmatched_exclude = index.resolve_all(policy.exclude_contacts)
    opt_out_ids, unmatched_opt_out = index.resolve_all(policy.opt_out_contacts)
    counts = {
        "rows_in": rows_in,
        "opted_out_contacts": len(opt_out_ids),
        "unmatched_include_contacts": unmatched_include,
        "unmatched_exclude_contacts": unmatched_exclude,
        "unmatched_opt_out_contacts": unmatched_opt_out,
    }
    if policy.is_everything or frame.empty:
        counts |= {f"dropped_{reason}": 0 for reason in DROP_REASONS} | {"rows_kept": rows_in}
        return ScopeResult(frame, counts, frozenset(opt_out_ids))

    thread_ids = frame["thread_id"].astype("int64")
    is_group, partner = _thread_kinds(frame, recipients, threads)
    group = thread_ids.map(is_group).fillna(False).astype(bool)
    one_to_one_with = thread_ids.map(partner)  # NaN for groups
    sender = frame["sender_id"].astype("int64")

    reasons: dict[str, pd.Series] = {}
    out_of_thread = pd.Series(False, index=frame.index)
    if policy.include_threads:
        out_of_thread |= ~thread_ids.isin(_ints(policy.include_threads))
    if policy.exclude_threads:
        out_of_thread |= thread_ids.isin(_ints(policy.exclude_threads))
    reasons["thread"] = out_of_thread
    reasons["group"] = group & (not policy.include_groups)
    off_contact = pd.Series(False, index=frame.index)
    if policy.include_contacts:
        off_contact |= ~group & ~one_to_one_with.isin(include_ids)
    if exclude_ids:
        off_contact |= ~group & one_to_one_with.isin(exclude_ids)
    reasons["contact"] = off_contact
    reasons["opt_out"] = sender.isin(opt_out_ids) | (~group & one_to_one_with.isin(opt_out_ids))
    reasons["date"] = _outside_dates(frame["sent_at"], policy.start, policy.end)

    dropped = pd.Series(False, index=frame.index)
    for reason in DROP_REASONS:
        newly = reasons[reason] & ~dropped
        counts[f"dropped_{reason}"] = int(newly.sum())
        dropped |= newly
    kept = frame[~dropped]
    counts["rows_kept"] = len(kept)
    return ScopeResult(kept, counts, frozenset(opt_out_ids))


def _thread_kinds(
    frame: pd.DataFrame, recipients: pd.DataFrame, threads: pd.DataFrame | None
) -> tuple[dict[int, bool], dict[int, int]]:
    """thread_id -> is a group chat, and thread_id -> the partner of a one-to-one chat."""
    if threads is not None:
        threads = conform("threads", threads)
        group_recipients = set(
            recipients.loc[recipients["is_group"].astype(bool), "recipient_id"].astype("int64")
        )
        is_group = {
            int(t.thread_id): bool(t.is_group) or int(t.recipient_id) in group_recipients
            for t in threads.itertuples(index=False)
        }
        partner = {
            int(t.thread_id): int(t.recipient_id)
            for t in threads.itertuples(index=False)
            if not is_group[int(t.thread_id)]
        }
        return is_group, partner
    owners = set(owner_ids(recipients))
    others = frame[~frame["sender_id"].astype("int64").isin(owners)]
    senders = others.groupby(others["thread_id"].astype("int64"))["sender_id"].unique()
    is_group = {int(tid): len(ids) > 1 for tid, ids in senders.items()}
    partner = {int(tid): int(ids[0]) for tid, ids in senders.items() if len(ids) == 1}
    return is_group, partner


def _ints(values: Iterable[int | str]) -> set[int]:
    try:
        return {int(str(value).strip()) for value in values}
    except ValueError:
        raise ScopeError(
            "thread ids must be whole numbers (the decoded threads.thread_id)"
        ) from None


def _name_key(text: str) -> str:
    return " ".join(fold(text).split())


def _timestamp(value: DateBound, *, end: bool) -> pd.Timestamp | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    date_only = isinstance(value, dt.date) and not isinstance(value, dt.datetime)
    if isinstance(value, str):
        date_only = len(value.strip()) == 10
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise ScopeError("scope dates must be ISO 8601 (2024-06-30 or 2024-06-30T18:00)") from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    # A date-only end includes that whole day.
    return (
        stamp + pd.Timedelta(days=1) - pd.Timedelta(milliseconds=1) if end and date_only else stamp
    )


def _outside_dates(sent_at: pd.Series, start: DateBound, end: DateBound) -> pd.Series:
    lower, upper = _timestamp(start, end=False), _timestamp(end, end=True)
    if lower is not None and upper is not None and lower > upper:
        raise ScopeError("the scope's start date is after its end date")
    stamps = pd.to_datetime(sent_at, utc=True)
    outside = pd.Series(False, index=sent_at.index)
    if lower is not None:
        outside |= stamps < lower
    if upper is not None:
        outside |= stamps > upper
    return outside
