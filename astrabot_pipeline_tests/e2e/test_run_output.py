"""What `make run` prints (`run_pipeline.py`): one line per step with its key figure and a
short summary on success; the failed check, by name and reason, and a non-zero exit when a
check stops the run. Every event stays in the run's event log."""

from __future__ import annotations

import re

import dagster as dg

from astrabot_pipeline_tests.e2e.conftest import (
    FAILED_CHECK,
    VOICE_REFUSAL,
    only_the_voice_check_failed,
)

MAX_LINES = 40
GATE = "anonymized_windows:no_known_identifiers_survive"


def _step_lines(output: str) -> dict[str, str]:
    """Each step's line as asset -> the rest of the line."""
    steps = {}
    for line in output.splitlines():
        match = re.match(r"  (\w+) +(\d+\.\d s|\d+ min \d+ s|failed)  (.*)$", line)
        if match:
            steps[match[1]] = match[3]
    return steps


def test_a_successful_run_is_one_line_per_step_and_a_short_summary(pipeline_run):
    output = pipeline_run.completed.stdout
    lines = output.splitlines()
    assert len(lines) <= MAX_LINES, output
    assert "DEBUG" not in output and "STEP_" not in output
    # Every asset of the run has its line, each with the figure that says what it did.
    with dg.DagsterInstance.from_config(str(pipeline_run.dagster_home)) as instance:
        [run] = instance.get_runs(limit=1)
        assets = {key.to_user_string() for key in run.asset_selection or ()}
    steps = _step_lines(output)
    assert set(steps) == assets
    assert all(figure for figure in steps.values()), steps
    assert re.search(r"\d[\d,]* messages decoded", steps["decoded_backup"])
    assert re.search(r"\d[\d,]* identifiers replaced", steps["anonymized_windows"])
    assert re.search(r"validation loss \d+\.\d+ -> \d+\.\d+", steps["lora_stage_3_burst"])
    assert re.search(r"perplexity .* -> .*verdict passed", steps["eval_report"])
    checks = re.search(r"^checks: (\d+) of (\d+) passed$", output, re.MULTILINE)
    assert checks and int(checks[2]) >= 9
    # The tiny model writes noise, so the quality check may fail, and its tokenizer is built
    # from the training split, so the membership audit may warn; each failed check is named
    # on its own line, and only those two may be the ones.
    failed = FAILED_CHECK.findall(output)
    assert len(failed) == int(checks[2]) - int(checks[1]), output
    assert set(failed) <= {
        "eval_report:writes_like_owner",
        "eval_report:membership_inference_near_chance",
    }, failed
    # Privacy passed; approval also needs writes_like_owner not to have failed outright
    # (a warning still approves), and the verdict line says which it was.
    report = pipeline_run.data_dir / "reports" / "report.html"
    assert f"report: {report}" in output
    if "not approved (writes_like_owner)" in steps["eval_report"]:
        # Not approved: the run says so and exits non-zero, so CI sees it.
        assert VOICE_REFUSAL in output and only_the_voice_check_failed(output)
        assert pipeline_run.completed.returncode != 0
        assert re.search(r"^next: .*\S+astrabot chat --adapter", output, re.MULTILINE)
    else:
        assert "verdict: passed (this adapter set is now the one" in output
        assert pipeline_run.completed.returncode == 0
        assert re.search(r"^next: .*\S+astrabot chat", output, re.MULTILINE)


def test_a_failed_check_is_named_with_its_reason_and_the_run_exits_non_zero(gate_failure_run):
    status, output = gate_failure_run.returncode, gate_failure_run.stdout
    assert status != 0
    assert len(output.splitlines()) <= MAX_LINES, output
    [failed] = [line for line in output.splitlines() if line.startswith("  FAILED ")]
    assert failed.startswith(f"  FAILED {GATE}: Fails (and blocks training)")
    assert re.search(r"\bcanary=\d+", failed)
    steps = _step_lines(output)
    assert steps["anonymized_windows"] == f"its blocking check {GATE} failed"
    assert "mixed_dataset" not in steps
    assert re.search(r"^not run: .*mixed_dataset", output, re.MULTILINE)
    assert "run failed: at anonymized_windows" in output
    assert "verdict" not in output and "next:" not in output
