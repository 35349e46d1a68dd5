"""anonymized_windows: our batched anonymizer vs Presidio's defaults called per message.

`bench_privacy.py [N]`: N demo messages (default 10,000; the issue's figure uses 100,000).

Both run on the decoded demo corpus (chat text with planted PII); the validator then
counts what survived each, so speed is compared at the recall each one reaches.
"""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

from _harness import measure, report
from _presidio_baseline import PlainPresidio

from astrabot_pipeline.privacy import (
    ConversationAnonymizer,
    KnownContacts,
    PrivacyValidator,
    load_canaries,
)
from astrabot_pipeline.privacy.anonymizer import DEFAULT_N_PROCESS, MIN_TEXTS_FOR_WORKERS
from astrabot_pipeline.privacy.residual import ResidualDetector
from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup

N_MESSAGES = 10_000


def naive_presidio(texts: list[str]) -> list[str]:
    """The obvious baseline: default Presidio engines, one analyze + anonymize per message."""
    return [anonymized for anonymized, _ in PlainPresidio().anonymize(texts)]


def main() -> None:
    n_messages = int(sys.argv[1]) if len(sys.argv) > 1 else N_MESSAGES
    with tempfile.TemporaryDirectory() as tmp:
        demo = write_demo_backup(Path(tmp) / "in", n_messages=n_messages, seed=3)
        tables = (
            SignalProcessor(DEMO_PASSPHRASE, extract_attachments=False)
            .decode(demo.path, Path(tmp) / "out")
            .read_tables()
        )
        canaries = load_canaries(demo.path)
    texts = [t for t in tables["messages"]["body"].dropna().tolist() if t.strip()]
    contacts = KnownContacts.from_recipients(tables["recipients"], tables["recipient_names"])
    validator = PrivacyValidator(contacts, canaries=canaries)
    before = validator.scan(texts)
    print(
        f"anonymization of {len(texts):,} demo chat messages "
        f"({before.known_name + before.known_phone + before.known_email} known identifiers, "
        f"{before.canary} canary hits planted)"
    )

    def ours():
        anonymizer = ConversationAnonymizer(contacts, b"\0" * 32, batch_size=256)
        left = validator.scan(anonymizer.anonymize_texts(texts).texts)
        # Worker processes have exited by now: the largest of them, for the memory it took.
        return left, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

    def baseline():
        return validator.scan(naive_presidio(texts)), 0.0

    def second_opinion():
        """The gate's residual detector (privacy/residual.py) on our output, timed alone."""
        anonymizer = ConversationAnonymizer(contacts, b"\0" * 32, batch_size=256)
        anonymized = anonymizer.anonymize_texts(texts).texts
        started = time.perf_counter()
        residual = ResidualDetector(anonymizer.analyzer.nlp_engine).scan(anonymized)
        return time.perf_counter() - started, residual

    seconds_of = {}
    for label, fn in (
        ("ConversationAnonymizer (batched)", ours),
        ("baseline: default Presidio loop", baseline),
    ):
        seconds, peak, (left, workers_peak) = measure(fn)
        report(label, len(texts), "msgs", seconds, peak)
        survived = left.known_name + left.known_phone + left.known_email
        print(f"  {'':<38} surviving known identifiers {survived}, canary hits {left.canary}")
        if workers_peak:
            print(f"  {'':<38} peak RSS of a worker process {workers_peak:.0f} MiB")
        seconds_of[fn] = seconds
    print(
        f"speed-up {seconds_of[baseline] / seconds_of[ours]:.1f}x with n_process="
        f"{DEFAULT_N_PROCESS} (workers start from {MIN_TEXTS_FOR_WORKERS:,} messages)"
    )
    _, _, (seconds, residual) = measure(second_opinion)
    print(
        f"gate second opinion (Presidio's default recognizers on our output): {seconds:.2f} s "
        f"for {len(texts):,} msgs, {sum(residual.by_type.values())} residual hits "
        f"{dict(sorted(residual.by_type.items()))}"
    )


if __name__ == "__main__":
    main()
