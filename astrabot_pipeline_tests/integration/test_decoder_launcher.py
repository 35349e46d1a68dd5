"""`decoded_backup` through Dagster Pipes: the decoder as a subprocess, and the container
spec it would get under `launcher: docker` (the Docker client is faked: no engine here)."""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster_pipes import DAGSTER_PIPES_CONTEXT_ENV_VAR, decode_param, encode_param

from astrabot_pipeline.defs.ingest import decoded_backup
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.defs.resources.decoder import (
    CONTAINER_SECRET_PATH,
    CONTAINER_SECRETS_DIR,
    DecoderLauncherResource,
)
from astrabot_pipeline.defs.resources.io_manager import AstrabotIOManager
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.history_origin import is_generated_demo_history
from astrabot_pipeline.settings import ACI_FILE_ENV, DESKTOP_KEY_FILE_ENV, PASSPHRASE_FILE_ENV
from astrabot_pipeline.signal.discovery import content_sha256
from astrabot_pipeline.signal.pipes_entry import PIPES_ENTRY_MODULE
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup
from astrabot_pipeline_tests.conftest import PROJECT_ROOT

WRONG = "999998888877777666665555544444"


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_backup(tmp_path_factory.mktemp("backups"), n_messages=300, seed=3)


def materialize(demo, data_dir: Path, passphrase: str, **decoder: str):
    instance = dg.DagsterInstance.ephemeral()
    resources = {
        "signal": SignalBackupResource(backup_dir=str(demo.path.parent), passphrase=passphrase),
        "paths": AstrabotPathsResource(data_dir=str(data_dir)),
        "decoder": DecoderLauncherResource(**decoder),
        "io_manager": AstrabotIOManager(base_dir=str(data_dir)),
    }
    result = dg.materialize(
        [decoded_backup], resources=resources, instance=instance, raise_on_error=False
    )
    event_log = "\n".join(repr(entry) for entry in instance.all_logs(result.run_id))
    return result, event_log


def test_decoded_backup_materializes_through_the_pipes_subprocess(
    demo, tmp_path, secrets_dir, monkeypatch, capfd
):
    # A wrong passphrase in the parent's environment: the decoder must use the secret file.
    monkeypatch.setenv("SIGNAL_BACKUP_PASSPHRASE", WRONG)
    result, event_log = materialize(demo, tmp_path / "data", DEMO_PASSPHRASE)
    assert result.success
    tables = result.output_for_node("decoded_backup")
    assert len(tables["messages"]) == demo.message_count
    assert int(tables["recipients"]["is_self"].sum()) == 1
    assert (tmp_path / "data" / "assets" / "decoded_backup" / "messages.parquet").is_file()
    assert (tmp_path / "data" / "decoded" / "latest" / "signal.sqlite").is_file()

    metadata = result.asset_materializations_for_node("decoded_backup")[0].metadata
    assert metadata["rows_messages"].value == demo.message_count
    assert metadata["backup_version"].value == 1
    assert metadata["database_version"].value > 0
    assert metadata["frames"].value > 0
    assert metadata["backup_sha256"].value == content_sha256(demo.path)
    assert metadata["seconds"].value >= 0
    # The demo generator's backup is recorded as the generated demo (history_origin.py).
    assert metadata["generated_demo"].value is True
    assert is_generated_demo_history(tmp_path / "data")
    checks = result.get_asset_check_evaluations()
    assert [check.passed for check in checks] == [True]

    assert "[pipes] external process successfully opened" in event_log
    captured = capfd.readouterr()
    assert DEMO_PASSPHRASE not in event_log + captured.out + captured.err + repr(metadata)
    assert list(secrets_dir.iterdir()) == []


def test_a_wrong_passphrase_fails_the_materialization_with_the_decoders_message(
    demo, tmp_path, secrets_dir, capfd
):
    result, event_log = materialize(demo, tmp_path / "data", WRONG)
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    message = failure.step_failure_data.error.message
    assert "WrongPassphraseError" in message and "passphrase is wrong" in message
    assert "SIGNAL_BACKUP_PASSPHRASE" in message  # says what to do next
    assert "Traceback" not in message
    assert not (tmp_path / "data" / "decoded" / "latest").exists()
    captured = capfd.readouterr()
    assert WRONG not in event_log + captured.out + captured.err
    assert list(secrets_dir.iterdir()) == []


class FakeContainer:
    """Plays the container: runs the entry point on this machine with the container's
    environment, the bind mounts mapped back to host paths, and streams its stderr as logs."""

    def __init__(self, kwargs: dict) -> None:
        self.kwargs = kwargs
        self.returncode: int | None = None
        self.secret_seen: tuple[int, str] | None = None
        self.secrets_seen: dict[str, tuple[int, str]] = {}

    def _host_path(self, container_path: str) -> str:
        for host, bind in self.kwargs["volumes"].items():
            inside = bind["bind"]
            if container_path == inside or container_path.startswith(inside + "/"):
                return host + container_path[len(inside) :]
        raise AssertionError(f"{container_path} is not inside any bind mount")

    def start(self) -> None:
        self.secrets_seen = {}
        for host, bind in self.kwargs["volumes"].items():
            if bind["bind"].startswith(CONTAINER_SECRETS_DIR + "/"):
                secret = Path(host)
                self.secrets_seen[bind["bind"]] = (
                    stat.S_IMODE(secret.stat().st_mode),
                    secret.read_text(),
                )
        self.secret_seen = self.secrets_seen.get(CONTAINER_SECRET_PATH)

    def logs(self, **_: object):
        env = dict(self.kwargs["environment"])
        context = decode_param(env[DAGSTER_PIPES_CONTEXT_ENV_VAR])
        extras = context["data"]["extras"]
        for key in ("backup_path", "out_dir"):
            extras[key] = self._host_path(extras[key])
        env[DAGSTER_PIPES_CONTEXT_ENV_VAR] = encode_param(context)
        for file_env in (PASSPHRASE_FILE_ENV, ACI_FILE_ENV, DESKTOP_KEY_FILE_ENV):
            if file_env in env:
                env[file_env] = self._host_path(env[file_env])
        command = [sys.executable, *self.kwargs["command"]]
        assert self.kwargs["entrypoint"] == ["python"]
        done = subprocess.run(
            command,
            env={"PATH": os.environ["PATH"], **env},
            capture_output=True,
            text=True,
            timeout=120,
        )
        self.returncode = done.returncode
        yield from (line.encode() for line in done.stderr.splitlines(keepends=True))

    def wait(self) -> dict:
        return {"StatusCode": self.returncode}

    def stop(self) -> None:
        pass


class FakeDockerClient:
    def __init__(self) -> None:
        self.containers = self
        self.created: list[FakeContainer] = []

    def create(self, **kwargs) -> FakeContainer:
        self.created.append(FakeContainer(kwargs))
        return self.created[-1]


@pytest.fixture
def docker_client(monkeypatch) -> FakeDockerClient:
    import docker.client

    client = FakeDockerClient()
    monkeypatch.setattr(docker.client, "from_env", lambda *a, **k: client)
    return client


def test_the_docker_launcher_mounts_the_secret_read_only_and_never_puts_it_in_the_env(
    demo, tmp_path, secrets_dir, docker_client
):
    data_dir = tmp_path / "data"
    result, event_log = materialize(
        demo, data_dir, DEMO_PASSPHRASE, launcher="docker", image="astrabot-decoder:test"
    )
    assert result.success
    (container,) = docker_client.created
    spec = container.kwargs
    assert spec["image"] == "astrabot-decoder:test"
    assert spec["entrypoint"] + spec["command"] == ["python", "-m", PIPES_ENTRY_MODULE]
    volumes = spec["volumes"]
    assert volumes[str(demo.path.parent)] == {"bind": "/input", "mode": "ro"}
    assert volumes[str(data_dir / "decoded")] == {"bind": "/output", "mode": "rw"}
    (secret,) = [host for host, bind in volumes.items() if bind["bind"] == CONTAINER_SECRET_PATH]
    assert volumes[secret]["mode"] == "ro"
    # Only the secrets that are set are mounted (no Desktop key, no ACI here).
    assert {bind["bind"] for bind in volumes.values()} == {
        "/input",
        "/output",
        CONTAINER_SECRET_PATH,
    }
    assert Path(secret).parent == secrets_dir
    assert spec["environment"][PASSPHRASE_FILE_ENV] == CONTAINER_SECRET_PATH
    assert DEMO_PASSPHRASE not in spec["environment"].values()
    assert all(DEMO_PASSPHRASE not in value for value in spec["environment"].values())
    assert DEMO_PASSPHRASE not in repr({k: v for k, v in spec.items() if k != "environment"})
    assert spec["network_disabled"] is True

    assert container.secret_seen == (0o600, DEMO_PASSPHRASE)  # present while it ran...
    assert not Path(secret).exists()  # ...and removed afterwards
    assert list(secrets_dir.iterdir()) == []
    tables = result.output_for_node("decoded_backup")
    assert len(tables["messages"]) == demo.message_count
    metadata = result.asset_materializations_for_node("decoded_backup")[0].metadata
    assert metadata["rows_messages"].value == demo.message_count
    assert DEMO_PASSPHRASE not in event_log


def test_the_docker_launcher_reports_the_decoders_error_and_removes_the_secret(
    demo, tmp_path, secrets_dir, docker_client
):
    result, event_log = materialize(demo, tmp_path / "data", WRONG, launcher="docker")
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    assert "passphrase is wrong" in failure.step_failure_data.error.message
    assert list(secrets_dir.iterdir()) == []
    assert WRONG not in event_log


def _decoder_image_copy(root: Path) -> Path:
    """Copy what docker/decoder/Dockerfile copies into `root`, laid out as in the image."""
    dockerfile = (PROJECT_ROOT / "docker" / "decoder" / "Dockerfile").read_text()
    for line in re.findall(r"^COPY (.+)$", dockerfile, re.MULTILINE):
        *sources, target = line.split()
        for source in sources:
            origin = PROJECT_ROOT / source
            destination = root / target / (origin.name if target.endswith("/") else "")
            if origin.is_dir():
                shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(origin, destination)
    return root


def _loaded_from_the_image(image: Path, script: str, *args: str) -> dict:
    """Run `script` (sys.argv[2:] are `args`) with only `image` ahead of the libraries: which
    of our modules it loaded, which came from outside the image, which heavy libraries."""
    probe = "\n".join(
        [
            "import json, sys",
            "sys.path.insert(0, sys.argv[1])",
            script,
            "mods = {m: getattr(sys.modules[m], '__file__', None) or '' for m in sys.modules}",
            "ours = [m for m in mods if m.startswith('astrabot_pipeline')]",
            "outside = [m for m in ours if not mods[m].startswith(sys.argv[1])]",
            "heavy = [m for m in ('dagster', 'torch', 'presidio_analyzer') if m in mods]",
            "print(json.dumps({'ours': ours, 'outside': outside, 'heavy': heavy}))",
        ]
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(image), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": ""},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


def test_the_decoder_image_holds_every_module_the_pipes_entry_point_imports(tmp_path):
    """Copy what docker/decoder/Dockerfile copies, and import the entry point from there alone."""
    loaded = _loaded_from_the_image(_decoder_image_copy(tmp_path), f"import {PIPES_ENTRY_MODULE}")
    assert PIPES_ENTRY_MODULE in loaded["ours"]
    assert loaded["outside"] == [], "imported from outside the image"
    assert loaded["heavy"] == []


def test_the_decoder_images_command_line_decodes_and_inspects_from_the_image_alone(
    tmp_path, demo, monkeypatch
):
    """The image's entry point is `python -m astrabot_pipeline.cli`: its help, `decode` and
    `inspect` must load only what the Dockerfile copies (and nothing heavy)."""
    image = _decoder_image_copy(tmp_path / "image")
    monkeypatch.setenv("SIGNAL_BACKUP_PASSPHRASE", DEMO_PASSPHRASE)
    run_cli = "\n".join(
        [
            "import contextlib, io",
            "from astrabot_pipeline.cli import main",
            "backup, out = sys.argv[2:]",
            "assert main(['decode', '--no-attachments', backup, '--out', out]) == 0",
            "assert main(['inspect', backup]) == 0",
            "shown = io.StringIO()",
            "with contextlib.redirect_stdout(shown), contextlib.suppress(SystemExit):",
            "    main(['--help'])",
            "assert 'decode' in shown.getvalue()",
        ]
    )
    loaded = _loaded_from_the_image(image, run_cli, str(demo.path), str(tmp_path / "out"))
    assert "astrabot_pipeline.cli" in loaded["ours"]
    assert loaded["outside"] == [], "imported from outside the image"
    assert loaded["heavy"] == []
    assert (tmp_path / "out" / "tables" / "messages.parquet").is_file()


def test_a_plain_database_input_materializes_without_any_passphrase(tmp_path, secrets_dir):
    from types import SimpleNamespace

    from astrabot_pipeline.synthetic.corpus import generate_corpus
    from astrabot_pipeline.synthetic.signal_db import write_signal_database

    backups = tmp_path / "backups"
    backups.mkdir()
    database = write_signal_database(
        generate_corpus(n_messages=200, seed=5), backups / "plain.sqlite"
    )
    result, _ = materialize(SimpleNamespace(path=database.path), tmp_path / "data", None)
    assert result.success
    assert len(result.output_for_node("decoded_backup")["messages"]) == 200
    assert list(secrets_dir.iterdir()) == []


def test_an_encrypted_desktop_database_materializes_with_its_key_from_a_secret_file(
    tmp_path, secrets_dir, capfd
):
    import secrets

    from astrabot_pipeline_tests.integration.test_plain_inputs import build_desktop_db

    sqlcipher3 = pytest.importorskip("sqlcipher3")
    key = secrets.token_bytes(32).hex()
    backups = tmp_path / "backups"
    backups.mkdir()
    build_desktop_db(backups / "db.sqlite", sqlcipher3.connect, key)
    instance = dg.DagsterInstance.ephemeral()
    resources = {
        "signal": SignalBackupResource(backup_dir=str(backups), desktop_key=key),
        "paths": AstrabotPathsResource(data_dir=str(tmp_path / "data")),
        "decoder": DecoderLauncherResource(),
        "io_manager": AstrabotIOManager(base_dir=str(tmp_path / "data")),
    }
    result = dg.materialize([decoded_backup], resources=resources, instance=instance)
    assert result.success
    assert len(result.output_for_node("decoded_backup")["messages"]) > 0
    event_log = "\n".join(repr(entry) for entry in instance.all_logs(result.run_id))
    captured = capfd.readouterr()
    assert key not in event_log + captured.out + captured.err
    assert list(secrets_dir.iterdir()) == []
