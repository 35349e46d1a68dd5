"""[privacy] Anonymized windows and the blocking gate that keeps real identities out of training."""

import itertools
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from astrabot_pipeline.data_layout import PSEUDONYM_KEY_FILE, SECRETS
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.enrichment.columns import TWEET_AUTHOR_COLUMN, TWEET_TEXT_COLUMNS
from astrabot_pipeline.privacy.canaries import load_canaries
from astrabot_pipeline.privacy.processes import DEFAULT_BATCH_SIZE, DEFAULT_N_PROCESS
from astrabot_pipeline.privacy.purge import purge_plaintext

# spaCy and Presidio (and torch, which spaCy's thinc imports) load when the asset runs,
# not with the definitions that every Dagster process start loads (lazy_exports.py).
if TYPE_CHECKING:
    from astrabot_pipeline.privacy import KnownContacts, LanguageReport, ScopePolicy, ScopeResult

MAX_GENERIC_RESIDUE_RATE = 0.01
PRIVACY_GATE = dg.AssetCheckKey(dg.AssetKey("anonymized_windows"), "no_known_identifiers_survive")


class PrivacyScopeConfig(dg.Config):
    """Consent and scope (privacy/scope.py): the defaults keep every chat in scope.

    Contacts are named by recipient id, phone number or any name form (case-insensitive);
    threads by decoded thread_id; dates are ISO 8601, UTC (a date-only end is inclusive).
    """

    include_threads: list[str] = []
    exclude_threads: list[str] = []
    include_contacts: list[str] = []
    exclude_contacts: list[str] = []
    opt_out_contacts: list[str] = []  # their messages dropped, every mention replaced
    include_groups: bool = True
    start_date: str | None = None
    end_date: str | None = None

    def to_policy(self) -> "ScopePolicy":
        from astrabot_pipeline.privacy import ScopePolicy

        return ScopePolicy(
            include_threads=self.include_threads,
            exclude_threads=self.exclude_threads,
            include_contacts=self.include_contacts,
            exclude_contacts=self.exclude_contacts,
            opt_out_contacts=self.opt_out_contacts,
            include_groups=self.include_groups,
            start=self.start_date,
            end=self.end_date,
        )


class AnonymizationConfig(PrivacyScopeConfig):
    batch_size: int = DEFAULT_BATCH_SIZE
    # Processes finding entities, this one included: the machine's cores, at most 2
    # (on 2 cores, 100,000 demo messages took 15.1 s instead of 23.0 s). Workers start
    # only from MIN_TEXTS_FOR_WORKERS texts on (privacy/anonymizer.py); 1 starts none.
    n_process: int = DEFAULT_N_PROCESS
    # Once the blocking gate passes, delete the decoded backup and the raw-text asset
    # outputs (privacy/purge.py). Downstream assets need only anonymized_windows onward;
    # re-materializing decoded_backup decodes the backup again.
    delete_plaintext_after_gate: bool = False


@dg.asset(
    group_name="privacy",
    kinds={"presidio", "spacy", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(PRIVACY_GATE.name, asset=PRIVACY_GATE.asset_key, blocking=True),
        dg.AssetCheckSpec("generic_pii_residue_rate", asset="anonymized_windows"),
    ],
)
@redact_failures
def anonymized_windows(
    context: dg.AssetExecutionContext,
    config: AnonymizationConfig,
    nitter_enriched_windows: pd.DataFrame,
    decoded_backup: dict[str, pd.DataFrame],
    signal: SignalBackupResource,
    paths: AstrabotPathsResource,
):
    """In-scope windows with every identity replaced by a stable pseudonym; raw bodies are
    dropped, and `sender_pseudonym` says who wrote each message (None for the owner).
    Out-of-scope and opted-out messages are removed before anything is written."""
    from astrabot_pipeline.privacy import (
        ConversationAnonymizer,
        KnownContacts,
        PrivacyValidator,
        load_or_create_secret,
    )
    from astrabot_pipeline.privacy.identifier_digests import record_identifier_digests
    from astrabot_pipeline.privacy.residual import ResidualDetector

    recipients, names = decoded_backup["recipients"], decoded_backup["recipient_names"]
    contacts = KnownContacts.from_recipients(recipients, names)
    scope, languages = _in_scope(context, config, nitter_enriched_windows, decoded_backup, contacts)
    windows = scope.frame
    secret = load_or_create_secret(paths.sub(SECRETS, PSEUDONYM_KEY_FILE))
    anonymizer = ConversationAnonymizer(
        contacts, secret, batch_size=config.batch_size, n_process=config.n_process
    )
    bodies = anonymizer.anonymize_texts(windows["body"].tolist())
    # What a resolved tweet brought in (its text and the tweet it quotes) is anonymized like
    # message text; its author is replaced as a whole by a stable surrogate.
    tweet_columns = [c for c in TWEET_TEXT_COLUMNS if c in windows.columns]
    tweets = {c: anonymizer.anonymize_texts(windows[c].tolist()) for c in tweet_columns}
    senders = anonymizer.sender_pseudonyms(windows["sender_id"], windows["is_outgoing"])
    replaced = {"text": bodies.texts, **{c: result.texts for c, result in tweets.items()}}
    if TWEET_AUTHOR_COLUMN in windows.columns:
        replaced[TWEET_AUTHOR_COLUMN] = anonymizer.author_pseudonyms(windows[TWEET_AUTHOR_COLUMN])
    anonymized = windows.drop(columns=["body", *tweet_columns]).assign(
        **replaced, sender_pseudonym=senders
    )
    context.log.info(f"anonymized {len(anonymized)} messages")
    # Keyed digests of what was replaced, per window, for the evaluation's leakage scan.
    digest_counts = record_identifier_digests(
        paths.sub(SECRETS),
        anonymizer,
        contacts,
        windows.get("window_id"),
        [
            (windows["body"].tolist(), bodies),
            *((windows[c].tolist(), result) for c, result in tweets.items()),
        ],
        senders,
    )
    entity_counts = Counter(bodies.entity_counts)
    for result in tweets.values():
        entity_counts.update(result.entity_counts)
    yield dg.Output(
        anonymized,
        metadata={
            "messages": len(anonymized),
            **{f"scope_{key}": int(value) for key, value in scope.counts.items()},
            **languages.to_metadata(),
            **{f"replaced_{kind.lower()}": int(count) for kind, count in entity_counts.items()},
            **digest_counts,
        },
    )
    validator = PrivacyValidator(contacts, canaries=load_canaries(signal.newest()))
    scanned = ["text", *tweet_columns, TWEET_AUTHOR_COLUMN, "sender_pseudonym"]
    gated = list(
        itertools.chain.from_iterable(anonymized[c] for c in scanned if c in anonymized.columns)
    )
    report = validator.scan(gated)
    # The second opinion (privacy/residual.py): counted, never blocking.
    started = time.perf_counter()
    residual = ResidualDetector(anonymizer.analyzer.nlp_engine).scan(gated)
    yield dg.AssetCheckResult(
        check_name=PRIVACY_GATE.name,
        passed=report.passed,
        metadata={
            **report.to_metadata(),
            **residual.to_metadata(),
            "residual_seconds": round(time.perf_counter() - started, 3),
        },
        description=(
            "Fails (and blocks training) if any known contact identifier or canary survives. "
            "residual_* counts are a warning only: what Presidio's default recognizers still "
            "find in the anonymized text (our placeholders and surrogates left out), by type, "
            "for a person to review."
        ),
    )
    yield dg.AssetCheckResult(
        check_name="generic_pii_residue_rate",
        passed=report.generic_residue_rate <= MAX_GENERIC_RESIDUE_RATE,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={
            "generic_residue_rate": report.generic_residue_rate,
            "threshold": MAX_GENERIC_RESIDUE_RATE,
        },
    )
    if config.delete_plaintext_after_gate and report.passed:
        purged = purge_plaintext(paths.root(), keep=(Path(signal.backup_dir),))
        context.log.info(
            f"gate passed: deleted {len(purged)} plaintext paths "
            f"({sum(item.files for item in purged)} files, {sum(item.size for item in purged)} bytes)"
        )


def require_passed_privacy_gate(instance: dg.DagsterInstance) -> None:
    """Raises PrivacyGateError unless the newest `anonymized_windows` materialization passed
    its blocking gate.

    Dagster's `blocking=True` skips what is downstream only within the run that evaluated
    the check; this holds the gate across runs, so a later run that selects only the
    dataset (or clicks it in the UI) cannot build training data on a failed output.
    """
    from astrabot_pipeline.privacy.validator import PrivacyGateError

    materialized = instance.fetch_materializations(PRIVACY_GATE.asset_key, limit=1).records
    if not materialized:
        raise PrivacyGateError(
            "anonymized_windows has no materialization in this Dagster instance: materialize "
            "it first (its privacy gate runs with it)"
        )
    record = instance.get_latest_asset_check_evaluation_record(PRIVACY_GATE)
    evaluation = record.evaluation if record else None
    target = evaluation.target_materialization_data if evaluation else None
    if evaluation is None or target is None or target.storage_id != materialized[0].storage_id:
        raise PrivacyGateError(
            "the newest anonymized_windows has no privacy gate result: re-materialize "
            "anonymized_windows so its no_known_identifiers_survive check runs"
        )
    if not evaluation.passed:
        raise PrivacyGateError(
            "anonymized_windows failed its privacy gate (no_known_identifiers_survive): known "
            "identifiers or canaries survived, so no training data is built on it; see the "
            "check's counts, fix the contacts or scope and re-materialize anonymized_windows"
        )


def _in_scope(
    context: dg.AssetExecutionContext,
    config: AnonymizationConfig,
    windows: pd.DataFrame,
    decoded_backup: dict[str, pd.DataFrame],
    contacts: "KnownContacts",
) -> tuple["ScopeResult", "LanguageReport"]:
    """The windows the owner's scope allows (counts by drop reason), and their language
    counts: what is out of scope never reaches the anonymizer or the output. A refusal
    that cannot be honoured fails the run (`ScopeResult.enforce_consent`)."""
    from astrabot_pipeline.privacy import apply_scope, detect_languages

    scope = apply_scope(
        windows,
        decoded_backup["recipients"],
        decoded_backup["recipient_names"],
        config.to_policy(),
        threads=decoded_backup.get("threads"),
    )
    for warning in scope.enforce_consent(contacts.keys):
        context.log.warning(warning)
    languages = detect_languages(scope.frame["body"])
    if languages.needs_warning:
        context.log.warning(
            f"{languages.non_english} of {languages.english + languages.non_english} "
            f"messages ({languages.non_english_share:.1%}) do not look English: the NER model "
            "is English, so names in them rely on the contact deny-list alone"
        )
    return scope, languages
