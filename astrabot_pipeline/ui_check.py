"""The Dagster UI as a person sees it: the web server on a loopback port, its GraphQL API,
and the asset lineage page rendered by a headless Chromium.

One module for the e2e test (`astrabot_pipeline_tests/e2e/test_ui.py`) and
`make ui-screenshot` (`python -m astrabot_pipeline.ui_check screenshot OUT.png`), which
starts the web server on the workspace of `make dev` with the caller's environment
(DAGSTER_HOME, ASTRABOT_DATA_DIR, ASTRABOT_BACKUP_DIR), saves the screenshot and stops it.
Nothing here reads or prints a secret: the server's output goes to a log file only.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from selectolax.lexbor import LexborHTMLParser

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.settings import harden_process
from astrabot_pipeline.storage import atomic_output

WORKSPACE = "workspace.yaml"  # the one `make dev` loads (devserver.py)
LINEAGE_PATH = "/asset-groups"  # the UI's "Lineage" entry: the global asset graph
STARTUP_SECONDS = 120.0  # measured: 8 s on an idle 2-core machine; the rest is margin
STOP_SECONDS = 15.0
BROWSER_SECONDS = 60.0  # everything the browser does for one screenshot, retries included
WINDOW_SIZE = (1600, 1000)
# Virtual time lets the single-page app fetch its data and lay the graph out without a
# fixed sleep; it pauses while network fetches are pending. Measured: about 3 s of wall time
# per render on a 2-core machine.
VIRTUAL_TIME_MS = 30_000
# Debian/Ubuntu's names, then Google Chrome (GitHub's runners have it preinstalled).
BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# The lineage graph draws a long asset name shortened in its middle with this character.
ELLIPSIS = "\u2026"


class UiCheckError(AstrabotError, RuntimeError):
    """The web server did not come up, its API answered with an error, or the browser
    could not render the lineage page."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


REPOSITORY = "__repository__"  # the repository name Dagster gives a Definitions object
WORKSPACE_QUERY = """{ workspaceOrError { __typename ... on Workspace { locationEntries {
  name loadStatus locationOrLoadError { __typename } } } } }"""
ASSET_GROUPS_QUERY = """query($selector: RepositorySelector!) {
  repositoryOrError(repositorySelector: $selector) {
    __typename ... on Repository { assetGroups { groupName } } } }"""


def answers(url: str) -> bool:
    """Whether the server answers HTTP yet (it listens only once the workspace is read)."""
    try:
        return httpx.get(f"{url}/server_info", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Webserver:
    """A running `dagster-webserver` (its own process group) and where its output goes."""

    process: subprocess.Popen[bytes]
    port: int
    log_path: Path
    location: str = ""  # the loaded code location's name, once ready

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, chars: int = 4000) -> str:
        """The end of the server's output, for a failing test's message."""
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def graphql(self, query: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """POST one GraphQL query; its `data`, or UiCheckError with the API's errors."""
        body = {"query": query, "variables": dict(variables or {})}
        unanswered = f"the GraphQL API at {self.url} did not answer"
        try:
            reply = httpx.post(f"{self.url}/graphql", json=body, timeout=30)
            if not reply.is_success:  # a malformed query is answered 400
                raise UiCheckError(
                    f"{unanswered}: HTTP Error {reply.status_code}: {reply.reason_phrase}"
                )
            answer = reply.json()
        except (httpx.HTTPError, ValueError) as error:
            raise UiCheckError(f"{unanswered}: {error}") from None
        if answer.get("errors"):
            messages = "; ".join(str(e.get("message")) for e in answer["errors"])
            raise UiCheckError(f"the GraphQL API answered with errors: {messages}")
        return dict(answer["data"])

    def loaded_location(self) -> str | None:
        """The code location's name once loaded, None while loading; UiCheckError when it
        failed to load."""
        entries = self.graphql(WORKSPACE_QUERY)["workspaceOrError"].get("locationEntries", [])
        for entry in entries:
            location = entry["locationOrLoadError"] or {}
            if location.get("__typename") == "PythonError":
                raise UiCheckError(
                    f"the code location {entry['name']} failed to load; see {self.log_path}"
                )
            if entry["loadStatus"] == "LOADED" and location:
                return str(entry["name"])
        return None

    def wait_until_ready(self, timeout: float = STARTUP_SECONDS) -> None:
        """Poll until the code location is loaded (and note its name)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise UiCheckError(
                    f"dagster-webserver exited with {self.process.returncode} during start-up; "
                    f"see {self.log_path}"
                )
            if answers(self.url):
                location = self.loaded_location()
                if location is not None:
                    self.location = location
                    return
            if time.monotonic() > deadline:
                raise UiCheckError(
                    f"dagster-webserver was not ready after {timeout:.0f} s; see {self.log_path}"
                )
            time.sleep(0.5)

    def repository_selector(self) -> dict[str, str]:
        return {"repositoryLocationName": self.location, "repositoryName": REPOSITORY}

    def asset_groups(self) -> list[str]:
        """The group names the UI lists for the location's repository."""
        repository = self.graphql(ASSET_GROUPS_QUERY, {"selector": self.repository_selector()})[
            "repositoryOrError"
        ]
        if repository.get("__typename") != "Repository":
            raise UiCheckError(f"the UI has no repository in the location {self.location}")
        return sorted(group["groupName"] for group in repository["assetGroups"])

    def asset_names(self) -> list[str]:
        """Every asset the UI knows, as `a/b` user strings."""
        nodes = self.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]
        return sorted("/".join(node["assetKey"]["path"]) for node in nodes)

    def stop(self) -> None:
        """SIGTERM the server's process group (code server, runs), SIGKILL what is left."""
        _stop_group(self.process, STOP_SECONDS)


def _stop_group(process: subprocess.Popen[Any], grace: float) -> None:
    deadline = time.monotonic() + grace
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace)
    while group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # the leader is gone; its children are still shutting down
    with suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # whatever outlived the grace period
    process.wait()


def group_alive(pgid: int) -> bool:
    """Whether any process of the process group `pgid` is still there."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def running_webserver(
    log_path: Path,
    *,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = STARTUP_SECONDS,
) -> Iterator[Webserver]:
    """`dagster-webserver` on a free loopback port with `make dev`'s workspace (relative to
    `cwd`), ready when yielded and always stopped afterwards."""
    executable = Path(sys.executable).parent / "dagster-webserver"
    port = free_port()
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(executable), "-h", "127.0.0.1", "-p", str(port), "-w", WORKSPACE],
            cwd=cwd,
            env=dict(os.environ if env is None else env),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
    server = Webserver(process, port, log_path)
    try:
        server.wait_until_ready(timeout)
        yield server
    finally:
        server.stop()


def find_browser() -> str | None:
    """A headless-capable Chromium or Chrome on PATH that runs (Ubuntu's `chromium-browser`
    may be a stub that only asks for a snap), or None."""
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path is None:
            continue
        try:
            probe = subprocess.run(
                [path, "--version"], capture_output=True, text=True, timeout=20, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            continue
        if probe.returncode == 0 and "chrom" in probe.stdout.lower():
            return path
    return None


def lineage_url(server: Webserver, groups: Iterable[str]) -> str:
    """The global lineage page with every group expanded (the UI collapses them by default
    in a graph this size); `global@global:<group>` is the UI's id of a group there."""
    expanded = ",".join(f"global@global:{group}" for group in groups)
    return f"{server.url}{LINEAGE_PATH}?expanded={urllib.parse.quote(expanded, safe=',@:')}"


def _browser_command(browser: str, profile: str, *action: str) -> list[str]:
    width, height = WINDOW_SIZE
    return [
        browser,
        "--headless",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        # Nothing but the loopback server resolves: the page cannot reach the internet.
        "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        f"--window-size={width},{height}",
        "--hide-scrollbars",
        "--force-device-scale-factor=2",  # a sharp image: the graph draws names small
        f"--virtual-time-budget={VIRTUAL_TIME_MS}",
        *action,
    ]


def _run_browser(command: list[str], deadline: float) -> str:
    """Run the browser until it exits or the deadline; its stdout (the DOM for --dump-dom)."""
    with tempfile.TemporaryFile() as out:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.DEVNULL,  # dbus and GPU chatter on a headless machine
            start_new_session=True,  # renderer and zygote processes go with it
        )
        try:
            process.wait(timeout=max(deadline - time.monotonic(), 1.0))
        except subprocess.TimeoutExpired:
            _stop_group(process, 2.0)
            raise UiCheckError(
                f"the browser did not finish within {BROWSER_SECONDS:.0f} s"
            ) from None
        _stop_group(process, 2.0)
        out.seek(0)
        return out.read().decode(errors="replace")


def page_texts(dom: str) -> set[str]:
    """The visible text pieces of a rendered page (no script or style): each text node's
    text, stripped."""
    tree = LexborHTMLParser(dom)
    for hidden in tree.css("script, style"):
        hidden.decompose()
    if tree.root is None:
        return set()
    return {
        text
        for node in tree.root.traverse(include_text=True)
        if node.tag == "-text" and (text := node.text(deep=False).strip())
    }


def shown(name: str, texts: set[str]) -> bool:
    """Whether an asset's name is drawn: whole, or shortened in its middle (`abc…xyz`)."""
    label = name.rsplit("/", 1)[-1]
    for text in texts:
        if text == label:
            return True
        head, ellipsis, tail = text.partition(ELLIPSIS)
        if ellipsis and head and tail and label.startswith(head) and label.endswith(tail):
            return True
    return False


@dataclass(frozen=True)
class Screenshot:
    path: Path
    url: str
    missing: list[str]  # asset names the rendered page did not draw (empty when all)


def screenshot_lineage(
    server: Webserver,
    out: Path,
    *,
    browser: str,
    assets: Iterable[str],
    timeout: float = BROWSER_SECONDS,
) -> Screenshot:
    """Render the lineage page until it draws every asset in `assets` (or the time is up),
    then save a PNG of it to `out` (written whole or not at all)."""
    deadline = time.monotonic() + timeout
    url = lineage_url(server, server.asset_groups())
    wanted = sorted(assets)
    with tempfile.TemporaryDirectory(prefix="astrabot-browser-") as work:
        profile, png = str(Path(work) / "profile"), Path(work) / "lineage.png"
        # The page is a single-page app: the DOM after its scripts ran shows whether the
        # graph was drawn. A first render on a cold server can miss it; try again. The
        # browser picks the image format from the file's extension, so it writes into the
        # private work folder and the PNG is copied into place whole; one render gives
        # both the DOM and the image of it (a browser run took ~8 s on a 2-core machine).
        while True:
            dom = _run_browser(
                _browser_command(browser, profile, "--dump-dom", f"--screenshot={png}", url),
                deadline,
            )
            missing = [name for name in wanted if not shown(name, page_texts(dom))]
            if not missing or time.monotonic() > deadline - 10:
                break
        if not png.exists():  # a browser that does one action per run
            _run_browser(_browser_command(browser, profile, f"--screenshot={png}", url), deadline)
        if not png.exists():
            raise UiCheckError("the browser wrote no screenshot")
        with atomic_output(out) as temp:
            shutil.copyfile(png, temp)
    return Screenshot(out, url, missing)


def _screenshot_command(args: argparse.Namespace) -> int:
    browser = find_browser()
    if browser is None:
        raise UiCheckError(
            "no Chromium or Chrome on PATH; install one (Debian: apt-get install chromium)"
        )
    out = args.out.resolve()
    log_path = out.with_name(out.stem + ".webserver.log")
    with running_webserver(log_path) as server:
        shot = screenshot_lineage(server, out, browser=browser, assets=server.asset_names())
    if shot.missing:
        print(
            f"warning: the page did not draw {len(shot.missing)} asset(s): "
            + ", ".join(shot.missing),
            file=sys.stderr,
        )
    print(shot.path)
    return 0 if not shot.missing else 1


def main(argv: list[str] | None = None) -> int:
    harden_process()  # private files (the log, the PNG), offline libraries
    parser = argparse.ArgumentParser(prog="python -m astrabot_pipeline.ui_check")
    commands = parser.add_subparsers(dest="command", required=True)
    screenshot = commands.add_parser(
        "screenshot", help="start dagster-webserver, save a PNG of the asset lineage, stop it"
    )
    screenshot.add_argument("out", type=Path, help="PNG file to write")
    screenshot.set_defaults(handler=_screenshot_command)
    args = parser.parse_args(argv)
    try:
        return int(args.handler(args))
    except AstrabotError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
