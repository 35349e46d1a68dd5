"""The IO manager: assets as Parquet and JSON files under the data folder."""

import dataclasses
import json
from pathlib import Path

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from astrabot_pipeline.data_layout import FRAME_SUFFIX, asset_output, frame_output, record_output
from astrabot_pipeline.defs.errors import failures_redacted
from astrabot_pipeline.storage import atomic_output, read_parquet, write_json, write_parquet


class AstrabotIOManager(dg.ConfigurableIOManager):
    """Assets as files under `<data_dir>/assets/` (data_layout.py names them): a DataFrame
    as Parquet, a dict of DataFrames as a folder of Parquet files, anything else
    (manifests) as JSON.

    A typed record (a dataclass with `to_dict`, such as `StageResult`) is stored as its
    JSON form and read back as that type when the input is annotated with it (the
    type's `from_dict`)."""

    base_dir: str

    def _files(self, context: dg.OutputContext | dg.InputContext) -> tuple[Path, Path, Path]:
        """Where the asset's output is as a DataFrame, as a folder of tables, as JSON."""
        key = context.asset_key.path
        return (
            Path(self.base_dir, frame_output(*key)),
            Path(self.base_dir, asset_output(*key)),
            Path(self.base_dir, record_output(*key)),
        )

    def handle_output(self, context: dg.OutputContext, obj: object) -> None:
        # pyarrow's conversion errors quote the offending cell: redact like an asset body.
        with failures_redacted():
            self._write(context, obj)

    def _write(self, context: dg.OutputContext, obj: object) -> None:
        frame_file, tables_folder, record_file = self._files(context)
        if isinstance(obj, pd.DataFrame):
            write_parquet(frame_file, obj)
        elif (
            isinstance(obj, dict) and obj and all(isinstance(v, pd.DataFrame) for v in obj.values())
        ):
            with atomic_output(tables_folder, directory=True) as folder:
                for name, frame in obj.items():
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    pq.write_table(table, folder / f"{name}{FRAME_SUFFIX}")
        elif dataclasses.is_dataclass(obj) and hasattr(obj, "to_dict"):
            write_json(record_file, obj.to_dict())
        else:
            write_json(record_file, obj)

    def load_input(self, context: dg.InputContext) -> object:
        with failures_redacted():
            return self._read(context)

    def _read(self, context: dg.InputContext) -> object:
        frame_file, tables_folder, record_file = self._files(context)
        if frame_file.exists():
            return read_parquet(frame_file)
        if tables_folder.is_dir():
            return {
                path.stem: read_parquet(path)
                for path in sorted(tables_folder.glob(f"*{FRAME_SUFFIX}"))
            }
        if record_file.exists():
            payload = json.loads(record_file.read_text(encoding="utf-8"))
            record_type = context.dagster_type.typing_type if context.dagster_type else None
            if isinstance(record_type, type) and hasattr(record_type, "from_dict"):
                return record_type.from_dict(payload)
            return payload
        raise dg.Failure(
            description=f"asset {context.asset_key.to_user_string()} has not been materialized yet: "
            "materialize it first (or the whole graph with `make run`)"
        )
