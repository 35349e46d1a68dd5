"""Topic and tone of a generated million-message history: vectorized vs per-message loops.

Prints, for `ToneScorer` (vectorized VADER) and `TopicClassifier` separately: messages/s,
wall time and peak RSS (each in a fresh child process, see `_harness`); the obvious
baselines (vaderSentiment's `polarity_scores` per message, a per-message Python topic
loop), timed on a sample and extrapolated; the mismatches of the vectorized compound
against the library on every message (the library scores each distinct text once: equal
texts have equal scores) plus adversarial cases; the share routed to the library's
scorer; and the agreement with the hand-labelled set. Goal: topic + tone <= 30 s per
million messages on the 2-core reference machine.

Usage: python benchmarks/bench_tone_topic.py [n_messages]
"""

from __future__ import annotations

import re
import string
import sys
import time
from pathlib import Path

import numpy as np
from _harness import measure, report
from _history import generate_history
from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from astrabot_pipeline.conversations.agreement import labelled_agreement, load_labelled_messages
from astrabot_pipeline.conversations.tone import ToneScorer
from astrabot_pipeline.conversations.topic import (
    AMOUNT_PATTERN,
    LAUGHTER_PATTERN,
    LINK_PATTERN,
    TOPICS,
    TopicClassifier,
    topic_forms,
    topic_of_hits,
)
from astrabot_pipeline_tests.unit.vader_cases import adversarial_texts

ROOT = Path(__file__).resolve().parents[1]
LABELLED = ROOT / "astrabot_pipeline_tests" / "data" / "labelled_messages.jsonl"
N_MESSAGES = 1_000_000
N_ADVERSARIAL = 50_000
BASELINE_SAMPLE = 20_000


def naive_topics(texts: list[str]) -> list[str]:
    """The obvious baseline doing the same work: one Python loop per message over its words."""
    forms = topic_forms()
    link, amount, laughter = (
        re.compile(LINK_PATTERN, re.I),
        re.compile(AMOUNT_PATTERN),
        re.compile(LAUGHTER_PATTERN),
    )
    media, money = TOPICS.index("media_links"), TOPICS.index("money")
    labels = []
    for text in texts:
        hits = np.zeros((1, len(TOPICS)), dtype="int32")
        for token in text.split():
            if link.search(token):
                hits[0, media] += 1
                continue
            if amount.search(token):
                hits[0, money] += 1
                continue
            word = (
                token.lower()
                .replace("\u2019", "'")
                .strip(string.punctuation + "\u201c\u201d\u2018")
            )
            word = laughter.sub("haha", word.removesuffix("'s"))
            topic = forms.get(word)
            if topic is not None:
                hits[0, topic] += 1
        labels.append(topic_of_hits(hits)[0][0])
    return labels


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else N_MESSAGES
    started = time.perf_counter()
    history = generate_history(n_messages=n, n_threads=3_000, seed=0)
    texts = history.messages["body"].fillna("").tolist()
    print(
        f"topic and tone on {len(texts):,} generated messages "
        f"(history generated in {time.perf_counter() - started:.1f} s)"
    )

    tone_s, tone_peak, routed_share = measure(lambda: ToneScorer().score(texts).routed.mean())
    report("tone: vectorized VADER (ToneScorer)", len(texts), "msgs", tone_s, tone_peak)
    print(f"    routed to vaderSentiment's own scorer: {routed_share:.2%} of messages")
    topic_s, topic_peak, _ = measure(lambda: TopicClassifier().classify(texts)[0].size)
    report("topic: vectorized word lists", len(texts), "msgs", topic_s, topic_peak)
    both = tone_s + topic_s
    verdict = "meets" if both <= 30 * len(texts) / 1_000_000 else "MISSES"
    print(f"  topic + tone: {both:.2f} s ({verdict} the goal of 30 s per million)")

    sample = texts[:: max(1, len(texts) // BASELINE_SAMPLE)][:BASELINE_SAMPLE]
    scale = len(texts) / len(sample)
    library = SentimentIntensityAnalyzer()
    base_s, base_peak, _ = measure(lambda: [library.polarity_scores(t) for t in sample])
    report("baseline tone: polarity_scores loop", len(sample), "msgs", base_s, base_peak)
    print(
        f"    extrapolated to {len(texts):,}: {base_s * scale:.0f} s; "
        f"speed-up {base_s * scale / tone_s:.0f}x"
    )
    naive_s, naive_peak, _ = measure(lambda: len(naive_topics(sample)))
    report("baseline topic: per-message loop", len(sample), "msgs", naive_s, naive_peak)
    print(
        f"    extrapolated to {len(texts):,}: {naive_s * scale:.0f} s; "
        f"speed-up {naive_s * scale / topic_s:.1f}x"
    )

    started = time.perf_counter()
    everything = texts + adversarial_texts(N_ADVERSARIAL, seed=1)
    scores = ToneScorer().score(everything)
    distinct = list(dict.fromkeys(everything))
    expected_of = {t: library.polarity_scores(t)["compound"] for t in distinct}
    expected = np.array([expected_of[t] for t in everything])
    mismatches = int((np.abs(scores.compound - expected) > 1e-6).sum())
    print(
        f"  equality with vaderSentiment: {mismatches} mismatches on {len(everything):,} "
        f"messages ({len(texts):,} generated + {N_ADVERSARIAL:,} adversarial; "
        f"{len(distinct):,} distinct texts scored by the library; "
        f"{scores.routed.mean():.2%} routed; {time.perf_counter() - started:.0f} s)"
    )

    labelled = load_labelled_messages(LABELLED)
    for split in ("dev", "heldout"):
        part = labelled_agreement(labelled[labelled["split"] == split])
        print(
            f"  labelled set, {split:<7} ({part.messages} messages): topic accuracy "
            f"{part.topic_accuracy:.2f}, tone accuracy {part.tone_accuracy:.2f}, "
            f"tone kappa {part.tone_kappa:.2f}"
        )


if __name__ == "__main__":
    main()
