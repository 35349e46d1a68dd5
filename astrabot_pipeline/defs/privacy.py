"""[privacy] Anonymized windows and the blocking gate that keeps real identities out of training."""

from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from astrabot_pipeline.data_layout import SECRETS
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.privacy.anonymized_windows import anonymize_windows
from astrabot_pipeline.privacy.canaries import load_canaries
from astrabot_pipeline.privacy.processes import DEFAULT_BATCH_SIZE, DEFAULT_N_PROCESS
from astrabot_pipeline.privacy.purge import purge_plaintext

# spaCy and Presidio (and torch, which spaCy's thinc imports) load when the asset runs,
# not with the definitions that every Dagster process start loads (lazy_exports.py).
if TYPE_CHECKING:
    from astrabot_pipeline.privacy import ScopePolicy

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
    result = anonymize_windows(
        nitter_enriched_windows,
        decoded_backup,
        config.to_policy(),
        paths.sub(SECRETS),
        batch_size=config.batch_size,
        n_process=config.n_process,
        warn=context.log.warning,
    )
    context.log.info(f"anonymized {len(result.frame)} messages")
    yield dg.Output(result.frame, metadata=result.to_metadata())
    gate = result.gate(canaries=load_canaries(signal.newest()))
    yield dg.AssetCheckResult(
        check_name=PRIVACY_GATE.name,
        passed=gate.passed,
        metadata=gate.to_metadata(),
        description=(
            "Fails (and blocks training) if any known contact identifier or canary survives. "
            "residual_* counts are a warning only: what Presidio's default recognizers still "
            "find in the anonymized text (our placeholders and surrogates left out), by type, "
            "for a person to review."
        ),
    )
    yield dg.AssetCheckResult(
        check_name="generic_pii_residue_rate",
        passed=gate.generic_residue_passed,
        severity=dg.AssetCheckSeverity.WARN,
        metadata=gate.residue_metadata(),
    )
    if config.delete_plaintext_after_gate and gate.passed:
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
