"""Every input kind, and every secret it needs, through the Dagster path.

`decoded_backup` is materialized in-process with the resources `pipeline_resources()` binds
from the environment (what `dagster asset materialize` gets) and the real subprocess
launcher; secrets are exported the way a user exports them. Issue #8 item 11: the launcher
used to blank SIGNAL_ACI and SIGNAL_DESKTOP_KEY in the decoder's environment, so a bare
backup-v2 `main` file failed with MissingAciError under Dagster while the CLI decoded it.
"""

from __future__ import annotations

import json
import secrets
import shutil
import stat
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from astrabot_pipeline import settings
from astrabot_pipeline.defs.ingest import decoded_backup
from astrabot_pipeline.defs.resources import pipeline_resources
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.defs.resources.decoder import (
    CONTAINER_ACI_PATH,
    CONTAINER_DESKTOP_KEY_PATH,
    CONTAINER_SECRET_PATH,
    DecoderLauncherResource,
)
from astrabot_pipeline.defs.resources.io_manager import AstrabotIOManager
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.errors import UnreadableSecretFileError
from astrabot_pipeline.signal.backup_v2 import jsonl
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup
from astrabot_pipeline.synthetic.corpus import generate_corpus
from astrabot_pipeline.synthetic.signal_db import write_signal_database
from astrabot_pipeline_tests.conftest import SHARED_DIR
from astrabot_pipeline_tests.integration.test_decoder_launcher import FakeDockerClient
from astrabot_pipeline_tests.integration.test_plain_inputs import (
    NEW_ERA_TABLES,
    build_desktop_db,
    export_csv,
)

SHARED_V2 = SHARED_DIR / "fixtures" / "backup-v2"
RECOVERY_KEY = "m" * 64  # libsignal's test recovery key for its backup-v2 test cases
ACI = "11111111-1111-1111-1111-111111111111"
DESKTOP_KEY = secrets.token_bytes(32).hex()
N_MESSAGES = 60
SECRET_VARIABLES = [
    name for pair in settings.SECRET_VARIABLES.values() for name in pair
]  # value and file variables of every secret


def needs_shared_v2() -> None:
    if not SHARED_V2.is_dir():
        pytest.skip(f"libsignal backup-v2 fixtures absent ({SHARED_V2})")


def legacy_backup(folder: Path) -> dict[str, str]:
    write_demo_backup(folder, n_messages=N_MESSAGES, seed=8)
    return {settings.PASSPHRASE_ENV: DEMO_PASSPHRASE}


def backup_v2_main(folder: Path) -> dict[str, str]:
    """libsignal's `legacy-account` case as a bare `main` file: recovery key and ACI needed."""
    needs_shared_v2()
    shutil.copy(SHARED_V2 / "legacy-account.binproto.encrypted", folder / "main")
    return {settings.PASSPHRASE_ENV: RECOVERY_KEY, settings.ACI_ENV: ACI}


def plaintext_export_zip(folder: Path) -> dict[str, str]:
    needs_shared_v2()
    source = SHARED_V2 / "jsonproto" / "incoming-message-with-edits.jsonproto"
    objects = json.loads(jsonl.strip_json_comments(source.read_text()))
    with zipfile.ZipFile(folder / "signal-export.zip", "w") as archive:
        archive.writestr("metadata.json", "{}")
        archive.writestr("main.jsonl", "\n".join(json.dumps(o) for o in objects) + "\n")
    return {}


def desktop_database(folder: Path) -> dict[str, str]:
    sqlcipher3 = pytest.importorskip("sqlcipher3")
    build_desktop_db(folder / "db.sqlite", sqlcipher3.connect, DESKTOP_KEY)
    return {settings.DESKTOP_KEY_ENV: DESKTOP_KEY}


def plain_sqlite(folder: Path) -> dict[str, str]:
    write_signal_database(generate_corpus(n_messages=N_MESSAGES, seed=8), folder / "plain.sqlite")
    return {}


def csv_export(folder: Path) -> dict[str, str]:
    scratch = Path(tempfile.mkdtemp(dir=folder.parent))
    database = write_signal_database(
        generate_corpus(n_messages=N_MESSAGES, seed=8), scratch / "plain.sqlite"
    )
    export_csv(database.path, folder / "signal-csv", NEW_ERA_TABLES)
    return {}


INPUT_KINDS: dict[str, Callable[[Path], dict[str, str]]] = {
    "legacy_backup": legacy_backup,
    "backup_v2_main": backup_v2_main,
    "plaintext_export_zip": plaintext_export_zip,
    "desktop_sqlcipher": desktop_database,
    "plain_sqlite": plain_sqlite,
    "csv_export": csv_export,
}


def assert_decoded(kind: str, tables: dict) -> None:
    """The owner identified, and chat messages decoded (libsignal's `legacy-account` case
    holds an account and a chat but no message: its owner's ACI is the proof)."""
    recipients = tables["recipients"]
    assert int(recipients["is_self"].sum()) == 1
    if kind == "backup_v2_main":
        assert recipients.loc[recipients["is_self"], "aci"].tolist() == [ACI]
    else:
        assert len(tables["messages"]) > 0


@pytest.fixture
def environment(tmp_path, monkeypatch) -> Callable[[dict[str, str]], Path]:
    """Set the user's environment: data and backup folders plus `exported` secrets (every
    other secret variable unset); returns the backup folder."""
    backups = tmp_path / "backups"
    backups.mkdir()

    def export(exported: dict[str, str]) -> Path:
        for name in SECRET_VARIABLES:
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv(settings.DATA_DIR_ENV, str(tmp_path / "data"))
        monkeypatch.setenv(settings.BACKUP_DIR_ENV, str(backups))
        monkeypatch.delenv(settings.DECODER_LAUNCHER_ENV, raising=False)
        for name, value in exported.items():
            monkeypatch.setenv(name, value)
        return backups

    return export


def materialize(resources: dict) -> tuple[dg.ExecuteInProcessResult, str]:
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [decoded_backup], resources=resources, instance=instance, raise_on_error=False
    )
    event_log = "\n".join(repr(entry) for entry in instance.all_logs(result.run_id))
    return result, event_log


def step_failure(result: dg.ExecuteInProcessResult) -> str:
    return next(e for e in result.all_events if e.is_step_failure).step_failure_data.error.message


@pytest.mark.parametrize("kind", list(INPUT_KINDS))
def test_every_input_kind_decodes_under_dagster_with_the_secrets_the_user_exported(
    kind, tmp_path, environment, secrets_dir, capfd
):
    backups = environment({})
    exported = INPUT_KINDS[kind](backups)
    environment(exported)
    started = time.monotonic()
    result, event_log = materialize(pipeline_resources())
    assert result.success, step_failure(result)
    assert time.monotonic() - started < 20
    assert_decoded(kind, result.output_for_node("decoded_backup"))
    captured = capfd.readouterr()
    for value in exported.values():
        assert value not in event_log + captured.out + captured.err
    assert list(secrets_dir.iterdir()) == []  # every secret file removed
    assert sorted(p.name for p in (tmp_path / "data" / "decoded").iterdir()) == ["latest"]


def test_pipeline_resources_bind_every_exported_secret_as_an_env_var(environment):
    environment({settings.PASSPHRASE_ENV: RECOVERY_KEY, settings.ACI_ENV: ACI})
    signal = pipeline_resources()["signal"]
    assert signal.passphrase == dg.EnvVar(settings.PASSPHRASE_ENV)
    assert signal.aci == dg.EnvVar(settings.ACI_ENV)
    assert signal.desktop_key is None  # not exported: not bound (plain inputs need none)
    environment({settings.DESKTOP_KEY_ENV: DESKTOP_KEY})
    assert pipeline_resources()["signal"].desktop_key == dg.EnvVar(settings.DESKTOP_KEY_ENV)


def _hand_built(backups: Path, data_dir: Path, **decoder: str) -> dict:
    """Resources as a user's own Definitions might build them, with no secret configured."""
    return {
        "signal": SignalBackupResource(backup_dir=str(backups)),
        "paths": AstrabotPathsResource(data_dir=str(data_dir)),
        "decoder": DecoderLauncherResource(**decoder),
        "io_manager": AstrabotIOManager(base_dir=str(data_dir)),
    }


def test_an_exported_aci_is_not_overridden_when_the_resource_has_none(
    tmp_path, environment, secrets_dir
):
    backups = environment({})
    environment(backup_v2_main(backups))
    result, _ = materialize(_hand_built(backups, tmp_path / "data"))
    assert result.success, step_failure(result)
    assert list(secrets_dir.iterdir()) == []


def test_secrets_named_by_file_variables_reach_the_decoder(tmp_path, environment, secrets_dir):
    backups = environment({})
    exported = backup_v2_main(backups)
    files = {}
    for value_env, file_env in settings.SECRET_VARIABLES.values():
        if value_env in exported:
            path = tmp_path / f"{value_env.lower()}.txt"
            path.write_text(exported[value_env] + "\n")
            files[file_env] = str(path)
    environment(files)
    result, event_log = materialize(pipeline_resources())
    assert result.success, step_failure(result)
    assert RECOVERY_KEY not in event_log


def test_an_unreadable_secret_file_fails_with_a_typed_message_naming_the_variable(
    tmp_path, environment, secrets_dir
):
    backups = environment({})
    legacy_backup(backups)
    environment({settings.PASSPHRASE_FILE_ENV: str(tmp_path / "absent")})
    result, _ = materialize(pipeline_resources())
    assert not result.success
    message = step_failure(result)
    assert "UnreadableSecretFileError" in message and settings.PASSPHRASE_FILE_ENV in message
    assert "Traceback" not in message


@pytest.fixture
def docker_client(monkeypatch) -> FakeDockerClient:
    import docker.client

    client = FakeDockerClient()
    monkeypatch.setattr(docker.client, "from_env", lambda *a, **k: client)
    return client


@pytest.mark.parametrize(
    ("kind", "mounted"),
    [
        ("backup_v2_main", {CONTAINER_SECRET_PATH, CONTAINER_ACI_PATH}),
        ("desktop_sqlcipher", {CONTAINER_DESKTOP_KEY_PATH}),
    ],
)
def test_the_docker_launcher_hands_aci_and_desktop_key_over_as_mounted_files(
    kind, mounted, tmp_path, environment, secrets_dir, docker_client
):
    backups = environment({})
    exported = INPUT_KINDS[kind](backups)
    environment({**exported, settings.DECODER_LAUNCHER_ENV: "docker"})
    result, event_log = materialize(pipeline_resources())
    assert result.success, step_failure(result)
    (container,) = docker_client.created
    spec = container.kwargs
    secret_mounts = {
        bind["bind"]: host
        for host, bind in spec["volumes"].items()
        if bind["bind"].startswith("/run/secrets/")
    }
    assert set(secret_mounts) == mounted
    assert all(spec["volumes"][host]["mode"] == "ro" for host in secret_mounts.values())
    # The environment names the files, never a value.
    file_envs = {
        file_env
        for value_env, file_env in settings.SECRET_VARIABLES.values()
        if value_env in exported
    }
    assert {k: v for k, v in spec["environment"].items() if k.startswith("ASTRABOT_")} == {
        file_env: inside
        for file_env, inside in zip(
            (settings.PASSPHRASE_FILE_ENV, settings.ACI_FILE_ENV, settings.DESKTOP_KEY_FILE_ENV),
            (CONTAINER_SECRET_PATH, CONTAINER_ACI_PATH, CONTAINER_DESKTOP_KEY_PATH),
            strict=True,
        )
        if file_env in file_envs
    }
    for value in exported.values():
        assert all(value not in str(v) for v in spec["environment"].values())
        assert value not in repr({k: v for k, v in spec.items() if k != "environment"})
        assert value not in event_log
    # Each file was private and held its secret while the container ran, and is gone now.
    values = {
        CONTAINER_SECRET_PATH: exported.get(settings.PASSPHRASE_ENV),
        CONTAINER_ACI_PATH: exported.get(settings.ACI_ENV),
        CONTAINER_DESKTOP_KEY_PATH: exported.get(settings.DESKTOP_KEY_ENV),
    }
    assert container.secrets_seen == {inside: (0o600, values[inside]) for inside in mounted}
    assert list(secrets_dir.iterdir()) == []
    assert_decoded(kind, result.output_for_node("decoded_backup"))


def test_read_secrets_prefers_the_named_file_and_hides_values_in_its_repr(tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text(f"  {RECOVERY_KEY}\n")
    key_file.chmod(stat.S_IRUSR)
    found = settings.read_secrets(
        {
            settings.PASSPHRASE_ENV: DEMO_PASSPHRASE,
            settings.PASSPHRASE_FILE_ENV: str(key_file),
            settings.ACI_ENV: ACI,
            settings.DESKTOP_KEY_ENV: "",
        }
    )
    assert found == settings.Secrets(passphrase=RECOVERY_KEY, aci=ACI, desktop_key=None)
    assert repr(found) == "Secrets(passphrase=set, aci=set, desktop_key=unset)"
    assert RECOVERY_KEY not in str(found) and ACI not in str(found)
    with pytest.raises(UnreadableSecretFileError, match=settings.ACI_FILE_ENV) as raised:
        settings.read_secrets({settings.ACI_FILE_ENV: str(tmp_path / "absent")})
    assert isinstance(raised.value, OSError) and "absent" not in str(raised.value)


def test_a_passphrase_typed_into_run_config_is_refused_and_never_used(
    tmp_path, environment, secrets_dir
):
    """Run config (the launchpad, `--config`) is stored with the run: a secret there is
    refused with where it belongs, even when the environment has none."""
    backups = environment({})
    legacy_backup(backups)
    typed = "typed into the launchpad 123"
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        [decoded_backup],
        resources=pipeline_resources(),
        instance=instance,
        raise_on_error=False,
        run_config={
            "resources": {"signal": {"config": {"backup_dir": str(backups), "passphrase": typed}}}
        },
    )
    assert not result.success
    message = step_failure(result)
    assert "passphrase was given in run config" in message
    assert settings.PASSPHRASE_ENV in message and typed not in message
    assert not (tmp_path / "data" / "decoded" / "latest").exists()
    assert list(secrets_dir.iterdir()) == []
