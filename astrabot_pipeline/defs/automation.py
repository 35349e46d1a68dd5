"""[automation] Re-run the chain below the backup whenever a new backup lands.

Two pieces, both on by default while the daemon runs:
- `new_backup_sensor` (every minute) requests a full run when the newest backup's content
  hash changes and the file is settled. This explicit selection, not declarative
  automation, decides when the heavy stages (training, evaluation) run: only on a new
  backup, never because a clock ticked or an upstream asset was merely re-observed.
- `nightly_backup_observation` (03:00 in the daemon's zone) observes `signal_backup`, so
  its data version, and the UI's staleness markers below it, stay true even on a day the
  sensor was stopped; an observation runs nothing downstream.
"""

import dagster as dg

from astrabot_pipeline.defs.ingest import decoded_backup, signal_backup
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.signal.discovery import (
    BackupTooLargeError,
    NoBackupFoundError,
    settledness,
)

full_pipeline_job = dg.define_asset_job(
    "astrabot_full_pipeline",
    selection=dg.AssetSelection.assets(decoded_backup).downstream(),
    description="Decode the newest backup and rebuild everything below it.",
)

backup_observation_job = dg.define_asset_job(
    "observe_signal_backup",
    selection=dg.AssetSelection.assets(signal_backup.key),
    description="Record the newest backup's content hash as signal_backup's data version.",
)

nightly_backup_observation = dg.ScheduleDefinition(
    name="nightly_backup_observation",
    job=backup_observation_job,
    cron_schedule="0 3 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
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
    except BackupTooLargeError as error:
        return dg.SkipReason(str(error))
    state = settledness(newest)
    if not state.settled:
        return dg.SkipReason(state.reason)
    digest = signal.fingerprint(newest)
    if digest == context.cursor:
        return dg.SkipReason("newest backup already processed")
    context.update_cursor(digest)
    return dg.RunRequest(run_key=digest)
