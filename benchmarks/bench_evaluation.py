"""eval_report: the whole evaluation (quality of base + every stage, privacy of base + the
final adapter) with its batched defaults, against a one-at-a-time loop on the same samples
(generation batches of one; scoring rows of one sequence, or of one candidate after its
context).

Usage: python benchmarks/bench_evaluation.py [DATA_DIR]

DATA_DIR (default: $ASTRABOT_DATA_DIR, else ./data) must hold a finished `make run` (the
stage results, the dataset, the identifier digests and the canary record); without one
the benchmark says so and measures nothing. Prints the sample sizes, wall time and peak
RSS of each run in its own child process, and the verdict's figures (numbers only).
"""

from __future__ import annotations

import json
import sys
from dataclasses import replace
from pathlib import Path

from _harness import measure

from astrabot_pipeline import settings
from astrabot_pipeline.data_layout import CANARY_RECORD
from astrabot_pipeline.dataset import read_canaries
from astrabot_pipeline.evaluation.dataset_inputs import dataset_inputs
from astrabot_pipeline.evaluation.run import EvaluationSettings, run_evaluation
from astrabot_pipeline.privacy.identifier_digests import IdentifierDigests
from astrabot_pipeline.storage import read_parquet
from astrabot_pipeline.training import STAGE_NAMES, StageResult, get_model_profile


def _inputs(data: Path):
    stages = [
        StageResult.from_dict(json.loads((data / "assets" / f"{name}.json").read_text()))
        for name in STAGE_NAMES
    ]
    examples = read_parquet(data / "assets" / "mixed_dataset.parquet")
    profile = get_model_profile(stages[0].profile or "small")
    return stages, dataset_inputs(examples, profile.eval_examples), profile


def main() -> int:
    data = Path(sys.argv[1]) if len(sys.argv) > 1 else settings.data_dir()
    if not all((data / "assets" / f"{name}.json").is_file() for name in STAGE_NAMES):
        print(f"  skipped: no finished `make run` in {data} (run it first, then this benchmark)")
        return 0
    stages, inputs, profile = _inputs(data)
    batched = EvaluationSettings()
    one_at_a_time = replace(
        batched,
        quality=replace(batched.quality, batch_size=1, row_tokens=1),
        privacy=replace(batched.privacy, batch_size=1, row_tokens=1),
    )

    def run(evaluation_settings: EvaluationSettings):
        outcome = run_evaluation(
            stages,
            inputs.test_records,
            inputs.train_records,
            digests=IdentifierDigests.from_data_dir(data / "secrets"),
            canaries=read_canaries(data / "canaries" / CANARY_RECORD),
            train_window_ids=inputs.train_window_ids,
            reply_pool=inputs.reply_pool,
            attribution_corpus=inputs.attribution_corpus,
            settings=evaluation_settings,
            profile=profile.name,
        )
        final = outcome.privacy[stages[-1].stage]
        leaking = {
            kind: final.leakage.generations_by_kind[kind] + final.probes.generations_by_kind[kind]
            for kind in final.leakage.generations_by_kind
        }
        return outcome.verdict.metrics, outcome.report.sample_sizes, leaking

    print(
        f"whole evaluation, profile {profile.name}: base + {len(stages)} stages (quality), "
        f"base + final adapter (privacy), {len(inputs.test_records)} test examples"
    )
    for label, evaluation_settings in (
        ("batched (defaults)", batched),
        ("one at a time", one_at_a_time),
    ):
        seconds, peak, (metrics, sizes, leaking) = measure(lambda s=evaluation_settings: run(s))
        print(f"  {label:<22} {seconds:7.1f} s, peak RSS {peak:6.0f} MiB")
        print(f"    final adapter's leaking generations by identifier kind: {leaking}")
    print(f"  sample sizes: {sizes}")
    print("  verdict figures: " + ", ".join(f"{k} {v:.4g}" for k, v in sorted(metrics.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
