"""A failing asset puts no message text in the event log (issue #8 item 12).

A library's exception message can quote a cell: pandas casting a decoded table whose
`thread_id` holds a message body says "invalid literal for int() with base 10: '<body>'".
Dagster stores a failed step's message, stack and chained causes in the event log, so these
tests read the run's real event log (every entry as the storage serializes it) and look for
the planted body. Our own errors (`AstrabotError`) keep their message, which is written to
be safe.
"""

from __future__ import annotations

import errno
import os
import signal
from pathlib import Path

import dagster as dg
import pandas as pd
import pytest
from dagster._serdes import serialize_value

from astrabot_pipeline.conversations import ConversationProcessor
from astrabot_pipeline.defs.conversations import conversation_windows
from astrabot_pipeline.defs.errors import WITHHELD, failure_for, redact_failures
from astrabot_pipeline.defs.ingest import decoded_backup
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.defs.resources.decoder import DecoderLauncherResource
from astrabot_pipeline.defs.resources.io_manager import AstrabotIOManager
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.interrupts import EXIT_TERMINATED
from astrabot_pipeline.signal import pipes_entry
from astrabot_pipeline.signal.processor import SignalProcessor
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup
from astrabot_pipeline_tests.conftest import make_messages

BODY = "meet me at the old pier at midnight and bring the 4242 envelope"


@dg.asset(name="decoded_backup")
def hostile_decoded_backup() -> dict[str, pd.DataFrame]:
    """Decoded tables whose `thread_id` column holds a message body in one row."""
    messages = make_messages(
        [(1, 2, False, 0, "hi"), (1, 1, True, 60, "yo"), (1, 2, False, 90, "k")]
    )
    messages["thread_id"] = messages["thread_id"].astype(object)
    messages.loc[1, "thread_id"] = BODY
    return {"messages": messages}


def run_failing(*assets, run_config=None, resources=None):
    """Materialize `assets` (expected to fail): (result, the failure's error info, every
    event-log entry of the run as the event-log storage serializes it)."""
    instance = dg.DagsterInstance.ephemeral()
    result = dg.materialize(
        list(assets),
        instance=instance,
        run_config=run_config,
        resources=resources,
        raise_on_error=False,
    )
    assert not result.success
    failure = next(event for event in result.all_events if event.is_step_failure)
    stored = "\n".join(serialize_value(entry) for entry in instance.all_logs(result.run_id))
    return result, failure.step_failure_data.error, stored


def error_chain(error) -> str:
    """Message and stack of an error info and of every cause and context it carries."""
    parts = []
    while error is not None:
        parts += [error.message, *error.stack]
        parts.append(error_chain(error.context))
        error = error.cause
    return "\n".join(parts)


def test_a_pandas_error_quoting_a_message_body_in_a_real_asset_leaves_no_trace(capfd):
    _, error, stored = run_failing(hostile_decoded_backup, conversation_windows)
    assert "ValueError at astrabot_pipeline/conversations/windows.py:" in error.message
    assert "in create_conversation_windows" in error.message and WITHHELD in error.message
    assert error.cause is None and error.context is None
    assert BODY not in error_chain(error)
    assert "Failure" in stored and BODY not in stored
    captured = capfd.readouterr()
    assert BODY not in captured.out + captured.err  # nor on the console Dagster logs to


def _windows(decoded_backup: dict[str, pd.DataFrame]) -> None:
    ConversationProcessor().create_conversation_windows(decoded_backup["messages"])


def _chained(decoded_backup: dict[str, pd.DataFrame]) -> None:
    try:
        _windows(decoded_backup)
    except ValueError as error:
        raise dg.Failure(description="windows failed") from error


@pytest.mark.parametrize(
    ("body", "leaks"),
    [(_windows, True), (_chained, True), (redact_failures(_windows), False)],
    ids=["unwrapped", "failure-chained-to-the-original", "redact_failures"],
)
def test_the_event_log_holds_the_body_unless_the_asset_redacts_its_failures(body, leaks):
    """The check above can fail: Dagster does store the body of an unwrapped error, and of an
    error chained to a dg.Failure (as its cause); `redact_failures` stores neither."""
    asset = dg.asset(name="windows")(body)
    _, error, stored = run_failing(hostile_decoded_backup, asset)
    assert (BODY in stored) is leaks
    assert (BODY in error_chain(error)) is leaks


def test_the_io_manager_redacts_a_pyarrow_error_quoting_a_cell(tmp_path):
    """pyarrow says "Could not convert '<body>' with type str" when a column mixes types."""

    @dg.asset(name="windows")
    def mixed_column() -> pd.DataFrame:
        return pd.DataFrame({"thread_id": [1, BODY]})

    io_manager = AstrabotIOManager(base_dir=str(tmp_path))
    _, error, stored = run_failing(mixed_column, resources={"io_manager": io_manager})
    assert error.message.startswith(
        "dagster._core.definitions.events.Failure: pyarrow.lib.ArrowInvalid at "
        "astrabot_pipeline/storage.py:"
    )
    assert BODY not in error_chain(error) and BODY not in stored
    assert not (tmp_path / "assets" / "windows.parquet").exists()


def test_an_astrabot_error_fails_the_asset_with_its_own_message(tmp_path):
    empty = tmp_path / "backups"
    empty.mkdir()
    resources = {
        "signal": SignalBackupResource(backup_dir=str(empty)),
        "paths": AstrabotPathsResource(data_dir=str(tmp_path / "data")),
        "decoder": DecoderLauncherResource(),
        "io_manager": AstrabotIOManager(base_dir=str(tmp_path / "data")),
    }
    _, error, _ = run_failing(decoded_backup, resources=resources)
    assert error.message.startswith(
        f"dagster._core.definitions.events.Failure: NoBackupFoundError: no Signal backup found "
        f"in {empty}: copy your backup"
    )
    assert error.cause is None and error.context is None


def test_a_setting_out_of_range_keeps_its_message():
    config = {"ops": {"conversation_windows": {"config": {"window_size_minutes": 0}}}}
    _, error, _ = run_failing(hostile_decoded_backup, conversation_windows, run_config=config)
    assert "SettingError: window_size_minutes must be > 0" in error.message


def test_an_os_error_shows_the_systems_words_for_its_number_not_its_file_name():
    error = OSError(errno.ENOSPC, f"disk full writing {BODY}", f"/data/{BODY}.parquet")
    description = failure_for(error).description
    assert description == f"OSError: [Errno {errno.ENOSPC}] {os.strerror(errno.ENOSPC)}"


class FakePipes:
    """The decoder's side of a Pipes session, recorded (Dagster's side is not needed here)."""

    def __init__(self, extras: dict, on_log=None) -> None:
        self.extras = extras
        self.on_log = on_log
        self.logged: list[tuple[str, str]] = []
        self.custom: list[dict] = []
        self.materializations: list[dict] = []
        self.log = self

    def get_extra(self, key: str):
        return self.extras[key]

    def info(self, message: str) -> None:
        self.logged.append(("info", message))
        if self.on_log is not None:
            self.on_log()

    def warning(self, message: str) -> None:
        self.logged.append(("warning", message))

    def error(self, message: str) -> None:
        self.logged.append(("error", message))

    def report_custom_message(self, payload: dict) -> None:
        self.custom.append(payload)

    def report_asset_materialization(self, metadata: dict) -> None:
        self.materializations.append(metadata)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    return write_demo_backup(tmp_path_factory.mktemp("backups"), n_messages=60, seed=4)


def test_the_decoder_process_reports_an_unexpected_error_by_its_type_only(
    demo, tmp_path, monkeypatch
):
    def decode(self, *args, **kwargs):
        raise ValueError(f"could not convert string to float: '{BODY}'")

    monkeypatch.setattr(SignalProcessor, "decode", decode)
    monkeypatch.setenv("SIGNAL_BACKUP_PASSPHRASE", DEMO_PASSPHRASE)
    pipes = FakePipes({"backup_path": str(demo.path), "out_dir": str(tmp_path / "out")})
    assert pipes_entry.run(pipes) == pipes_entry.EXIT_DECODE_FAILED
    (reported,) = pipes.custom
    assert reported[pipes_entry.FAILURE_KEY] == f"ValueError: {pipes_entry.WITHHELD}"
    assert BODY not in repr(pipes.logged) + repr(pipes.custom)


def test_the_decoder_process_stops_cleanly_on_sigterm_and_says_it_was_interrupted(
    demo, tmp_path, monkeypatch
):
    """SIGTERM is what Docker (and Dagster's run termination) sends: a failure message and
    exit status 143, not a traceback or a silent kill."""
    previous = signal.getsignal(signal.SIGTERM)
    monkeypatch.setenv("SIGNAL_BACKUP_PASSPHRASE", DEMO_PASSPHRASE)
    pipes = FakePipes(
        {"backup_path": str(demo.path), "out_dir": str(tmp_path / "out")},
        on_log=lambda: os.kill(os.getpid(), signal.SIGTERM),  # at the decoder's progress report
    )
    assert pipes_entry.run(pipes) == EXIT_TERMINATED
    (reported,) = pipes.custom
    assert reported[pipes_entry.FAILURE_KEY] == "TerminationRequested: decoding interrupted"
    assert pipes.materializations == []
    assert signal.getsignal(signal.SIGTERM) == previous  # the handler is put back
    assert Path(demo.path).is_file()
