"""The Dagster UI as a person sees it: `dagster-webserver` started alone on a loopback port
shows every asset, group and check the definitions hold, observes the backup when asked
through its API, and draws the asset lineage in a real (headless) browser.

The expected names come from the definitions themselves, so a new asset or check is
looked for without editing this file. The screenshot lands in test-results/ui/, which CI
keeps as an artifact.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from astrabot_pipeline import definitions, ui_check
from astrabot_pipeline.defs.automation import backup_observation_job
from astrabot_pipeline.signal.discovery import content_sha256
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE
from astrabot_pipeline.ui_check import (
    UiCheckError,
    Webserver,
    find_browser,
    running_webserver,
    screenshot_lineage,
)
from astrabot_pipeline_tests.conftest import PROJECT_ROOT

SCREENSHOT = PROJECT_ROOT / "test-results" / "ui" / "asset-lineage.png"
RUN_SECONDS = 120  # an observation run: a process start and one sha256 of a small file
DEMO_MESSAGES = 300  # the observation only hashes the file: a small one will do

ASSET_NODES_QUERY = """{ assetNodes {
  assetKey { path } groupName
  assetChecksOrError { __typename ... on AssetChecks { checks { name } } } } }"""
LAUNCH_RUN_MUTATION = """mutation($params: ExecutionParams!) {
  launchRun(executionParams: $params) {
    __typename
    ... on LaunchRunSuccess { run { runId } }
    ... on PythonError { message }
    ... on InvalidSubsetError { message }
    ... on RunConfigValidationInvalid { errors { message } } } }"""
RUN_STATUS_QUERY = """query($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { status } } }"""
RUN_LOGS_QUERY = """query($runId: ID!) {
  logsForRun(runId: $runId) { __typename
    ... on EventConnection { events { __typename ... on MessageEvent { message } } } } }"""
OBSERVATIONS_QUERY = """{ assetOrError(assetKey: {path: ["signal_backup"]}) {
  __typename ... on Asset { assetObservations {
    runId description tags { key value }
    metadataEntries { label description __typename
      ... on TextMetadataEntry { text } ... on PathMetadataEntry { path }
      ... on JsonMetadataEntry { jsonString } ... on IntMetadataEntry { intValue } } } } } }"""
FINISHED = {"SUCCESS", "FAILURE", "CANCELED"}


def _definitions() -> dg.Definitions:
    """The project's definitions (`defs` is Dagster's `@dg.definitions` loader)."""
    return definitions.defs()


@dataclass
class UiUnderTest:
    server: Webserver
    backup: Path


@pytest.fixture(scope="module")
def ui(tmp_path_factory) -> Iterator[UiUnderTest]:
    """One web server for the module, on a fresh instance and the demo backup."""
    root = tmp_path_factory.mktemp("ui")
    home, data_dir = root / "dagster_home", root / "data"
    backup_dir = data_dir / "backups"
    home.mkdir()
    # The project's instance settings, plus one: with no daemon (which would also
    # start the new-backup sensor and its full pipeline run), the web server launches the
    # runs it is asked for itself instead of queueing them for a daemon to start.
    (home / "dagster.yaml").write_text(
        (PROJECT_ROOT / "dagster.yaml").read_text()
        + "run_coordinator:\n  module: dagster._core.run_coordinator\n"
        + "  class: DefaultRunCoordinator\n"
    )
    astrabot = Path(sys.executable).parent / "astrabot"
    subprocess.run(
        [str(astrabot), "demo", "--out", str(backup_dir), "--messages", str(DEMO_MESSAGES)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    (backup,) = backup_dir.glob("*.backup")
    env = {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "ASTRABOT_DATA_DIR": str(data_dir),
        "ASTRABOT_BACKUP_DIR": str(backup_dir),
        "HF_HUB_OFFLINE": "1",
        "TLDEXTRACT_PUBLIC_SUFFIX_LIST_URLS": "",
        "ASTRABOT_MODEL_PROFILE": "tiny",
        # Set as `make dev` sets it, so a leak into what the UI shows would be seen.
        "SIGNAL_BACKUP_PASSPHRASE": DEMO_PASSPHRASE,
    }
    try:
        with running_webserver(root / "webserver.log", env=env, cwd=PROJECT_ROOT) as server:
            yield UiUnderTest(server, backup)
    except UiCheckError as error:
        log = root / "webserver.log"
        tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
        pytest.fail(f"{error}\n--- webserver output ---\n{tail}")


def _same(kind: str, expected: set, shown: set, log_tail: str) -> None:
    """Equal sets, or a failure naming what the UI lacks and what it has in addition."""
    missing, extra = sorted(map(str, expected - shown)), sorted(map(str, shown - expected))
    assert not missing and not extra, (
        f"{kind} missing from the UI: {missing}; not in the definitions: {extra}\n{log_tail}"
    )


def test_the_ui_lists_every_asset_group_and_check_the_definitions_hold(ui):
    graph = _definitions().resolve_asset_graph()
    expected_assets = {key.to_user_string() for key in graph.get_all_asset_keys()}
    expected_groups = {graph.get(key).group_name for key in graph.get_all_asset_keys()}
    expected_checks = {
        (check.asset_key.to_user_string(), check.name) for check in graph.asset_check_keys
    }
    nodes = ui.server.graphql(ASSET_NODES_QUERY)["assetNodes"]
    shown_assets = {"/".join(node["assetKey"]["path"]) for node in nodes}
    shown_groups = set(ui.server.asset_groups())
    shown_checks = {
        ("/".join(node["assetKey"]["path"]), check["name"])
        for node in nodes
        if node["assetChecksOrError"]["__typename"] == "AssetChecks"
        for check in node["assetChecksOrError"]["checks"]
    }
    assert expected_assets and expected_groups and expected_checks
    tail = ui.server.log_tail()
    _same("assets", expected_assets, shown_assets, tail)
    _same("groups", expected_groups, shown_groups, tail)
    _same("asset checks", expected_checks, shown_checks, tail)
    # And each asset in the group the definitions give it.
    groups_shown = {"/".join(node["assetKey"]["path"]): node["groupName"] for node in nodes}
    for key in graph.get_all_asset_keys():
        assert groups_shown[key.to_user_string()] == graph.get(key).group_name


def _launch(server: Webserver, job_name: str) -> str:
    params = {"selector": {**server.repository_selector(), "jobName": job_name}}
    launched = server.graphql(LAUNCH_RUN_MUTATION, {"params": params})["launchRun"]
    assert launched["__typename"] == "LaunchRunSuccess", (
        f"launchRun answered {json.dumps(launched)}\n{server.log_tail()}"
    )
    return str(launched["run"]["runId"])


def _wait_for_run(server: Webserver, run_id: str) -> str:
    deadline = time.monotonic() + RUN_SECONDS
    while True:
        status = str(server.graphql(RUN_STATUS_QUERY, {"runId": run_id})["runOrError"]["status"])
        if status in FINISHED or time.monotonic() > deadline:
            return status
        time.sleep(0.5)


def test_observing_the_backup_from_the_ui_records_its_hash_and_no_secret(ui):
    run_id = _launch(ui.server, backup_observation_job.name)
    status = _wait_for_run(ui.server, run_id)
    logs = ui.server.graphql(RUN_LOGS_QUERY, {"runId": run_id})["logsForRun"]
    messages = [event.get("message", "") for event in logs.get("events", [])]
    assert status == "SUCCESS", (
        f"the observation run ended {status}; its last events: {messages[-10:]}\n"
        f"{ui.server.log_tail()}"
    )
    asset = ui.server.graphql(OBSERVATIONS_QUERY)["assetOrError"]
    assert asset["__typename"] == "Asset", f"signal_backup has no history: {asset}"
    observations = [o for o in asset["assetObservations"] if o["runId"] == run_id]
    assert len(observations) == 1, f"no observation from run {run_id}: {asset}"
    (observation,) = observations
    tags = {tag["key"]: tag["value"] for tag in observation["tags"]}
    assert tags.get("dagster/data_version") == content_sha256(ui.backup)
    # Neither the observation (metadata, description, tags) nor the run's event log nor
    # the server's output carries the passphrase, with or without its spaces.
    shown = json.dumps([observation, messages]) + ui.server.log_tail(chars=10**7)
    for form in {DEMO_PASSPHRASE, DEMO_PASSPHRASE.replace(" ", "")}:
        assert form not in shown


@pytest.fixture(scope="module")  # the scope of `ui`, so that it comes first
def browser() -> str:
    """Chromium or Chrome; asked for before `ui`, so a machine without one skips at once."""
    found = find_browser()
    if found is None:
        pytest.skip("no Chromium or Chrome on PATH (Debian: apt-get install chromium)")
    return found


def test_the_lineage_page_draws_every_asset_in_a_browser(browser, ui):
    graph = _definitions().resolve_asset_graph()
    expected = {key.to_user_string() for key in graph.get_all_asset_keys()}
    started = time.monotonic()
    shot = screenshot_lineage(ui.server, SCREENSHOT, browser=browser, assets=expected)
    took = time.monotonic() - started
    assert not shot.missing, (
        f"{shot.url} did not draw: {', '.join(shot.missing)}\n{ui.server.log_tail()}"
    )
    assert took < 60, f"the browser took {took:.0f} s"
    from PIL import Image  # matplotlib's dependency, so always installed

    with Image.open(io.BytesIO(shot.path.read_bytes())) as image:
        assert image.format == "PNG"
        assert image.width >= 1600 and image.height >= 1000
        # A blank or half-drawn page has a handful of colours; the graph, text and
        # icons have hundreds (antialiasing).
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20) or []
        assert len(colours) > 50, f"the screenshot looks blank ({len(colours)} colours)"


def test_the_screenshot_command_says_what_to_install_without_a_browser(
    tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("PATH", str(tmp_path))  # no browser on it
    out = tmp_path / "asset-lineage.png"
    assert ui_check.main(["screenshot", str(out)]) == 1
    assert "apt-get install chromium" in capsys.readouterr().err
    assert not out.exists()
