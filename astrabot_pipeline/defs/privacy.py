"""[privacy] Anonymized windows and the blocking gate that keeps real identities out of training."""

import itertools

import dagster as dg
import pandas as pd

from astrabot_pipeline.defs.resources import AstrabotPathsResource, SignalBackupResource
from astrabot_pipeline.privacy import (
    ConversationAnonymizer,
    KnownContacts,
    PrivacyValidator,
    load_canaries,
    load_or_create_secret,
)

MAX_GENERIC_RESIDUE_RATE = 0.01


class AnonymizationConfig(dg.Config):
    batch_size: int = 256
    n_process: int = 1


@dg.asset(
    group_name="privacy",
    kinds={"presidio", "spacy", "parquet"},
    check_specs=[
        dg.AssetCheckSpec(
            "no_known_identifiers_survive", asset="anonymized_windows", blocking=True
        ),
        dg.AssetCheckSpec("generic_pii_residue_rate", asset="anonymized_windows"),
    ],
)
def anonymized_windows(
    context: dg.AssetExecutionContext,
    config: AnonymizationConfig,
    nitter_enriched_windows: pd.DataFrame,
    decoded_backup: dict[str, pd.DataFrame],
    signal: SignalBackupResource,
    paths: AstrabotPathsResource,
):
    """Windows with every identity replaced by a stable pseudonym; raw bodies are dropped."""
    contacts = KnownContacts.from_recipients(
        decoded_backup["recipients"], decoded_backup["recipient_names"]
    )
    secret = load_or_create_secret(paths.sub("secrets", "pseudonym.key"))
    anonymizer = ConversationAnonymizer(
        contacts, secret, batch_size=config.batch_size, n_process=config.n_process
    )
    windows = nitter_enriched_windows
    bodies = anonymizer.anonymize_texts(windows["body"].tolist())
    tweets = anonymizer.anonymize_texts(windows["tweet_text"].tolist())
    anonymized = windows.drop(columns=["body", "tweet_text"]).assign(
        text=bodies.texts, tweet_text=tweets.texts
    )
    context.log.info(f"anonymized {len(anonymized)} messages")
    entity_counts = {**bodies.entity_counts}
    for kind, count in tweets.entity_counts.items():
        entity_counts[kind] = entity_counts.get(kind, 0) + count
    yield dg.Output(
        anonymized,
        metadata={
            "messages": len(anonymized),
            **{f"replaced_{kind.lower()}": int(count) for kind, count in entity_counts.items()},
        },
    )
    validator = PrivacyValidator(contacts, canaries=load_canaries(signal.newest()))
    report = validator.scan(itertools.chain(anonymized["text"], anonymized["tweet_text"]))
    yield dg.AssetCheckResult(
        check_name="no_known_identifiers_survive",
        passed=report.passed,
        metadata=report.to_metadata(),
        description="Fails (and blocks training) if any known contact identifier or canary survives.",
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
