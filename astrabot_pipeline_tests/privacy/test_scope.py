"""Consent and scope controls: threads, contacts, group chats, dates and opt-outs."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest

from astrabot_pipeline.privacy import PrivacyValidator, ScopeError, ScopePolicy, apply_scope
from astrabot_pipeline.signal.tables import conform

from .conftest import PRIYA, SAM, SAM_NUMBER, recipients_frame

OWNER = 1
SAM_CHAT, PRIYA_CHAT, GROUP_CHAT, ED_CHAT = 10, 11, 12, 13
DAY = 86_400
JUNE_1 = pd.Timestamp("2024-06-01", tz="UTC").timestamp()


def _threads() -> pd.DataFrame:
    return conform(
        "threads",
        pd.DataFrame(
            {
                "thread_id": [SAM_CHAT, PRIYA_CHAT, GROUP_CHAT, ED_CHAT],
                "recipient_id": [2, 3, 9, 5],
                "is_group": [False, False, True, False],
                "title": [None, None, "Sam & Priya", None],
            }
        ),
    )


def _names() -> pd.DataFrame:
    return conform(
        "recipient_names",
        pd.DataFrame({"recipient_id": [5], "source": ["system_nickname"], "name": ["Eddie L"]}),
    )


# (thread, sender, day offset from 2024-06-01, body)
ROWS = [
    (SAM_CHAT, 2, 0, "hey are you around tonight"),
    (SAM_CHAT, OWNER, 0, "yes! dinner at 7?"),
    (PRIYA_CHAT, 3, 1, "did you talk to Sam yet"),
    (PRIYA_CHAT, OWNER, 1, "not yet, will text sammy later"),
    (GROUP_CHAT, 2, 2, "who is bringing the wine"),
    (GROUP_CHAT, 3, 2, "Sam you said you would!! call him at (415) 555-0134"),
    (GROUP_CHAT, OWNER, 3, "lol sam okafor never brings wine"),
    (ED_CHAT, 5, 30, "moving to a new flat next month"),
    (ED_CHAT, OWNER, 31, "need a hand on the day?"),
]


def _messages() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "message_id": range(1, len(ROWS) + 1),
            "thread_id": [r[0] for r in ROWS],
            "sender_id": [r[1] for r in ROWS],
            "is_outgoing": [r[1] == OWNER for r in ROWS],
            "sent_at": pd.to_datetime([JUNE_1 + r[2] * DAY for r in ROWS], unit="s", utc=True),
            "body": [r[3] for r in ROWS],
        }
    )


def scoped(policy: ScopePolicy, *, threads: bool = True):
    return apply_scope(
        _messages(),
        recipients_frame(),
        _names(),
        policy,
        threads=_threads() if threads else None,
    )


def test_the_default_policy_keeps_everything_and_counts_nothing_dropped():
    result = scoped(ScopePolicy())
    assert len(result.frame) == len(ROWS)
    assert result.counts["rows_kept"] == len(ROWS)
    assert all(v == 0 for k, v in result.counts.items() if k.startswith("dropped_"))
    assert result.always_replace_ids == frozenset()


def test_include_and_exclude_threads():
    assert set(scoped(ScopePolicy(include_threads=["10", 13])).frame["thread_id"]) == {10, 13}
    result = scoped(ScopePolicy(exclude_threads=[GROUP_CHAT]))
    assert GROUP_CHAT not in set(result.frame["thread_id"])
    assert result.counts["dropped_thread"] == 3


def test_group_chats_can_be_left_out():
    for threads in (True, False):  # from the threads table, or inferred from the senders
        result = scoped(ScopePolicy(include_groups=False), threads=threads)
        assert set(result.frame["thread_id"]) == {SAM_CHAT, PRIYA_CHAT, ED_CHAT}
        assert result.counts["dropped_group"] == 3


@pytest.mark.parametrize(
    "selector",
    ["3", 3, "priya", "PRIYA RAMAN", "+12065550188", "(206) 555-0188", "priya.r@outlook.com"],
)
def test_a_contact_is_named_by_id_number_email_or_any_name_form(selector):
    result = scoped(ScopePolicy(include_contacts=[selector]))
    # One-to-one chats with others go; group chats stay under include_groups.
    assert set(result.frame["thread_id"]) == {PRIYA_CHAT, GROUP_CHAT}
    assert result.counts["dropped_contact"] == 4
    assert result.counts["unmatched_include_contacts"] == 0


def test_exclude_contacts_matches_recipient_names_and_nicknames():
    result = scoped(ScopePolicy(exclude_contacts=["eddie l", "SAMMY"]))
    assert set(result.frame["thread_id"]) == {PRIYA_CHAT, GROUP_CHAT}
    assert result.counts["dropped_contact"] == 4


def test_an_opted_out_contact_loses_every_own_message_and_the_chat_with_them():
    result = scoped(ScopePolicy(opt_out_contacts=["Sam Okafor"]))
    frame = result.frame
    assert SAM.recipient_id not in set(frame["sender_id"])
    assert SAM_CHAT not in set(frame["thread_id"])
    assert result.counts["dropped_opt_out"] == 3
    assert result.always_replace_ids == frozenset({SAM.recipient_id})
    # Others' messages in the group stay; they still mention Sam.
    assert PRIYA.recipient_id in set(frame["sender_id"])


def test_an_opted_out_contacts_mentions_are_replaced_by_the_anonymizer(anonymizer, known_contacts):
    result = scoped(ScopePolicy(opt_out_contacts=["samo.42"]))
    assert f"recipient:{SAM.recipient_id}" in known_contacts.keys
    mentions = [b for b in result.frame["body"] if "sam" in b.lower() or "555-0134" in b]
    assert len(mentions) == 4
    texts = anonymizer.anonymize_texts(mentions).texts
    assert PrivacyValidator(known_contacts).scan(texts).passed
    for text in texts:
        words = set(text.lower().replace("!", " ").split())
        assert not {"sam", "sammy", "okafor"} & words
        assert not re.search(SAM_NUMBER, text)


def test_dates_bound_the_messages_and_a_date_only_end_includes_that_day():
    result = scoped(ScopePolicy(start="2024-06-02", end="2024-06-03"))
    days = {ts.day for ts in result.frame["sent_at"]}
    assert days == {2, 3}
    assert result.counts["dropped_date"] == 5
    naive = scoped(ScopePolicy(end=dt.datetime(2024, 6, 1, 0, 0)))  # naive = UTC
    assert len(naive.frame) == 2


def test_each_dropped_row_is_counted_once_under_its_first_reason():
    result = scoped(ScopePolicy(exclude_threads=[SAM_CHAT], opt_out_contacts=["sam"]))
    assert result.counts["dropped_thread"] == 2
    assert result.counts["dropped_opt_out"] == 1  # Sam's group message
    dropped = sum(v for k, v in result.counts.items() if k.startswith("dropped_"))
    assert dropped + result.counts["rows_kept"] == result.counts["rows_in"]


def test_counts_are_numbers_and_unmatched_entries_are_counted():
    result = scoped(ScopePolicy(opt_out_contacts=["Samuel Nobody"], exclude_contacts=["x"]))
    assert result.counts["unmatched_opt_out_contacts"] == 1
    assert result.counts["unmatched_exclude_contacts"] == 1
    assert all(isinstance(v, int) for v in result.counts.values())
    assert len(result.frame) == len(ROWS)


def test_a_group_title_does_not_name_a_contact():
    assert scoped(ScopePolicy(opt_out_contacts=["Sam & Priya"])).always_replace_ids == frozenset()


@pytest.mark.parametrize(
    "policy",
    [
        ScopePolicy(start="last tuesday"),
        ScopePolicy(start="2024-07-01", end="2024-06-01"),
        ScopePolicy(include_threads=["general"]),
    ],
)
def test_unreadable_settings_raise_a_scope_error(policy):
    with pytest.raises(ScopeError):
        scoped(policy)


def test_consent_refuses_an_opt_out_or_exclusion_that_names_nobody():
    for policy in (
        ScopePolicy(opt_out_contacts=["Samm Okafor"]),
        ScopePolicy(exclude_contacts=["+1 415 555 0000"]),
    ):
        with pytest.raises(ScopeError, match="1 opt_out_contacts/exclude_contacts entries"):
            scoped(policy).enforce_consent({"recipient:2", "recipient:3", "recipient:5"})


def test_consent_refuses_an_opted_out_contact_missing_from_the_deny_list():
    result = scoped(ScopePolicy(opt_out_contacts=["2"]))
    assert result.enforce_consent({"recipient:2"}) == []
    with pytest.raises(ScopeError, match="1 opted-out contacts are not on the deny-list"):
        result.enforce_consent({"recipient:3"})


def test_consent_only_warns_about_an_inclusion_that_names_nobody():
    warnings = scoped(ScopePolicy(include_contacts=["nobody at all", "2"])).enforce_consent(())
    assert warnings == ["1 include_contacts entries match no contact"]
