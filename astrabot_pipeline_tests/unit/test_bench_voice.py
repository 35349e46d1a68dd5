"""The voice benchmark's pure parts: the quick history's start, the figures it reads from
metrics.json (and the clear error when a key is missing), the results table, and each
step's time and peak RSS from the event log's intervals and the RSS samples."""

from __future__ import annotations

import copy
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import _real_chat as real_chat  # noqa: E402
import bench_voice  # noqa: E402


def _said(speaker: str, day: date, index: int) -> real_chat.ChatMessage:
    moment = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
    return real_chat.ChatMessage(index, speaker, int(moment.timestamp() * 1000), "text")


def test_quick_start_is_the_latest_month_start_with_enough_owner_messages() -> None:
    days = [date(2018, 1, 10), date(2018, 2, 20), date(2018, 3, 5), date(2018, 3, 25)]
    messages = [_said("owner", day, i) for i, day in enumerate(days)]
    messages.append(_said("other", date(2018, 3, 26), 9))

    assert bench_voice.quick_start(messages, "owner", minimum=2) == date(2018, 3, 1)
    assert bench_voice.quick_start(messages, "owner", minimum=3) == date(2018, 2, 1)
    with pytest.raises(bench_voice.VoiceBenchError, match="fewer than 5"):
        bench_voice.quick_start(messages, "owner", minimum=5)


def _metrics() -> dict[str, Any]:
    def row(ranking: float, attributed: float, distinct: float, repeated: float) -> Any:
        return {
            "quality": {
                "ranking_accuracy": ranking,
                "mrr": 0.3,
                "ranking_accuracy_likelihood": ranking / 2,
            },
            "attribution": {"attributed_to_owner": attributed},
            "degeneration": {"distinct_2": distinct, "repeated_line_share": repeated},
        }

    def diff(metric: str, d: float, low: float, high: float, outcome: str) -> Any:
        return {"model": "burst", "label": metric, "metric": metric, "difference": d,
                "low": low, "high": high, "n": 40, "better": "higher", "resamples": 2000,
                "outcome": outcome}  # fmt: skip

    return {
        "models": ["base", "burst", "owner's real test replies"],
        "metrics": {
            "base": row(0.15, 0.2, 0.5, 0.0),
            "burst": row(0.3, 0.6, 0.45, 0.05),
            "owner's real test replies": {
                "attribution": {"attributed_to_owner": 0.8},
                "degeneration": {"distinct_2": 0.9, "repeated_line_share": 0.0},
            },
        },
        "differences": [
            diff("ranking_accuracy", 0.15, 0.05, 0.25, "better"),
            diff("attributed_to_owner", 0.4, -0.02, 0.7, "inconclusive"),
        ],
    }


def test_the_table_shows_each_figure_and_the_tuned_models_intervals() -> None:
    rows = bench_voice.read_figures(_metrics(), "chain")

    assert [r.model for r in rows] == ["base", "burst"]
    table = bench_voice.format_table(rows).splitlines()
    assert table == [
        "  base",
        "    ranking accuracy       0.150",
        "    ranking by likelihood  0.075",
        "    attributed to owner    0.200",
        "    distinct-2             0.500",
        "    repeated-line share    0.000",
        "  burst",
        "    ranking accuracy       0.300  +0.150 [+0.050, +0.250] better",
        "    ranking by likelihood  0.150",
        "    attributed to owner    0.600  +0.400 [-0.020, +0.700] inconclusive (n = 40)",
        "    distinct-2             0.450",
        "    repeated-line share    0.050",
    ]


def test_a_single_run_shows_the_base_and_its_one_adapter() -> None:
    payload = _metrics()
    payload["models"].insert(1, "conversational")
    payload["metrics"]["conversational"] = payload["metrics"]["burst"]

    rows = bench_voice.read_figures(payload, "single")

    assert [r.model for r in rows] == ["base", "burst"]
    lines = bench_voice.format_table(rows).splitlines()
    assert lines[0] == "  base"
    assert lines[6] == "  single adapter (burst)"


@pytest.mark.parametrize(
    ("remove", "named"),
    [
        (("metrics", "burst", "attribution"), "metrics.burst.attribution"),
        (("metrics", "base", "degeneration", "distinct_2"), "metrics.base.degeneration.distinct_2"),
        (("differences",), "differences"),
    ],
)
def test_a_missing_metrics_key_is_named(remove: tuple[str, ...], named: str) -> None:
    payload = copy.deepcopy(_metrics())
    node = payload
    for key in remove[:-1]:
        node = node[key]
    del node[remove[-1]]

    with pytest.raises(bench_voice.VoiceBenchError, match=f"has no {named}:"):
        bench_voice.read_figures(payload, "chain")


def _once(start: float, end: float) -> list[bench_voice.Attempt]:
    return [bench_voice.Attempt(start, end, True)]


def test_each_step_gets_its_time_and_the_peak_of_the_samples_inside_it() -> None:
    attempts = {"eval_report": _once(20.0, 30.0), "decoded_backup": _once(0.0, 5.0),
                "quiet": _once(6.0, 6.1)}  # fmt: skip
    samples = [(1.0, 300.0), (4.0, 350.0), (10.0, 900.0), (21.0, 1200.0), (29.0, 1100.0)]

    usages = bench_voice.step_usage(attempts, samples)

    assert usages == [
        bench_voice.StepUsage("decoded_backup", 5.0, 350.0),
        bench_voice.StepUsage("quiet", pytest.approx(0.1), None),
        bench_voice.StepUsage("eval_report", 10.0, 1200.0),
    ]
    assert "n/a" in bench_voice.format_usage(usages).splitlines()[1]


def test_a_resumed_step_counts_its_interrupted_attempts_beside_the_one_that_finished() -> None:
    Attempt = bench_voice.Attempt
    attempts = {
        # killed mid-training, then resumed and finished
        "lora_stage_1": [Attempt(10.0, 100.0, False), Attempt(200.0, 260.0, True)],
        # finished in the first attempt, run again (quickly) by the resume
        "decoded_backup": [Attempt(0.0, 5.0, True), Attempt(190.0, 194.0, True)],
        # killed twice, never finished
        "eval_report": [Attempt(300.0, 310.0, False), Attempt(400.0, 430.0, False)],
    }
    samples = [(50.0, 2000.0), (250.0, 1500.0), (192.0, 400.0), (305.0, 900.0)]

    usages = {u.step: u for u in bench_voice.step_usage(attempts, samples)}

    assert usages["lora_stage_1"] == bench_voice.StepUsage("lora_stage_1", 60.0, 2000.0, 90.0, 1)
    assert usages["decoded_backup"] == bench_voice.StepUsage("decoded_backup", 4.0, 400.0, 5.0, 1)
    assert usages["eval_report"] == bench_voice.StepUsage("eval_report", 30.0, 900.0, 10.0, 1)
    line = bench_voice.format_usage([usages["lora_stage_1"]])
    assert line.endswith("(+90 s in 1 earlier attempt)")


def test_rss_samples_survive_in_their_file_and_a_line_cut_by_a_kill_is_skipped(
    tmp_path: Path,
) -> None:
    samples = tmp_path / "rss.tsv"
    samples.write_text("100.000\t512.5\n101.000\t600.0\n102.0")

    assert bench_voice.read_samples(samples) == [(100.0, 512.5), (101.0, 600.0)]
    assert bench_voice.read_samples(tmp_path / "absent.tsv") == []


def test_a_work_folder_resumes_only_with_the_options_it_was_started_with(
    tmp_path: Path,
) -> None:
    settings = {"start": "2016-01-01", "owner": "o", "profile": "small", "budget": None,
                "single": True}  # fmt: skip
    work = tmp_path / "work"
    work.mkdir()

    assert bench_voice.check_settings(work, settings) is False  # new: recorded
    assert bench_voice.check_settings(work, settings) is True  # the same options: resume
    with pytest.raises(bench_voice.VoiceBenchError, match=r"other options \(budget, profile"):
        bench_voice.check_settings(work, settings | {"profile": "tiny", "budget": "minutes:3"})
    other = tmp_path / "other"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(bench_voice.VoiceBenchError, match="not a voice benchmark's work folder"):
        bench_voice.check_settings(other, settings)


def test_the_second_run_gets_the_first_runs_anonymization_keys_privately(tmp_path: Path) -> None:
    first, second = tmp_path / "chain" / "data", tmp_path / "single" / "data"
    (first / "secrets").mkdir(parents=True)
    for index, name in enumerate(bench_voice.KEY_FILES):
        (first / "secrets" / name).write_bytes(bytes([index]) * 32)
    bench_voice.share_keys(first, second)
    for index, name in enumerate(bench_voice.KEY_FILES):
        copied = second / "secrets" / name
        assert copied.read_bytes() == bytes([index]) * 32
        assert copied.stat().st_mode & 0o777 == 0o600
    assert (second / "secrets").stat().st_mode & 0o777 == 0o700
    (first / "secrets" / bench_voice.KEY_FILES[0]).unlink()
    with pytest.raises(bench_voice.VoiceBenchError, match="left no"):
        bench_voice.share_keys(first, tmp_path / "other")
