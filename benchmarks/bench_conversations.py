"""conversation_windows: vectorized windowing vs a plain per-message Python loop."""

from __future__ import annotations

import tempfile
from pathlib import Path

from _harness import measure, report

from astrabot_pipeline.conversations import ConversationProcessor, EmojiAnalyzer
from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup

N_MESSAGES = 100_000


def _messages():
    with tempfile.TemporaryDirectory() as tmp:
        demo = write_demo_backup(Path(tmp) / "in", n_messages=N_MESSAGES, seed=1)
        result = SignalProcessor(DEMO_PASSPHRASE, extract_attachments=False).decode(
            demo.path, Path(tmp) / "out"
        )
        return result.read_tables()["messages"]


def naive_windows(messages, gap_seconds=1800, min_messages=3, burst_gap=120):
    """The obvious baseline doing the same work row by row: windows, bursts, emoji counts."""
    analyzer = EmojiAnalyzer()
    windows, current, last, bursts = [], [], None, 0
    for row in messages.sort_values(["thread_id", "sent_at"]).itertuples(index=False):
        gap = (row.sent_at - last.sent_at).total_seconds() if last is not None else None
        if last is not None and (row.thread_id != last.thread_id or gap > gap_seconds):
            windows.append(current)
            current = []
        if not current or row.sender_id != last.sender_id or gap > burst_gap:
            bursts += 1
        current.append((row.message_id, analyzer.count(row.body)))
        last = row
    windows.append(current)
    return [w for w in windows if len(w) >= min_messages], bursts


def main() -> None:
    messages = _messages()
    print(f"conversation_windows on {len(messages):,} decoded demo messages")
    processor = ConversationProcessor()
    seconds, peak, n = measure(lambda: len(processor.create_conversation_windows(messages)))
    report("vectorized ConversationProcessor", len(messages), "msgs", seconds, peak)
    base_seconds, base_peak, _ = measure(lambda: len(naive_windows(messages)))
    report("baseline: per-row itertuples loop", len(messages), "msgs", base_seconds, base_peak)
    print(
        f"  speed-up vs baseline: {base_seconds / seconds:.1f}x (same work: windows, bursts, emoji)"
    )


if __name__ == "__main__":
    main()
