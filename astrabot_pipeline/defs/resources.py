"""Resources and the IO manager, bound to environment variables and defaults."""

import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, NamedTuple

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster_docker import PipesDockerClient
from dagster_docker.pipes import PipesDockerLogsMessageReader
from dagster_pipes import PipesParams

from astrabot_pipeline import settings
from astrabot_pipeline.signal.discovery import newest_backup
from astrabot_pipeline.signal.pipes_entry import (
    DESKTOP_KEY_FILE_ENV,
    FAILURE_KEY,
    PASSPHRASE_FILE_ENV,
    PIPES_ENTRY_MODULE,
)
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
    passphrase: str | None = None  # plain inputs (decrypted SQLite, CSV, exports) need none
    aci: str | None = None  # for a bare backup-v2 `main` file
    desktop_key: str | None = None  # hex SQLCipher key of a Signal Desktop database

    def newest(self) -> Path:
        return newest_backup(self.backup_dir)


CONTAINER_SECRET_PATH = "/run/secrets/astrabot_passphrase"
CONTAINER_DESKTOP_KEY_PATH = "/run/secrets/astrabot_desktop_key"


class DecoderLauncherResource(dg.ConfigurableResource):
    """Runs the decoder (`signal/pipes_entry.py`) outside the Dagster process through Pipes:
    as a subprocess (default) or in the decoder image (`launcher: docker`).

    The passphrase travels only as a 0600 temporary file, removed afterwards: never as a
    command argument, an extra, or an environment value of the container.
    """

    launcher: Literal["subprocess", "docker"] = "subprocess"
    image: str = "astrabot-decoder:latest"

    def decode(
        self,
        context: dg.AssetExecutionContext,
        *,
        backup: Path,
        out_dir: Path,
        passphrase: str | None,
        aci: str | None = None,
        desktop_key: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> dg.MaterializeResult:
        """Decode `backup` into `out_dir`; the result carries the decoder's metadata.

        Raises dg.Failure with the decoder's own message when the backup cannot be decoded.
        """
        launch = self._in_docker if self.launcher == "docker" else self._in_subprocess
        reader = _DockerReader() if self.launcher == "docker" else _SubprocessReader()
        with _secret_file(passphrase or "") as secret, _secret_file(desktop_key or "") as key:
            files = _SecretFiles(secret, key, aci or "")
            try:
                invocation = launch(context, reader, backup, out_dir, files, dict(options or {}))
            except Exception:
                if failure := reader.reported_failure():
                    raise dg.Failure(description=failure) from None
                raise
        return invocation.get_materialize_result()

    def _in_subprocess(self, context, reader, backup, out_dir, files, extras):
        return dg.PipesSubprocessClient(message_reader=reader).run(
            context=context,
            command=[sys.executable, "-m", PIPES_ENTRY_MODULE],
            extras={**extras, "backup_path": str(backup), "out_dir": str(out_dir)},
            # Empty secret variables: the child reads the files, not the inherited environment.
            env={
                PASSPHRASE_FILE_ENV: str(files.passphrase),
                settings.PASSPHRASE_ENV: "",
                DESKTOP_KEY_FILE_ENV: str(files.desktop_key),
                settings.DESKTOP_KEY_ENV: "",
                settings.ACI_ENV: files.aci,
            },
        )

    def _in_docker(self, context, reader, backup, out_dir, files, extras):
        private_dir(out_dir.parent)  # created by us (0700), not by the Docker daemon as root
        return PipesDockerClient(message_reader=reader).run(
            context=context,
            image=self.image,
            command=["-m", PIPES_ENTRY_MODULE],
            extras={
                **extras,
                "backup_path": f"/input/{backup.name}",
                "out_dir": f"/output/{out_dir.name}",
            },
            env={
                PASSPHRASE_FILE_ENV: CONTAINER_SECRET_PATH,
                DESKTOP_KEY_FILE_ENV: CONTAINER_DESKTOP_KEY_PATH,
                settings.ACI_ENV: files.aci,
            },
            container_kwargs={
                "entrypoint": ["python"],
                "volumes": {
                    str(backup.parent.resolve()): {"bind": "/input", "mode": "ro"},
                    str(out_dir.parent.resolve()): {"bind": "/output", "mode": "rw"},
                    str(files.passphrase): {"bind": CONTAINER_SECRET_PATH, "mode": "ro"},
                    str(files.desktop_key): {"bind": CONTAINER_DESKTOP_KEY_PATH, "mode": "ro"},
                },
                # The host user, so the container can read the 0600 secret and writes files we own.
                "user": f"{os.getuid()}:{os.getgid()}",
                "network_disabled": True,
            },
        )


class _SecretFiles(NamedTuple):
    """The 0600 files carrying the secrets to the decoder, and the (non-secret) ACI."""

    passphrase: Path
    desktop_key: Path
    aci: str


@contextmanager
def _secret_file(secret: str) -> Iterator[Path]:
    """`secret` in a new 0600 temporary file, removed on the way out whatever happens."""
    handle, name = tempfile.mkstemp(prefix="astrabot-passphrase-")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(secret)
        yield Path(name)
    finally:
        Path(name).unlink(missing_ok=True)


class _KeepsHandler:
    """Message-reader mixin keeping the session's handler, so that after the client raised
    the decoder's own failure message (a Pipes custom message) can still be read."""

    _kept: dg.PipesMessageHandler | None = None

    @contextmanager
    def read_messages(self, handler: dg.PipesMessageHandler) -> Iterator[PipesParams]:
        self._kept = handler
        with super().read_messages(handler) as params:  # type: ignore[misc]
            yield params

    def reported_failure(self) -> str | None:
        messages = self._kept.get_custom_messages() if self._kept is not None else ()
        failures = [m[FAILURE_KEY] for m in messages if isinstance(m, dict) and FAILURE_KEY in m]
        return failures[-1] if failures else None


class _SubprocessReader(_KeepsHandler, dg.PipesTempFileMessageReader):
    pass


class _DockerReader(_KeepsHandler, PipesDockerLogsMessageReader):
    pass


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


def _env_secret(name: str) -> dg.EnvVar | None:
    """An EnvVar for `name` when it is set; None otherwise (not every input needs it)."""
    return dg.EnvVar(name) if os.environ.get(name) else None


def pipeline_resources() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """Resources bound to the environment: data and backup folders, the passphrase EnvVar
    (bound only when set: plain inputs need none), the decoder launcher."""
    data_dir = str(settings.data_dir())
    passphrase = (
        dg.EnvVar(settings.PASSPHRASE_ENV) if os.environ.get(settings.PASSPHRASE_ENV) else None
    )
    return {
        "paths": AstrabotPathsResource(data_dir=data_dir),
        "signal": SignalBackupResource(
            backup_dir=str(settings.backup_dir()), passphrase=passphrase
        ),
        "decoder": DecoderLauncherResource(
            launcher=os.environ.get(settings.DECODER_LAUNCHER_ENV) or "subprocess"
        ),
        "nitter": NitterResource(),
        "io_manager": AstrabotIOManager(base_dir=data_dir),
    }
