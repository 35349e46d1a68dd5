"""The decoder launcher: the Pipes decoder as a subprocess or in the decoder image, with
each secret handed over as a 0600 file."""

import os
import sys
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, Literal

import dagster as dg
from dagster_docker import PipesDockerClient
from dagster_docker.pipes import PipesDockerLogsMessageReader
from dagster_pipes import PipesParams

from astrabot_pipeline import settings
from astrabot_pipeline.signal.pipes_entry import FAILURE_KEY, PIPES_ENTRY_MODULE
from astrabot_pipeline.storage import private_dir

# The error a Pipes client raises when the decoder exits non-zero without reporting why.
# `dagster` does not export its class, so it is recognised by name: no private import.
PIPES_EXECUTION_ERROR = "DagsterPipesExecutionError"
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
                if type(error).__name__ == PIPES_EXECUTION_ERROR:
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
