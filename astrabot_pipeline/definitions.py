"""The one Dagster entry point: loads every module under `defs/`."""

import dagster as dg

import astrabot_pipeline.defs as pipeline_defs
from astrabot_pipeline.defs.automation import (
    backup_observation_job,
    full_pipeline_job,
    new_backup_sensor,
    nightly_backup_observation,
)
from astrabot_pipeline.defs.resources import pipeline_resources
from astrabot_pipeline.settings import harden_process

harden_process()

defs = dg.Definitions(
    assets=dg.load_assets_from_package_module(pipeline_defs),
    jobs=[full_pipeline_job, backup_observation_job],
    schedules=[nightly_backup_observation],
    sensors=[new_backup_sensor],
    resources=pipeline_resources(),
    # In-process: the chain is linear, and one process avoids re-importing torch and
    # Presidio for every step.
    executor=dg.in_process_executor,
)
