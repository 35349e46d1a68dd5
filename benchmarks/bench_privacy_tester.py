"""Time the privacy evaluation (PrivacyTester) on a materialized data folder.

Usage: python benchmarks/bench_privacy_tester.py [DATA_DIR] [--adapter DIR] [--one-at-a-time]

DATA_DIR (default: $ASTRABOT_DATA_DIR, else ./data) is a data folder after `make run` (or after materializing up to the last
stage): it reads the dataset, the canary record, the identifier digests and the `small`
base model there. Measures the base model and base + `--adapter` (default: the last
stage's latest adapter) with PrivacyTestSettings's defaults; prints the settings, the numbers
(counts and rates only), wall time per part and peak RSS. `--one-at-a-time` repeats the
base model's measurement with batch size 1, for comparison.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from dataclasses import replace
from pathlib import Path

from astrabot_pipeline import settings
from astrabot_pipeline.settings import harden_process

harden_process()

from astrabot_pipeline.dataset import read_canaries, records_from_frame  # noqa: E402
from astrabot_pipeline.evaluation.privacy.settings import PrivacyTestSettings  # noqa: E402
from astrabot_pipeline.evaluation.privacy.tester import PrivacyTester  # noqa: E402
from astrabot_pipeline.privacy.identifier_digests import IdentifierDigests  # noqa: E402
from astrabot_pipeline.storage import read_parquet  # noqa: E402
from astrabot_pipeline.training import latest_adapter_dir  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data_dir", type=Path, nargs="?", default=settings.data_dir())
    parser.add_argument("--adapter", type=Path)
    parser.add_argument("--base", type=Path)
    parser.add_argument("--one-at-a-time", action="store_true")
    args = parser.parse_args()
    data = args.data_dir
    if not (data / "assets" / "mixed_dataset.parquet").is_file():
        print(f"  skipped: no finished `make run` in {data} (run it first, then this benchmark)")
        return 0
    started = time.perf_counter()
    examples = read_parquet(data / "assets" / "mixed_dataset.parquet")
    train = examples[examples["split"] == "train"]
    test = examples[examples["split"] == "test"].sort_values("example_id")
    base = args.base or data / "models" / "base-small"
    adapter = args.adapter or latest_adapter_dir(data / "models" / "lora_stage_3_burst")
    config = PrivacyTestSettings()
    tester = PrivacyTester(
        IdentifierDigests.from_data_dir(data / "secrets"),
        read_canaries(data / "canaries" / "memorization.json"),
        train_window_ids=train["window_id"].unique(),
        config=config,
    )
    setup = time.perf_counter() - started
    run = time.perf_counter()
    results = tester.evaluate_models(
        base,
        {"base": None, "final": adapter},
        test_records=records_from_frame(test),
        train_records=records_from_frame(train),
    )
    total = time.perf_counter() - run
    report = {
        "settings": config.to_dict(),
        "setup_seconds": round(setup, 1),
        "evaluate_models_seconds": round(total, 1),
        "models": {name: result.to_dict() for name, result in results.items()},
    }
    if args.one_at_a_time:
        single = PrivacyTester(
            tester.digests,
            tester.canaries,
            train_window_ids=train["window_id"].unique(),
            config=replace(config, batch_size=1, row_tokens=1),
            generic_finder=tester.scanner.generic_finder,
        )
        run = time.perf_counter()
        one = single.evaluate_models(
            base,
            {"base": None},
            test_records=records_from_frame(test),
            train_records=records_from_frame(train),
        )
        report["one_at_a_time_base_seconds"] = round(time.perf_counter() - run, 1)
        report["one_at_a_time_base_parts"] = one["base"].seconds
    report["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    json.dump(report, sys.stdout, indent=2)
    print()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
