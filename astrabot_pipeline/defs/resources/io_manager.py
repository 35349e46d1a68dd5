"""The IO manager: assets as Parquet and JSON files under the data folder."""

import dataclasses
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from astrabot_pipeline.defs.errors import failures_redacted
from astrabot_pipeline.storage import atomic_output, read_parquet, write_json, write_parquet


class AstrabotIOManager(dg.ConfigurableIOManager):
    """Assets as files under `<data_dir>/assets/`: a DataFrame as Parquet, a dict of
    DataFrames as a folder of Parquet files, anything else (manifests) as JSON.

    A typed record (a dataclass with `to_dict`, such as `StageResult`) is stored as its
    JSON form and read back as that type when the input is annotated with it (the
    type's `from_dict`)."""

    base_dir: str

    def _stem(self, context: dg.OutputContext | dg.InputContext) -> Path:
        return Path(self.base_dir, "assets", *context.asset_key.path)

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        # pyarrow's conversion errors quote the offending cell: redact like an asset body.
        with failures_redacted():
            self._write(context, obj)

    def _write(self, context: dg.OutputContext, obj: object) -> None:
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
        elif dataclasses.is_dataclass(obj) and hasattr(obj, "to_dict"):
            write_json(stem.with_suffix(".json"), obj.to_dict())
        else:
            write_json(stem.with_suffix(".json"), obj)

    def load_input(self, context: dg.InputContext) -> object:
        with failures_redacted():
            return self._read(context)

    def _read(self, context: dg.InputContext) -> object:
        stem = self._stem(context)
        if stem.with_suffix(".parquet").exists():
            return read_parquet(stem.with_suffix(".parquet"))
        if stem.is_dir():
            return {path.stem: read_parquet(path) for path in sorted(stem.glob("*.parquet"))}
        if stem.with_suffix(".json").exists():
            payload = json.loads(stem.with_suffix(".json").read_text(encoding="utf-8"))
            record_type = context.dagster_type.typing_type if context.dagster_type else None
            if isinstance(record_type, type) and hasattr(record_type, "from_dict"):
                return record_type.from_dict(payload)
            return payload
        raise dg.Failure(
            description=f"asset {context.asset_key.to_user_string()} has not been materialized yet: "
            "materialize it first (or the whole graph with `make run`)"
        )
