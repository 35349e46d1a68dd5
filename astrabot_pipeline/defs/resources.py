"""Resources and the IO manager, bound to environment variables and defaults."""

import dataclasses
import json
import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Literal, cast

import dagster as dg
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from dagster._core.errors import DagsterPipesExecutionError  # not exported by `dagster`
from dagster_docker import PipesDockerClient
from dagster_docker.pipes import PipesDockerLogsMessageReader
from dagster_pipes import PipesParams

from astrabot_pipeline import settings
from astrabot_pipeline.defs.errors import failures_redacted
from astrabot_pipeline.signal.discovery import newest_backup
from astrabot_pipeline.signal.pipes_entry import FAILURE_KEY, PIPES_ENTRY_MODULE
from astrabot_pipeline.storage import (
    atomic_output,
    private_dir,
    read_parquet,
    write_json,
    write_parquet,
)

# The concurrency pool of the steps that load a model (training stages, evaluation): the
# local instance (dagster.yaml) limits it to one step at a time across all runs, so two
# runs never hold two models in one GPU's (or a small machine's) memory.
ACCELERATOR_POOL = "gpu"


class AstrabotPathsResource(dg.ConfigurableResource):
    """Where the pipeline writes: everything lives under `data_dir` (0700)."""

    data_dir: str

    def root(self) -> Path:
        return private_dir(Path(self.data_dir))

    def sub(self, *parts: str) -> Path:
        return self.root().joinpath(*parts)


class ConversationAnalyticsResource(dg.ConfigurableResource):
    """Settings shared by the conversation analytics (`window_profiles`,
    `relationship_dynamics`): one time zone for both, so their clock times agree."""

    time_zone: str = ""  # an IANA name such as Europe/Berlin; empty: the machine's zone


class SignalBackupResource(dg.ConfigurableResource):
    """The watched backup folder and the secrets that open the inputs in it (each bound to
    its environment variable by `pipeline_resources`)."""

    backup_dir: str
    passphrase: str | None = None  # plain inputs (decrypted SQLite, CSV, exports) need none
    aci: str | None = None  # for a bare backup-v2 `main` file
    desktop_key: str | None = None  # hex SQLCipher key of a Signal Desktop database

    def newest(self) -> Path:
        return newest_backup(self.backup_dir)


CONTAINER_SECRETS_DIR = "/run/secrets"
CONTAINER_SECRET_PATH = f"{CONTAINER_SECRETS_DIR}/astrabot_passphrase"
CONTAINER_ACI_PATH = f"{CONTAINER_SECRETS_DIR}/astrabot_aci"
CONTAINER_DESKTOP_KEY_PATH = f"{CONTAINER_SECRETS_DIR}/astrabot_desktop_key"
CONTAINER_SECRET_PATHS = {
    "passphrase": CONTAINER_SECRET_PATH,
    "aci": CONTAINER_ACI_PATH,
    "desktop_key": CONTAINER_DESKTOP_KEY_PATH,
}


DecoderLauncher = Literal["subprocess", "docker"]


class DecoderLauncherResource(dg.ConfigurableResource):
    """Runs the decoder (`signal/pipes_entry.py`) outside the Dagster process through Pipes:
    as a subprocess (default) or in the decoder image (`launcher: docker`).

    Each secret the decoder is given (passphrase, ACI, Desktop key) travels only as a 0600
    temporary file, removed afterwards, whose path is in the secret's `*_FILE` variable:
    never as a command argument, an extra, or a value in the environment. A secret that is
    neither given nor in the environment is not passed at all: no blank value ever overrides
    one the user exported.
    """

    launcher: DecoderLauncher = "subprocess"
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

        Each secret not given here is taken from this process's environment
        (`settings.read_secrets`), so both launchers see the same ones.
        Raises dg.Failure with the decoder's own message when the backup cannot be decoded.
        """
        given = settings.Secrets(passphrase=passphrase, aci=aci, desktop_key=desktop_key)
        from_env = settings.read_secrets()
        secrets = settings.Secrets(
            **{name: value or getattr(from_env, name) for name, value in given.items()}
        )
        launch = self._in_docker if self.launcher == "docker" else self._in_subprocess
        reader = _DockerReader() if self.launcher == "docker" else _SubprocessReader()
        with _secret_files(secrets) as files:
            try:
                invocation = launch(context, reader, backup, out_dir, files, dict(options or {}))
            except Exception as error:
                if failure := reader.reported_failure():
                    raise dg.Failure(description=failure) from None
                if isinstance(error, DagsterPipesExecutionError):
                    # "External execution process failed with code N": Dagster's own words.
                    raise dg.Failure(description=f"{type(error).__name__}: {error}") from None
                raise
        return invocation.get_materialize_result()

    def _in_subprocess(self, context, reader, backup, out_dir, files, extras):
        env = {}
        for name, path in files.items():
            value_env, file_env = settings.SECRET_VARIABLES[name]
            # The file wins over the value variable; blanking the value only keeps the
            # secret out of the child's environment (it is the same secret).
            env.update({file_env: str(path), value_env: ""})
        return dg.PipesSubprocessClient(message_reader=reader).run(
            context=context,
            command=[sys.executable, "-m", PIPES_ENTRY_MODULE],
            extras={**extras, "backup_path": str(backup), "out_dir": str(out_dir)},
            env=env,
        )

    def _in_docker(self, context, reader, backup, out_dir, files, extras):
        private_dir(out_dir.parent)  # created by us (0700), not by the Docker daemon as root
        volumes = {
            str(backup.parent.resolve()): {"bind": "/input", "mode": "ro"},
            str(out_dir.parent.resolve()): {"bind": "/output", "mode": "rw"},
        }
        env = {}
        for name, path in files.items():
            inside = CONTAINER_SECRET_PATHS[name]
            volumes[str(path)] = {"bind": inside, "mode": "ro"}
            env[settings.SECRET_VARIABLES[name][1]] = inside
        return PipesDockerClient(message_reader=reader).run(
            context=context,
            image=self.image,
            command=["-m", PIPES_ENTRY_MODULE],
            extras={
                **extras,
                "backup_path": f"/input/{backup.name}",
                "out_dir": f"/output/{out_dir.name}",
            },
            env=env,
            container_kwargs={
                "entrypoint": ["python"],
                "volumes": volumes,
                # The host user, so the container can read the 0600 secret and writes files we own.
                "user": f"{os.getuid()}:{os.getgid()}",
                "network_disabled": True,
            },
        )


@contextmanager
def _secret_files(secrets: settings.Secrets) -> Iterator[dict[str, Path]]:
    """Each secret that is set in a new 0600 temporary file ({name: path}), all removed on
    the way out whatever happens."""
    with ExitStack() as stack:
        yield {
            name: stack.enter_context(_secret_file(value))
            for name, value in secrets.items()
            if value
        }


@contextmanager
def _secret_file(secret: str) -> Iterator[Path]:
    """`secret` in a new 0600 temporary file, removed on the way out whatever happens."""
    handle, name = tempfile.mkstemp(prefix="astrabot-secret-")
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
        # A mixin: read_messages is the one of the reader class it is mixed into.
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
    """Tweet enrichment through Nitter: off, and nothing contacted, unless `enabled` and
    instances are given (from ASTRABOT_NITTER_ENABLED / ASTRABOT_NITTER_INSTANCES, or this
    resource's config in the launchpad)."""

    enabled: bool = False
    instances: list[str] = []  # base URLs, e.g. ["http://127.0.0.1:8080"] (self-hosted)
    rate_limit_delay: float = 2.0  # seconds between two requests to one host
    timeout_seconds: float = 10.0  # connect and read timeouts of one request
    time_budget_seconds: float = 600.0  # the rest stays unresolved after this, per run


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


def pipeline_resources() -> dict[str, dg.ConfigurableResource | dg.ConfigurableIOManager]:
    """Resources bound to the environment: data and backup folders, each secret as an
    EnvVar (bound only when set: plain inputs need none), the decoder launcher."""
    data_dir = str(settings.data_dir())
    nitter = settings.nitter_settings()
    secrets = {
        name: dg.EnvVar(value_env)
        for name, (value_env, _) in settings.SECRET_VARIABLES.items()
        if os.environ.get(value_env)
    }
    return {
        "paths": AstrabotPathsResource(data_dir=data_dir),
        "signal": SignalBackupResource(backup_dir=str(settings.backup_dir()), **secrets),
        "decoder": DecoderLauncherResource(
            # pydantic checks the value against the Literal when the resource is built.
            launcher=cast(
                DecoderLauncher, os.environ.get(settings.DECODER_LAUNCHER_ENV) or "subprocess"
            )
        ),
        "nitter": NitterResource(enabled=nitter.enabled, instances=nitter.instances),
        "analytics": ConversationAnalyticsResource(
            time_zone=os.environ.get(settings.TIME_ZONE_ENV, "")
        ),
        "io_manager": AstrabotIOManager(base_dir=data_dir),
    }
