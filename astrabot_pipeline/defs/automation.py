"""[automation] Re-run the chain below the backup whenever a new backup lands."""

import dagster as dg

from astrabot_pipeline.defs.ingest import decoded_backup
from astrabot_pipeline.defs.resources import SignalBackupResource
from astrabot_pipeline.signal.discovery import NoBackupFoundError, content_sha256, settledness

full_pipeline_job = dg.define_asset_job(
    "astrabot_full_pipeline",
    selection=dg.AssetSelection.assets(decoded_backup).downstream(),
    description="Decode the newest backup and rebuild everything below it.",
)


@dg.sensor(
    job=full_pipeline_job,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
)
def new_backup_sensor(context: dg.SensorEvaluationContext, signal: SignalBackupResource):
    """Requests a full run when the newest backup's content hash changes (cursor = the hash).

    On by default: a backup copied into the folder is processed without a click, once it
    is settled (unchanged for a while and not locked by a writer), so a half-copied file is
    never decoded.
    """
    try:
        newest = signal.newest()
    except NoBackupFoundError:
        return dg.SkipReason("no backup in the backup folder yet")
    state = settledness(newest)
    if not state.settled:
        return dg.SkipReason(state.reason)
    digest = content_sha256(newest)
    if digest == context.cursor:
        return dg.SkipReason("newest backup already processed")
    context.update_cursor(digest)
    return dg.RunRequest(run_key=digest)
