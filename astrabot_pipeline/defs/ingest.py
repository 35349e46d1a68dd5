"""[ingest] The watched Signal backup and its decoded tables."""

import dagster as dg

from astrabot_pipeline.data_layout import DECODED, LATEST_DECODE
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources.backup import (
    SignalBackupResource,
    refuse_secrets_in_run_config,
)
from astrabot_pipeline.defs.resources.decoder import DecoderLauncherResource
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.history_origin import is_generated_demo_backup, record_history_origin
from astrabot_pipeline.signal import read_tables
from astrabot_pipeline.signal.tables import SchemaMismatchError, conform, owner_ids


class DecodeConfig(dg.Config):
    extract_attachments: bool = True


@dg.observable_source_asset(
    group_name="ingest",
    description="Newest Signal backup in ASTRABOT_BACKUP_DIR; its data version is the file's sha256.",
)
@redact_failures
def signal_backup(signal: SignalBackupResource) -> dg.DataVersion:
    return dg.DataVersion(signal.fingerprint(signal.newest()))


@dg.asset(
    group_name="ingest",
    deps=[signal_backup],
    kinds={"python", "parquet", "sqlite"},
    check_specs=[dg.AssetCheckSpec("decoded_tables_match_contract", asset="decoded_backup")],
)
@redact_failures
def decoded_backup(
    context: dg.AssetExecutionContext,
    config: DecodeConfig,
    signal: SignalBackupResource,
    decoder: DecoderLauncherResource,
    paths: AstrabotPathsResource,
):
    """The backup decrypted (MAC-checked), replayed into SQLite and normalized to the data
    contract by the decoder running as its own process (subprocess or container, via Pipes)."""
    refuse_secrets_in_run_config(context.run.run_config)  # before any work
    backup = signal.newest()
    out_dir = paths.sub(DECODED, LATEST_DECODE)
    decoded = decoder.decode(
        context,
        backup=backup,
        out_dir=out_dir,
        passphrase=signal.passphrase,
        aci=signal.aci,
        desktop_key=signal.desktop_key,
        options={
            "extract_attachments": config.extract_attachments,
            "backup_sha256": signal.fingerprint(backup),
        },
    )
    tables = read_tables(out_dir)
    generated_demo = is_generated_demo_backup(backup)
    record_history_origin(paths.root(), generated_demo=generated_demo)
    context.log.info(f"{len(tables['messages'])} chat messages in {len(tables['threads'])} threads")
    yield dg.Output(
        tables, metadata={**dict(decoded.metadata or {}), "generated_demo": generated_demo}
    )
    problems = []
    for name, frame in tables.items():
        try:
            conform(name, frame)
        except SchemaMismatchError:
            problems.append(name)
    owners = len(owner_ids(tables["recipients"]))
    yield dg.AssetCheckResult(
        check_name="decoded_tables_match_contract",
        passed=not problems and owners == 1 and len(tables["messages"]) > 0,
        metadata={"tables_off_contract": len(problems), "owners_identified": owners},
    )
