"""The Docker deployment (`docker/`), checked offline: the instance config resolves its run
launcher, the compose file keeps the rules (secrets as read-only files, the socket only
on the daemon, the web server on loopback only, a required Postgres password with a
healthcheck), every file a Dockerfile copies exists, and the decoder image holds
everything the Pipes entry point imports and installs every library its modules import. Engine tests carry the `docker` marker."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from dagster._core.instance.config import dagster_instance_config
from dagster._serdes.config_class import ConfigurableClassData

from astrabot_pipeline.signal.pipes_entry import PIPES_ENTRY_MODULE

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
SECRET_VARIABLES = ("ASTRABOT_PASSPHRASE_FILE", "ASTRABOT_ACI_FILE", "ASTRABOT_DESKTOP_KEY_FILE")


def _instance_yaml() -> dict:
    return yaml.safe_load((DOCKER / "dagster.yaml").read_text())


def _compose() -> dict:
    return yaml.safe_load((DOCKER / "docker-compose.yml").read_text())


def test_the_instance_config_is_valid_and_resolves_the_docker_run_launcher(monkeypatch):
    from dagster_docker import DockerRunLauncher

    for name in ("DAGSTER_POSTGRES_USER", "DAGSTER_POSTGRES_PASSWORD", "DAGSTER_POSTGRES_DB"):
        monkeypatch.setenv(name, "checked-offline")
    config, _ = dagster_instance_config(str(DOCKER))  # validates against Dagster's schema
    launcher_config = config["run_launcher"]
    launcher = ConfigurableClassData(
        launcher_config["module"],
        launcher_config["class"],
        yaml.safe_dump(launcher_config["config"]),
    ).rehydrate(as_type=DockerRunLauncher)
    assert isinstance(launcher, DockerRunLauncher)
    kwargs = launcher.container_kwargs
    assert {"driver": "nvidia", "count": -1, "capabilities": [["gpu"]]} in kwargs["device_requests"]
    assert kwargs["auto_remove"] is True and kwargs["labels"]["com.astrabot.deployment"]
    assert "astrabot-secrets:/run/astrabot-secrets:ro" in kwargs["volumes"]
    env = dict(item.partition("=")[::2] for item in launcher.env_vars)
    assert all(env[name].startswith("/run/astrabot-secrets/") for name in SECRET_VARIABLES)
    assert not {"SIGNAL_BACKUP_PASSPHRASE", "SIGNAL_ACI", "SIGNAL_DESKTOP_KEY"} & set(env)
    assert config["run_retries"]["retry_on_asset_or_op_failure"] is False


def test_compose_keeps_secrets_in_files_and_the_socket_on_the_daemon_only():
    compose = _compose()
    services = compose["services"]
    raw = (DOCKER / "docker-compose.yml").read_text()
    assert "change-me" not in raw
    assert re.search(r"DAGSTER_POSTGRES_PASSWORD:\?", raw), "the password must be required"
    for name, service in services.items():
        mounts = [str(m) for m in service.get("volumes", [])]
        has_socket = any("/var/run/docker.sock" in m for m in mounts)
        assert has_socket == (name == "daemon"), name
        environment = service.get("environment", {})
        assert not {"SIGNAL_BACKUP_PASSPHRASE", "SIGNAL_ACI", "SIGNAL_DESKTOP_KEY"} & set(
            environment
        ), name
        assert service.get("labels"), f"{name} is not labelled"
    assert services["webserver"]["ports"] == ["127.0.0.1:3000:3000"]
    assert "healthcheck" in services["postgres"]
    assert services["daemon"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert set(compose["secrets"]) == {"passphrase", "aci", "desktop_key"}
    init = services["secrets-init"]
    assert set(init["secrets"]) == set(compose["secrets"])
    assert "chmod 400" in " ".join(init["entrypoint"])
    launcher_volumes = _instance_yaml()["run_launcher"]["config"]["container_kwargs"]["volumes"]
    named = {m.split(":")[0] for m in launcher_volumes}
    assert named <= set(compose["volumes"])  # run containers mount volumes compose makes
    assert {v.get("name") for v in compose["volumes"].values() if v} >= named


def test_every_process_of_the_user_code_image_starts_under_umask_077():
    """Dagster writes its compute logs and local files with the process umask: the image's
    entry point sets 077 and then runs the command, and nothing overrides it (compose's
    services give a command; the run launcher starts containers with a command too)."""
    dockerfile = (DOCKER / "Dockerfile").read_text()
    entrypoint = re.search(r"^ENTRYPOINT (\[.*\])$", dockerfile, re.MULTILINE)
    assert entrypoint is not None
    assert yaml.safe_load(entrypoint.group(1)) == ["/usr/local/bin/astrabot-entrypoint"]
    assert "docker/entrypoint.sh /usr/local/bin/astrabot-entrypoint" in dockerfile
    for name, service in _compose()["services"].items():
        if service.get("image") == "astrabot-user-code" and name != "secrets-init":
            assert "entrypoint" not in service, name
    assert _compose()["services"]["secrets-init"]["entrypoint"][-1].startswith("umask 077")
    launched = _instance_yaml()["run_launcher"]["config"]["container_kwargs"]
    assert "entrypoint" not in launched
    umask = subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "sh", "-c", "umask"],
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    )
    assert umask.stdout.strip() == "0077"


def _copies(dockerfile: Path) -> list[str]:
    sources = []
    for line in dockerfile.read_text().splitlines():
        parts = line.split()
        if parts[:1] == ["COPY"] and not any(p.startswith("--from") for p in parts):
            sources += [p for p in parts[1:-1] if not p.startswith("--")]
    return sources


@pytest.mark.parametrize("dockerfile", ["docker/Dockerfile", "docker/decoder/Dockerfile"])
def test_every_file_a_dockerfile_copies_exists(dockerfile):
    sources = _copies(ROOT / dockerfile)
    assert sources
    missing = [source for source in sources if not (ROOT / source).exists()]
    assert missing == []


def test_the_user_code_image_keeps_the_project_file_beside_the_package():
    """`definitions.py` finds the `defs/` modules through pyproject.toml's [tool.dg]: the
    image copies it next to the package and installs in place (a plain `pip install .`
    would load the code from site-packages, where no project file is found)."""
    dockerfile = (DOCKER / "Dockerfile").read_text()
    assert "pyproject.toml" in _copies(DOCKER / "Dockerfile")
    assert re.search(r"pip install -e \.(\s|$)", dockerfile)
    assert not re.search(r"pip install \.(\s|$)", dockerfile)


def test_the_decoder_image_holds_every_module_the_pipes_entry_point_imports():
    """The Docker launcher runs `python -m <PIPES_ENTRY_MODULE>` in the decoder image (the
    subprocess launcher runs the same module): everything of ours it imports must be copied."""
    copied = [ROOT / source for source in _copies(DOCKER / "decoder" / "Dockerfile")]
    probe = (
        f"import sys, {PIPES_ENTRY_MODULE}\n"
        "print('\\n'.join(m.__file__ for n, m in list(sys.modules.items())\n"
        "    if n.startswith('astrabot_pipeline') and getattr(m, '__file__', None)))"
    )
    files = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout.split()
    assert any(f.endswith("pipes_entry.py") for f in files)
    outside = [
        f
        for f in files
        if not any(Path(f) == c or Path(f).is_relative_to(c) for c in copied if c.exists())
    ]
    assert outside == []


# Import names whose distribution is named otherwise.
_DISTRIBUTION_OF = {"google": "protobuf", "dagster_pipes": "dagster-pipes"}


def _module_level_imports(path: Path) -> set[str]:
    """Top-level names of what `path` imports when loaded (not inside functions)."""
    names = set()
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and not node.level and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_decoder_image_installs_every_package_its_modules_import():
    """`astrabot decode` in the image loads cli/ and signal/: each library they import at
    module level must be in the image's `pip install` (the image has no pyproject install)."""
    dockerfile = (DOCKER / "decoder" / "Dockerfile").read_text()
    installed = set(re.findall(r'"([A-Za-z0-9_.\-]+)[<>=!~]', dockerfile))
    copied = [ROOT / source for source in _copies(DOCKER / "decoder" / "Dockerfile")]
    files = [f for c in copied for f in ([c] if c.is_file() else sorted(c.rglob("*.py")))]
    imported = set().union(*(_module_level_imports(f) for f in files))
    libraries = imported - set(sys.stdlib_module_names) - {"astrabot_pipeline"}
    assert "pandas" in libraries
    assert {_DISTRIBUTION_OF.get(name, name) for name in libraries} - installed == set()


def _compose_command() -> list[str] | None:
    """`docker compose` (the plugin) or Debian's `docker-compose`; no engine needed."""
    if shutil.which("docker") and (
        subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0
    ):
        return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(_compose_command() is None, reason="neither docker compose nor docker-compose")
def test_compose_accepts_the_file_and_requires_the_postgres_password():
    command = [*_compose_command(), "-f", str(DOCKER / "docker-compose.yml"), "config", "--quiet"]
    base = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(ROOT)}
    accepted = subprocess.run(
        command, capture_output=True, text=True, env={**base, "DAGSTER_POSTGRES_PASSWORD": "x"}
    )
    assert accepted.returncode == 0, accepted.stderr[-2000:]
    refused = subprocess.run(command, capture_output=True, text=True, env=base)
    assert refused.returncode != 0 and "DAGSTER_POSTGRES_PASSWORD" in refused.stderr


@pytest.mark.docker
@pytest.mark.skipif(shutil.which("docker") is None, reason="no Docker engine on this machine")
def test_the_decoder_image_builds_and_answers_help():
    """Engine test (the GitHub workflow's docker job): build the decoder image, run it."""
    info = subprocess.run(["docker", "info"], capture_output=True)
    if info.returncode != 0:
        pytest.skip("the docker CLI is here but no engine answers")
    tag = "astrabot-decoder:test"
    subprocess.run(
        ["docker", "build", "-f", "docker/decoder/Dockerfile", "-t", tag, "."],
        cwd=ROOT,
        check=True,
    )
    result = subprocess.run(
        ["docker", "run", "--rm", tag, "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0 and "decode" in result.stdout
