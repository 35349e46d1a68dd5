"""The one Dagster entry point: every asset, check, job, schedule and sensor defined in a
module under `defs/` is found by Dagster's defs-folder loader (the project is declared
in pyproject.toml's `[tool.dg]`), so a new one needs no list edited here; the resources
and the executor are bound here."""

from pathlib import Path

import dagster as dg

from astrabot_pipeline.defs.resources import pipeline_resources
from astrabot_pipeline.settings import harden_process

harden_process()


@dg.definitions
def defs() -> dg.Definitions:
    return dg.Definitions.merge(
        dg.load_from_defs_folder(path_within_project=Path(__file__).parent),
        dg.Definitions(
            resources=pipeline_resources(),
            # In-process: the chain is linear, and one process avoids re-importing torch
            # and Presidio for every step.
            executor=dg.in_process_executor,
        ),
    )
