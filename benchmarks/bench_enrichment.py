"""nitter_enriched_windows: tweet-link extraction over chat bodies vs a bare regex scan,
then resolution of 1,000 links against local Nitter-like servers (two instances, one
failing: it answers 503 after 50 ms) vs a plain loop that tries the instances in order.

The servers run on 127.0.0.1 (astrabot_pipeline_tests/nitter_server.py), so the rate
limit is set for a local server (5 ms between two requests to one host); the projected
time at the default politeness (2 s per host) is printed next to it.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path

import httpx
import pandas as pd
from _harness import measure, report

from astrabot_pipeline.enrichment import TweetCache, TwitterExtractor
from astrabot_pipeline.enrichment.nitter import EnrichmentStats
from astrabot_pipeline.synthetic import generate_corpus
from astrabot_pipeline_tests.nitter_server import TWEET, NitterServer, Reply, serving

N_MESSAGES = 200_000
N_LINKS = 1_000
LOCAL_DELAY = 0.005  # seconds between two requests to one host (a local server)
DEFAULT_DELAY = 2.0
STRUGGLING = Reply(503, b"busy", delay=0.05)
BARE = re.compile(r"https?://(?:www\.)?(?:twitter|x)\.com/\w+/status/(\d+)")


def main() -> None:
    corpus = generate_corpus(n_messages=N_MESSAGES, seed=5)
    windows = pd.DataFrame({"body": [m.body for m in corpus.chat_messages]})
    print(f"tweet-link enrichment over {len(windows):,} chat messages (no instance configured)")

    def ours():
        with TwitterExtractor([]) as extractor:
            return int((extractor.enhance_conversations(windows)["tweet_ids"].map(len) > 0).sum())

    def baseline():
        return int(
            windows["body"].map(lambda b: isinstance(b, str) and bool(BARE.findall(b))).sum()
        )

    seconds, peak, found = measure(ours)
    report("TwitterExtractor.enhance_conversations", len(windows), "msgs", seconds, peak)
    print(f"  {'':<38} messages with links: {found}")
    seconds, peak, found = measure(baseline)
    report("baseline: one regex findall per body", len(windows), "msgs", seconds, peak)
    print(f"  {'':<38} messages with links: {found}")


def _links() -> pd.DataFrame:
    ids = range(1_600_000_000_000_000_000, 1_600_000_000_000_000_000 + N_LINKS)
    return pd.DataFrame({"body": [f"look https://x.com/a/status/{n}" for n in ids]})


def naive_resolution(instances: list[str], ids: list[str]) -> tuple[int, int]:
    """The obvious loop: each tweet tried on each instance in order, a fixed delay first."""
    resolved = requests = 0
    with httpx.Client(timeout=2.0) as client:
        for tweet_id in ids:
            for instance in instances:
                time.sleep(LOCAL_DELAY)
                requests += 1
                if client.get(f"{instance}/i/status/{tweet_id}").status_code == 200:
                    resolved += 1
                    break
    return resolved, requests


def resolution() -> None:
    links = _links()
    print(
        f"resolving {N_LINKS:,} tweet links: 2 local instances, one answering 503 after "
        f"50 ms; rate limit {LOCAL_DELAY * 1000:.0f} ms per host (a local server)"
    )
    with (
        serving(NitterServer(default=STRUGGLING)) as bad,
        serving(NitterServer(default=TWEET)) as good,
        tempfile.TemporaryDirectory() as tmp,
    ):
        instances = [bad.url, good.url]
        cache_path = Path(tmp) / "tweets.sqlite"

        def run_once() -> EnrichmentStats:
            # In the measured child: an SQLite connection must not cross a fork.
            with (
                TweetCache(cache_path) as cache,
                TwitterExtractor(instances, LOCAL_DELAY, cache=cache) as extractor,
            ):
                extractor.enhance_conversations(links)
                return extractor.stats

        for run in ("first run", "second run"):
            seconds, peak, stats = measure(run_once)
            report(f"ours, {run}", N_LINKS, "links", seconds, peak)
            print(
                f"  {'':<38} resolved {stats.resolved}, requests {stats.requests} "
                f"(struggling {len(bad.requests)}, healthy {len(good.requests)}), "
                f"cache hits {stats.from_cache / N_LINKS:.0%}"
            )
            if run == "first run":
                projected = stats.requests * DEFAULT_DELAY
                print(
                    f"  {'':<38} at the default {DEFAULT_DELAY:.0f} s per host the same "
                    f"requests take about {projected / 60:.0f} min (one healthy host)"
                )
            bad.requests.clear()
            good.requests.clear()
        ids = [
            str(i) for i in range(1_700_000_000_000_000_000, 1_700_000_000_000_000_000 + N_LINKS)
        ]
        seconds, peak, (resolved, requests) = measure(lambda: naive_resolution(instances, ids))
        report("baseline: instances in order", N_LINKS, "links", seconds, peak)
        print(f"  {'':<38} resolved {resolved}, requests {requests}, no cache")


if __name__ == "__main__":
    main()
    resolution()
