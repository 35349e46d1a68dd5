"""The privacy stage's rules, from conversation windows to anonymized windows and the gate.

`anonymize_windows` keeps the windows the owner's scope allows, replaces every identity
in them with a stable pseudonym (message text, and what a resolved tweet brought in: its
text and the tweet it quotes like message text, its author as a whole), names each
message's sender by pseudonym and records the keyed digests of what it replaced for the
evaluation's leakage scan (identifier_digests.py). `AnonymizedWindows.gate` then scans the
result for what must never survive. The `anonymized_windows` asset is these two calls.
"""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from astrabot_pipeline.data_layout import PSEUDONYM_KEY_FILE
from astrabot_pipeline.enrichment.columns import TWEET_AUTHOR_COLUMN, TWEET_TEXT_COLUMNS
from astrabot_pipeline.privacy.processes import DEFAULT_BATCH_SIZE, DEFAULT_N_PROCESS

# spaCy and Presidio load when the stage runs, not with this module (lazy_exports.py).
if TYPE_CHECKING:
    from astrabot_pipeline.privacy.anonymizer import ConversationAnonymizer
    from astrabot_pipeline.privacy.known_contacts import KnownContacts
    from astrabot_pipeline.privacy.language import LanguageReport
    from astrabot_pipeline.privacy.residual import ResidualReport
    from astrabot_pipeline.privacy.scope import ScopePolicy, ScopeResult
    from astrabot_pipeline.privacy.validator import PrivacyReport

# The share of anonymized rows that may still hold a (non-fictional) phone number or
# e-mail Presidio's generic recognizers find before the stage warns.
MAX_GENERIC_RESIDUE_RATE = 0.01


@dataclass(frozen=True)
class PrivacyGate:
    """What the scans of the anonymized windows found (counts only): `report` decides the
    blocking gate (no known identifier or canary survives); `residual`, the second opinion
    (privacy/residual.py), is counted for a person to review, never blocking."""

    report: PrivacyReport
    residual: ResidualReport
    residual_seconds: float

    @property
    def passed(self) -> bool:
        return self.report.passed

    @property
    def generic_residue_passed(self) -> bool:
        return self.report.generic_residue_rate <= MAX_GENERIC_RESIDUE_RATE

    def to_metadata(self) -> dict[str, int | float | bool]:
        return {
            **self.report.to_metadata(),
            **self.residual.to_metadata(),
            "residual_seconds": round(self.residual_seconds, 3),
        }

    def residue_metadata(self) -> dict[str, float]:
        return {
            "generic_residue_rate": self.report.generic_residue_rate,
            "threshold": MAX_GENERIC_RESIDUE_RATE,
        }


@dataclass(frozen=True)
class AnonymizedWindows:
    """The anonymized windows (`frame`: raw bodies dropped, `sender_pseudonym` None for the
    owner) and what the stage counted on the way; `anonymizer` and `contacts` stay for the
    gate."""

    frame: pd.DataFrame
    scope: ScopeResult
    languages: LanguageReport
    entity_counts: Mapping[str, int]
    digest_counts: Mapping[str, int]
    contacts: KnownContacts
    anonymizer: ConversationAnonymizer

    def to_metadata(self) -> dict[str, int | float]:
        return {
            "messages": len(self.frame),
            **{f"scope_{key}": int(value) for key, value in self.scope.counts.items()},
            **self.languages.to_metadata(),
            **{f"replaced_{kind.lower()}": int(n) for kind, n in self.entity_counts.items()},
            **self.digest_counts,
        }

    def gate(self, canaries: Iterable[str] = ()) -> PrivacyGate:
        """Scan every column that carries text or a name: known contacts and `canaries`
        (the blocking gate), then the second opinion."""
        from astrabot_pipeline.privacy.residual import ResidualDetector
        from astrabot_pipeline.privacy.validator import PrivacyValidator

        scanned = ["text", *TWEET_TEXT_COLUMNS, TWEET_AUTHOR_COLUMN, "sender_pseudonym"]
        texts = list(
            itertools.chain.from_iterable(self.frame[c] for c in scanned if c in self.frame)
        )
        report = PrivacyValidator(self.contacts, canaries=canaries).scan(texts)
        started = time.perf_counter()
        residual = ResidualDetector(self.anonymizer.analyzer.nlp_engine).scan(texts)
        return PrivacyGate(report, residual, time.perf_counter() - started)


def anonymize_windows(
    windows: pd.DataFrame,
    decoded_backup: Mapping[str, pd.DataFrame],
    policy: ScopePolicy,
    secrets_dir: Path,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    n_process: int = DEFAULT_N_PROCESS,
    warn: Callable[[str], None] = lambda message: None,
) -> AnonymizedWindows:
    """The in-scope `windows` with every identity replaced, the pseudonym key and the
    identifier digests under `secrets_dir`. Out-of-scope and opted-out messages are
    removed before anything is anonymized or written; a refusal that cannot be honoured
    raises ScopeError. `warn` receives what the owner should know (counts only)."""
    from astrabot_pipeline.privacy.anonymizer import ConversationAnonymizer
    from astrabot_pipeline.privacy.identifier_digests import record_identifier_digests
    from astrabot_pipeline.privacy.known_contacts import KnownContacts
    from astrabot_pipeline.privacy.pseudonyms import load_or_create_secret

    recipients, names = decoded_backup["recipients"], decoded_backup["recipient_names"]
    contacts = KnownContacts.from_recipients(recipients, names)
    scope, languages = _in_scope(windows, decoded_backup, policy, contacts, warn)
    kept = scope.frame
    secret = load_or_create_secret(secrets_dir / PSEUDONYM_KEY_FILE)
    anonymizer = ConversationAnonymizer(
        contacts, secret, batch_size=batch_size, n_process=n_process
    )
    bodies = anonymizer.anonymize_texts(kept["body"].tolist())
    tweet_columns = [c for c in TWEET_TEXT_COLUMNS if c in kept.columns]
    tweets = {c: anonymizer.anonymize_texts(kept[c].tolist()) for c in tweet_columns}
    senders = anonymizer.sender_pseudonyms(kept["sender_id"], kept["is_outgoing"])
    replaced = {"text": bodies.texts, **{c: result.texts for c, result in tweets.items()}}
    if TWEET_AUTHOR_COLUMN in kept.columns:
        replaced[TWEET_AUTHOR_COLUMN] = anonymizer.author_pseudonyms(kept[TWEET_AUTHOR_COLUMN])
    anonymized = kept.drop(columns=["body", *tweet_columns]).assign(
        **replaced, sender_pseudonym=senders
    )
    # Keyed digests of what was replaced, per window, for the evaluation's leakage scan.
    digest_counts = record_identifier_digests(
        secrets_dir,
        anonymizer,
        contacts,
        kept.get("window_id"),
        [
            (kept["body"].tolist(), bodies),
            *((kept[c].tolist(), result) for c, result in tweets.items()),
        ],
        senders,
    )
    entity_counts = Counter(bodies.entity_counts)
    for result in tweets.values():
        entity_counts.update(result.entity_counts)
    return AnonymizedWindows(
        anonymized, scope, languages, entity_counts, digest_counts, contacts, anonymizer
    )


def _in_scope(
    windows: pd.DataFrame,
    decoded_backup: Mapping[str, pd.DataFrame],
    policy: ScopePolicy,
    contacts: KnownContacts,
    warn: Callable[[str], None],
) -> tuple[ScopeResult, LanguageReport]:
    """The windows the owner's scope allows (counts by drop reason), and their language
    counts: what is out of scope never reaches the anonymizer or the output. A refusal
    that cannot be honoured raises (`ScopeResult.enforce_consent`)."""
    from astrabot_pipeline.privacy.language import detect_languages
    from astrabot_pipeline.privacy.scope import apply_scope

    scope = apply_scope(
        windows,
        decoded_backup["recipients"],
        decoded_backup["recipient_names"],
        policy,
        threads=decoded_backup.get("threads"),
    )
    for warning in scope.enforce_consent(contacts.keys):
        warn(warning)
    languages = detect_languages(scope.frame["body"])
    if languages.needs_warning:
        warn(
            f"{languages.non_english} of {languages.english + languages.non_english} "
            f"messages ({languages.non_english_share:.1%}) do not look English: the NER model "
            "is English, so names in them rely on the contact deny-list alone"
        )
    return scope, languages
