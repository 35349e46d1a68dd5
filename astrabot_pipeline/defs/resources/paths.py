"""Where the pipeline writes, and the pool of the steps that load a model."""

from pathlib import Path

import dagster as dg

from astrabot_pipeline.storage import private_dir

# The concurrency pool of the steps that load a model (training stages, evaluation): the
# local instance (dagster.yaml) limits it to one step at a time across all runs, so two
# runs never hold two models in one GPU's (or a small machine's) memory.
ACCELERATOR_POOL = "gpu"


class AstrabotPathsResource(dg.ConfigurableResource):
    """Where the pipeline writes: everything lives under `data_dir` (0700), laid out as
    data_layout.py names it."""

    data_dir: str

    def root(self) -> Path:
        return private_dir(Path(self.data_dir))

    def sub(self, *parts: str) -> Path:
        return self.root().joinpath(*parts)
