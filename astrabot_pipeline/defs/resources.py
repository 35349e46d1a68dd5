"""Resources and the IO manager, bound to environment variables and defaults."""

import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from astrabot_pipeline import settings
from astrabot_pipeline.signal.discovery import newest_backup
from astrabot_pipeline.storage import (
    atomic_output,
    private_dir,
    read_parquet,
    write_json,
    write_parquet,
)


class AstrabotPathsResource(dg.ConfigurableResource):
    """Where the pipeline writes: everything lives under `data_dir` (0700)."""

    data_dir: str

    def root(self) -> Path:
        return private_dir(Path(self.data_dir))

    def sub(self, *parts: str) -> Path:
        return self.root().joinpath(*parts)


class SignalBackupResource(dg.ConfigurableResource):
    """The watched backup folder and the secret that opens the backups in it."""

    backup_dir: str
    passphrase: str

    def newest(self) -> Path:
        return newest_backup(self.backup_dir)


class NitterResource(dg.ConfigurableResource):
    """Nitter instances to resolve tweet links through; none by default (no egress)."""

    instances: list[str] = []
    rate_limit_delay: float = 2.0
    timeout_seconds: float = 10.0


class AstrabotIOManager(dg.ConfigurableIOManager):
    """Assets as files under `<data_dir>/assets/`: a DataFrame as Parquet, a dict of
    DataFrames as a folder of Parquet files, anything else (manifests) as JSON."""

    base_dir: str

    def _stem(self, context: dg.OutputContext | dg.InputContext) -> Path:
        return Path(self.base_dir, "assets", *context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        stem = self._stem(context)
        if isinstance(obj, pd.DataFrame):
            write_parquet(stem.with_suffix(".parquet"), obj)
        elif (
            isinstance(obj, dict) and obj and all(isinstance(v, pd.DataFrame) for v in obj.values())
        ):
            with atomic_output(stem, directory=True) as folder:
                for name, frame in obj.items():
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    pq.write_table(table, folder / f"{name}.parquet")
        else:
            write_json(stem.with_suffix(".json"), obj)

    def load_input(self, context: dg.InputContext) -> object:
        stem = self._stem(context)
        if stem.with_suffix(".parquet").exists():
            return read_parquet(stem.with_suffix(".parquet"))
        if stem.is_dir():
            return {path.stem: read_parquet(path) for path in sorted(stem.glob("*.parquet"))}
        if stem.with_suffix(".json").exists():
            return json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
        raise dg.Failure(
            description=f"asset {context.asset_key.to_user_string()} has not been materialized yet: "
            "materialize it first (or the whole graph with `make run`)"
        )


def pipeline_resources() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """Resources bound to the environment: data and backup folders, the passphrase EnvVar."""
    data_dir = str(settings.data_dir())
    return {
        "paths": AstrabotPathsResource(data_dir=data_dir),
        "signal": SignalBackupResource(
            backup_dir=str(settings.backup_dir()),
            passphrase=dg.EnvVar(settings.PASSPHRASE_ENV),
        ),
        "nitter": NitterResource(),
        "io_manager": AstrabotIOManager(base_dir=data_dir),
    }
