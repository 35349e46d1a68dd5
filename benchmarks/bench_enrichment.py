"""nitter_enriched_windows: tweet-link extraction over chat bodies vs a bare regex scan.

With no Nitter instance configured (the default) extraction is the whole local cost;
network resolution is bounded by rate_limit_delay and the instance, not by this code.
"""

from __future__ import annotations

import re

import pandas as pd
from _harness import measure, report

from astrabot_pipeline.enrichment import TwitterExtractor
from astrabot_pipeline.synthetic import generate_corpus

N_MESSAGES = 200_000
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


if __name__ == "__main__":
    main()
