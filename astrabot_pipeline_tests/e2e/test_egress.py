"""Nothing leaves the machine: the full materialization runs under an egress guard
(egress_guard/sitecustomize.py) that records and refuses every non-loopback connection."""

from __future__ import annotations


def test_the_guard_was_armed_in_the_dagster_process_and_the_decoder(pipeline_run):
    armed = pipeline_run.egress_log.with_name(pipeline_run.egress_log.name + ".armed")
    pids = {line.split()[1] for line in armed.read_text().splitlines()}
    assert len(pids) >= 2, "the guard must load in dagster and in the Pipes decoder subprocess"


def test_a_full_materialization_attempts_no_outbound_connection(pipeline_run):
    attempts = (
        pipeline_run.egress_log.read_text().splitlines() if pipeline_run.egress_log.exists() else []
    )
    assert attempts == [], f"{len(attempts)} outbound attempts: {attempts[:5]}"
