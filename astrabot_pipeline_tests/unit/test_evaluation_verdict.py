"""The evaluation verdict beside an adapter: what passes, what export does with it, and which
adapter `chat`/`export`/`serve` pick when none is named."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from astrabot_pipeline import cli
from astrabot_pipeline.cli.model import chosen_adapter, print_notices
from astrabot_pipeline.evaluation.report.model import Check
from astrabot_pipeline.evaluation.report.verdict import (
    APPROVED_FILE,
    EVALUATION_FILE,
    VerdictError,
    approved_adapter,
    read_verdict,
    record_approval,
    verdict_for,
    write_verdict,
)
from astrabot_pipeline.inference import export_model
from astrabot_pipeline.inference.adapter import AdapterInfo, read_adapter_info
from astrabot_pipeline.inference.errors import (
    AdapterRefusedError,
    ExportRefusedError,
    NoApprovedAdapterError,
)
from astrabot_pipeline.inference.model_card import render_model_card
from astrabot_pipeline.inference.verdict_gate import verdict_notices

LEAK = Check("pii_leakage_score", False, 0.04, 0.01, "error", "leaks")
MEMO = Check("memorization_score", True, 0.0, 0.05, "error", "memorizes")
WORSE = Check("perplexity_below_base", False, 80.0, None, "warning", "worse than base")


def adapter_folder(root: Path, name: str = "run") -> Path:
    """A folder `read_adapter_info` accepts (no weights are loaded before the refusal)."""
    folder = root / "models" / "lora_stage_3_burst" / name
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text("{}")
    (folder / "adapter_model.safetensors").write_bytes(b"")
    (folder / "stage_result.json").write_text(
        json.dumps({"stage": "lora_stage_3_burst", "base_model": str(root / "base")})
    )
    return folder


def test_only_failed_error_checks_fail_a_verdict(tmp_path):
    assert verdict_for(tmp_path, [MEMO, WORSE]).passed
    failed = verdict_for(tmp_path, [LEAK, MEMO, WORSE])
    assert not failed.passed and failed.failed_checks == [LEAK]


def test_a_verdict_round_trips_privately_beside_its_adapter(tmp_path):
    verdict = verdict_for(tmp_path, [LEAK, MEMO], metrics={"pii_leakage_score": 0.04})
    path = write_verdict(verdict)
    assert path == tmp_path.resolve() / EVALUATION_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_verdict(tmp_path) == verdict
    assert json.loads(path.read_text())["passed"] is False


def test_no_verdict_is_none_and_a_damaged_one_is_a_typed_error(tmp_path):
    assert read_verdict(tmp_path) is None
    (tmp_path / EVALUATION_FILE).write_text('{"checks": [{"name": 1}]}')
    with pytest.raises(VerdictError, match="run the evaluation"):
        read_verdict(tmp_path)
    (tmp_path / EVALUATION_FILE).write_text("not json")
    with pytest.raises(VerdictError):
        read_verdict(tmp_path)


def test_only_a_passing_set_becomes_the_default_and_a_failure_keeps_the_last_good_one(tmp_path):
    models = tmp_path / "models"
    good, bad = adapter_folder(tmp_path, "good"), adapter_folder(tmp_path, "bad")
    assert approved_adapter(models) is None
    assert record_approval(models, verdict_for(good, [MEMO])) == models / APPROVED_FILE
    assert record_approval(models, verdict_for(bad, [LEAK])) is None
    assert approved_adapter(models) == good.resolve()


def test_export_refuses_an_adapter_that_failed_before_loading_any_model(tmp_path):
    adapter = adapter_folder(tmp_path)
    write_verdict(verdict_for(adapter, [LEAK, MEMO]))
    with pytest.raises(ExportRefusedError, match="pii_leakage_score 0.04, limit 0.01.*--force"):
        export_model(adapter, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def card(verdict) -> str:
    info = AdapterInfo(Path("/x/lora_stage_3_burst"), "base", {"stage": "lora_stage_3_burst"})
    return render_model_card(
        info,
        architecture="LlamaForCausalLM",
        parameters=1,
        dtype="float32",
        context_tokens=512,
        tiny=False,
        evaluation=None,
        verdict=verdict,
    )


def test_the_card_states_the_verdict_and_marks_a_forced_failure_not_for_use(tmp_path):
    failed = card(verdict_for(tmp_path, [LEAK, MEMO]))
    assert failed.splitlines()[2].startswith("> **NOT FOR USE.**")
    assert "| pii_leakage_score | error | 0.04 | 0.01 | failed |" in failed
    passed = card(verdict_for(tmp_path, [MEMO, WORSE]))
    assert "NOT FOR USE" not in passed and "passed every blocking check" in passed
    assert "was not evaluated" in card(None)


def test_commands_default_to_the_approved_adapter_or_say_how_to_get_one(tmp_path, monkeypatch):
    monkeypatch.setenv("ASTRABOT_DATA_DIR", str(tmp_path))
    args = cli.build_parser().parse_args(["chat", "--prompt", "hi"])
    with pytest.raises(NoApprovedAdapterError, match="make run"):
        chosen_adapter(args)
    adapter = adapter_folder(tmp_path)
    record_approval(tmp_path / "models", verdict_for(adapter, [MEMO]))
    assert chosen_adapter(args) == adapter.resolve()
    named = cli.build_parser().parse_args(
        ["export", "--adapter", os.fspath(tmp_path), "--out", "o"]
    )
    assert chosen_adapter(named) == tmp_path


VOICE_FAILED = Check(
    "writes_like_owner", False, None, None, "error", "failed: ranking worse", gate="quality"
)


def test_a_failed_quality_check_keeps_the_set_out_of_approval_but_export_still_works(
    tmp_path, capsys
):
    models = tmp_path / "models"
    adapter = adapter_folder(tmp_path)
    verdict = verdict_for(adapter, [MEMO, VOICE_FAILED])
    assert verdict.passed and not verdict.approved
    assert record_approval(models, verdict) is None and approved_adapter(models) is None
    write_verdict(verdict)
    again = read_verdict(adapter)
    assert again == verdict and again is not None and again.failed_quality_checks == [VOICE_FAILED]
    # Not refused (that is for privacy failures only): the card and chat/serve say it in a line.
    lines = card(verdict).splitlines()
    notice = [line for line in lines if "writes_like_owner" in line and line.startswith("> ")]
    assert len(notice) == 1 and "Not approved" in notice[0] and "NOT FOR USE" not in card(verdict)
    print_notices("chat", verdict_notices(read_adapter_info(adapter)))
    printed = capsys.readouterr().err.splitlines()
    assert len(printed) == 1 and printed[0].startswith("astrabot chat: Not approved")


@pytest.mark.parametrize("command", ["chat", "serve"])
def test_chat_and_serve_refuse_an_adapter_that_failed_a_privacy_check_before_loading(
    tmp_path, capsys, command
):
    adapter = adapter_folder(tmp_path)
    write_verdict(verdict_for(adapter, [LEAK, MEMO, VOICE_FAILED]))
    port = ["--port", "0"] if command == "serve" else []
    status = cli.main([command, "--adapter", os.fspath(adapter), *port])
    out, errors = capsys.readouterr()
    assert status == 2 and out == ""
    assert errors.count("\n") == 1 and errors.startswith(f"astrabot {command}: ")
    assert "pii_leakage_score 0.04, limit 0.01" in errors and "--force" in errors
    assert "memorization_score" not in errors  # only the failed checks are named


def test_an_adapter_forced_past_its_privacy_checks_or_never_evaluated_is_one_line(tmp_path):
    adapter = adapter_folder(tmp_path)
    [unevaluated] = verdict_notices(read_adapter_info(adapter))
    assert unevaluated.startswith("Not evaluated:") and "\n" not in unevaluated
    write_verdict(verdict_for(adapter, [LEAK]))
    [forced] = verdict_notices(read_adapter_info(adapter), force=True)
    assert forced.startswith("Used with --force:") and "pii_leakage_score" in forced
    with pytest.raises(AdapterRefusedError, match="pii_leakage_score"):
        verdict_notices(read_adapter_info(adapter))
