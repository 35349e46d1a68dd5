"""The whole asset graph, from an encrypted demo backup to the eval report."""

from __future__ import annotations

import json
import re
import sqlite3
from pathlib import Path

from dagster import DagsterInstance
from dagster._core.events import DagsterEventType

from astrabot_pipeline.evaluation.report.model import format_value
from astrabot_pipeline.privacy import load_canaries
from astrabot_pipeline.storage import read_parquet
from astrabot_pipeline.training import STAGE_NAMES, StageResult
from astrabot_pipeline.training.loss_plot import LOSS_CURVE_FILE

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _check_results(run) -> dict[str, bool]:
    instance = DagsterInstance.from_config(str(run.dagster_home))
    [dagster_run] = instance.get_runs(limit=1)
    results = {}
    for entry in instance.all_logs(
        dagster_run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ):
        evaluation = entry.dagster_event.event_specific_data
        results[f"{evaluation.asset_key.to_user_string()}:{evaluation.check_name}"] = (
            evaluation.passed
        )
    instance.dispose()
    return results


def test_every_asset_check_passes(pipeline_run):
    results = _check_results(pipeline_run)
    assert "anonymized_windows:no_known_identifiers_survive" in results
    assert len(results) >= 9
    # A random tiny model is not expected to write like its owner: that check judges the
    # voice (its truth table is unit-tested), so here it only has to be there.
    assert results.pop("eval_report:writes_like_owner") in (True, False)
    # Nor to sit at chance in the membership audit: its tokenizer is built from the
    # training split, so even the untrained model favours members (the audit's controls
    # are tested in integration/test_membership_audit.py).
    assert results.pop("eval_report:membership_inference_near_chance") in (True, False)
    assert all(results.values()), {k: v for k, v in results.items() if not v}


def without_images(page: str) -> str:
    """`page` without the base64 data of its inline images."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "data:", page)


def _markdown_tables(markdown: str) -> dict[str, list[list[str]]]:
    """Each `## title`'s table in report.md as rows of cells (the header row first)."""
    tables: dict[str, list[list[str]]] = {}
    title = None
    for line in markdown.splitlines():
        if line.startswith("## "):
            title = line[3:]
        elif line.startswith("| ") and title is not None:
            tables.setdefault(title, []).append([c.strip() for c in line.strip("|").split(" | ")])
    return tables


def test_report_compares_base_and_every_stage_and_training_beat_the_untrained_model(pipeline_run):
    reports = pipeline_run.data_dir / "reports"
    metrics = json.loads((reports / "metrics.json").read_text())
    markdown = (reports / "report.md").read_text()
    page = (reports / "report.html").read_text()
    assert metrics["models"] == [
        "base",
        *STAGE_NAMES,
        "owner's real test replies",
        "others' real test messages",
    ]
    perplexity = {
        m: metrics["metrics"][m]["perplexity"]["perplexity"] for m in ["base", *STAGE_NAMES]
    }
    assert perplexity["lora_stage_3_burst"] < perplexity["base"]
    checks = {c["name"]: c["passed"] for c in metrics["checks"]}
    assert checks.pop("writes_like_owner") in (True, False)
    # The membership audit ran (the demo holds an audit slice, the adapters their record);
    # whether the tiny model's figure is near chance is not this test's question.
    assert checks.pop("membership_inference_near_chance") in (True, False)
    membership = next(
        c for c in metrics["checks"] if c["name"] == "membership_inference_near_chance"
    )
    assert membership["value"] is not None and membership["severity"] == "warning"
    audit = next(s for s in metrics["sections"] if s["key"] == "membership")["settings"]
    assert audit["members"] > 0 and audit["non_members"] > 0
    # The generated demo holds contacts out for the contact-level audit (auto on for it).
    contacts = metrics["metrics"][STAGE_NAMES[-1]]["contact_inference"]
    assert contacts["contacts_held_out"] >= 2 and contacts["contacts_trained"] >= 2
    assert contacts["contact_auc"] is not None
    assert checks == {
        "last_stage_perplexity_below_base": True,
        "pii_leakage_score_below_threshold": True,
        "memorization_score_below_threshold": True,
    }
    sections = [section["key"] for section in metrics["sections"]]
    assert sections == [
        "perplexity",
        "quality",
        "style_match",
        "degeneration",
        "attribution",
        "privacy",
        "membership",
        "membership_tpr",
        "contact_inference",
    ]
    # Every tuned-minus-base difference has its interval, and the page opens with a verdict.
    assert {(d["model"], d["metric"]) for d in metrics["differences"]} == {
        (stage, metric)
        for stage in STAGE_NAMES
        for metric in (
            "ranking_accuracy",
            "ranking_accuracy_likelihood",
            "attributed_to_owner",
            "style",
            "perplexity",
            "distinct_2",
            "repeated_line_share",
        )
    } | {(STAGE_NAMES[-1], f"mia_{attack}_auc") for attack in ("loss", "zlib", "min_k_pp")}
    assert metrics["summary"].startswith("Does the final adapter")
    assert page.index('<p class="summary">') < page.index("<h2>")
    # Privacy is measured on the base model and the final adapter (the one a user exports).
    privacy = [m for m in metrics["models"] if "privacy" in metrics["metrics"][m]]
    assert privacy == ["base", STAGE_NAMES[-1]]
    assert [curve["stage"] for curve in metrics["loss_curves"]] == list(STAGE_NAMES)
    assert metrics["profile"] == "tiny" and metrics["sample_sizes"]["test_examples"] > 0
    # The report's numbers are metrics.json's, as each column formats them.
    tables = _markdown_tables(markdown)
    for section in metrics["sections"]:
        header, *rows = tables[section["title"]]
        assert len(header) == len(section["columns"]) + 1
        assert [row[0] for row in rows] == [
            m for m in metrics["models"] if section["key"] in metrics["metrics"][m]
        ]
        for row in rows:
            values = metrics["metrics"][row[0]][section["key"]]
            shown = [format_value(values[c["key"]], c["fmt"]) for c in section["columns"]]
            assert row[1:] == shown
    # Self-contained: charts inline, nothing fetched, nothing run.
    text = without_images(page)
    assert "http" not in text and "<script" not in text and "href" not in text
    # Loss curves and one chart per section.
    tpr = metrics["metrics"][STAGE_NAMES[-1]]["membership_tpr"]
    assert tpr["mia_reference_tpr_at_1pct"] is not None
    assert tpr["mia_reference_tpr_at_0_1pct"] is None  # needs 1,000 non-members
    assert page.count('src="data:image/png;base64,') == 1 + len(sections)
    for name in STAGE_NAMES:
        stage = pipeline_run.asset_json(name)
        assert stage["validation_loss_after"] < stage["validation_loss_before"]
        # Each stage's result crosses the asset boundary as a typed StageResult.
        result = StageResult.from_dict(stage)
        assert result.stage == name and result.profile == "tiny" and not result.skipped
        assert (Path(result.adapter_dir) / LOSS_CURVE_FILE).read_bytes()[:8] == PNG_SIGNATURE
        assert metrics["adapters"][name] == Path(result.adapter_dir).name
        assert metrics["reproducibility"]["seeds"][name] == result.seed


def test_no_known_identifier_or_canary_reaches_the_training_data(pipeline_run):
    examples = read_parquet(pipeline_run.data_dir / "assets" / "mixed_dataset.parquet")
    text = "\n".join(m["content"] for messages in examples["messages"] for m in messages).lower()
    canaries = load_canaries(pipeline_run.backup)
    assert canaries, "the demo backup plants canaries"
    assert [c for c in canaries if " ".join(c.lower().split()) in " ".join(text.split())] == []


def test_no_message_text_or_passphrase_reaches_dagster_storage_or_output(pipeline_run):
    messages = read_parquet(
        pipeline_run.data_dir / "assets" / "decoded_backup" / "messages.parquet"
    )
    bodies = [b for b in messages["body"].dropna() if len(b) >= 12]
    secrets = set(bodies) | set(load_canaries(pipeline_run.backup))
    from astrabot_pipeline.synthetic import DEMO_PASSPHRASE

    secrets.add(DEMO_PASSPHRASE)
    secrets.add("".join(ch for ch in DEMO_PASSPHRASE if ch.isdigit()))
    haystacks = [pipeline_run.completed.stdout, pipeline_run.completed.stderr]
    for path in pipeline_run.dagster_home.rglob("*"):
        if path.is_file() and path.suffix == ".db":
            with sqlite3.connect(path) as db:
                for (table,) in db.execute("select name from sqlite_master where type='table'"):
                    rows = db.execute(f"select * from '{table}'").fetchall()
                    haystacks.append("\n".join(map(repr, rows)))
        elif path.is_file():
            haystacks.append(path.read_text(errors="ignore"))
    for report in (pipeline_run.data_dir / "reports").iterdir():
        haystacks.append(report.read_text())
    # Charts (the report's, the stages' loss-curve metadata) are PNGs of numbers: their
    # base64 can spell any short string by chance.
    haystacks = [without_images(haystack) for haystack in haystacks]
    # Event payloads are JSON: look for each secret as written and JSON-escaped.
    needles = {(s, json.dumps(s)[1:-1]) for s in secrets}
    leaked = [s for s, escaped in needles if any(s in h or escaped in h for h in haystacks)]
    assert leaked == [], f"{len(leaked)} secret strings found in Dagster storage, logs or reports"


def test_everything_the_pipeline_wrote_is_private_to_the_user(pipeline_run):
    import stat

    loose = []
    for path in [pipeline_run.data_dir, *pipeline_run.data_dir.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            loose.append(f"{path.relative_to(pipeline_run.data_dir)} {oct(mode)}")
    assert loose == []


def test_the_verdict_sits_beside_the_final_adapter_and_samples_stay_private(pipeline_run):
    import stat

    from astrabot_pipeline.evaluation.report.verdict import approved_adapter, read_verdict

    final = StageResult.from_dict(pipeline_run.asset_json(STAGE_NAMES[-1]))
    verdict = read_verdict(final.adapter_dir)
    assert verdict is not None
    names = {check.name for check in verdict.checks}
    assert {"pii_leakage_score_below_threshold", "memorization_score_below_threshold"} <= names
    approved = approved_adapter(pipeline_run.data_dir / "models")
    assert (approved == Path(final.adapter_dir)) is verdict.approved
    samples = pipeline_run.data_dir / "samples" / "samples.md"
    assert stat.S_IMODE(samples.stat().st_mode) == 0o600
    assert samples.read_text().count("## Test example") == 8
    assert not (pipeline_run.data_dir / "reports" / "samples.md").exists()
