"""Real text messages for the anonymizer's precision set: the SMS Spam Collection (CC BY 4.0).

The legitimate ("ham") messages of the SMS Spam Collection v.1 are phone texting as people
write it (most from the NUS SMS Corpus, Singaporean students; the rest from the UK):
ellipses, "lor", "noe", "tmr", "wif", SHOUTED lines. A seeded random draw of them,
labelled by hand for personal data, is the second clean-chat precision set beside the
#duraspace one (benchmarks/_real_chat.py, which also reads and checks the labels). Source,
licence, the draw and the labelling rules are in docs/real-chat-corpus.md.

    python benchmarks/_sms_chat.py sample --collection SMSSpamCollection --n 2000 --seed 20 --out DRAW
    python benchmarks/_sms_chat.py label --draw DRAW --notes NOTES [NOTES ...] --out LABELS

`label` turns the annotators' notes (one JSON line per drawn message: `{"id", "notes":
[[exact string, type], ...]}`) into character spans, every whole-word occurrence of each
noted string, and refuses a note that does not occur.
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import _real_chat as real_chat  # noqa: E402

LABELS_FILE = real_chat.DATA_DIR / "sms_precision_labels.jsonl"
CHANNEL = "sms"
HAM = "ham"


def read_collection(lines: Iterable[str]) -> list[real_chat.ChatMessage]:
    """The collection's ham messages, entities decoded ("&lt;#&gt;" is the NUS corpus's own
    mask "<#>" for a number), each distinct text once (its first line), `id` = its line
    number in the collection's file."""
    messages: list[real_chat.ChatMessage] = []
    seen: set[str] = set()
    for number, line in enumerate(lines, start=1):
        line = line.rstrip("\n")
        if not line:
            continue
        label, tab, raw = line.partition("\t")
        if not tab or label not in (HAM, "spam"):
            raise real_chat.RealChatError(f"collection line {number} is not 'ham|spam<TAB>text'")
        text = html.unescape(raw)
        if label == HAM and text not in seen:
            seen.add(text)
            messages.append(real_chat.ChatMessage(number, "", 0, text, CHANNEL))
    return messages


def load_collection(path: Path) -> list[real_chat.ChatMessage]:
    if not path.is_file():
        raise real_chat.RealChatError(f"{path} is missing: see docs/real-chat-corpus.md")
    with path.open(encoding="utf-8", newline="\n") as lines:
        return read_collection(lines)


def _whole_word_occurrences(text: str, needle: str) -> list[tuple[int, int]]:
    return [m.span() for m in re.finditer(rf"(?<!\w){re.escape(needle)}(?!\w)", text)]


def spans_from_notes(text: str, notes: Sequence[Sequence[str]]) -> tuple[tuple[int, int, str], ...]:
    """Every whole-word occurrence of each noted string as (start, end, type); where two
    notes overlap ("ubi" inside "ubi tech park") the longer span stands for both."""
    spans: list[tuple[int, int, str]] = []
    for needle, kind in notes:
        if kind not in real_chat.SPAN_TYPES:
            raise real_chat.RealChatError(f"unknown span type {kind!r}")
        found = _whole_word_occurrences(text, needle)
        if not found:
            raise real_chat.RealChatError(f"a note does not occur as whole words: {needle!r}")
        spans.extend((start, end, kind) for start, end in found)
    kept: list[tuple[int, int, str]] = []
    for span in sorted(set(spans), key=lambda s: (-(s[1] - s[0]), s[0])):
        if all(span[1] <= other[0] or other[1] <= span[0] for other in kept):
            kept.append(span)
    return tuple(sorted(kept))


def label_rows(
    draw: Sequence[real_chat.ChatMessage],
    notes: Mapping[int, Sequence[Sequence[str]]],
    ordinary: Iterable[str],
) -> list[dict]:
    """The precision set's JSON rows (the #duraspace set's format) for `draw`; every drawn
    message must have its notes (an empty list when it holds no personal data)."""
    missing = [message.id for message in draw if message.id not in notes]
    if missing or len(notes) != len(draw):
        raise real_chat.RealChatError(
            f"notes and draw differ: {len(missing)} drawn messages without notes, "
            f"{len(notes)} notes for {len(draw)} messages"
        )
    words = frozenset(ordinary)
    return [
        {
            "id": message.id,
            "speaker": message.speaker,
            "text": message.text,
            "spans": [list(span) for span in spans_from_notes(message.text, notes[message.id])],
            "style": real_chat.style_flags(message.text, words),
        }
        for message in draw
    ]


def _read_notes(paths: Sequence[Path]) -> dict[int, list[list[str]]]:
    notes: dict[int, list[list[str]]] = {}
    for path in paths:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                notes[int(row["id"])] = [[str(s), str(kind)] for s, kind in row["notes"]]
    return notes


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    sample_cmd = commands.add_parser("sample", help="a seeded random draw of ham messages")
    sample_cmd.add_argument("--n", type=int, default=2000)
    sample_cmd.add_argument("--seed", type=int, required=True)
    label_cmd = commands.add_parser("label", help="notes -> the labels file")
    label_cmd.add_argument("--draw", type=Path, required=True)
    label_cmd.add_argument("--notes", type=Path, nargs="+", required=True)
    for command in (sample_cmd, label_cmd):
        command.add_argument("--collection", type=Path, required=True)
        command.add_argument("--out", type=Path, required=True)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    messages = load_collection(args.collection)
    if args.command == "sample":
        draw = real_chat.draw_sample(messages, args.n, args.seed)
        lines = "".join(
            json.dumps({"id": m.id, "text": m.text}, ensure_ascii=False) + "\n" for m in draw
        )
        real_chat.storage.write_text(args.out, lines)
        print(f"drew {len(draw)} of {len(messages)} distinct ham messages (seed {args.seed})")
        return 0
    by_id = {message.id: message for message in messages}
    drawn = [json.loads(line)["id"] for line in args.draw.read_text().splitlines() if line]
    draw = [by_id[int(i)] for i in drawn]
    rows = label_rows(draw, _read_notes(args.notes), real_chat.ordinary_words(messages))
    lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
    real_chat.storage.write_text(args.out, lines)
    labelled = sum(bool(row["spans"]) for row in rows)
    print(f"labelled {len(rows)} messages, {labelled} with personal data")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except real_chat.RealChatError as error:
        print(f"error: {error}", file=sys.stderr)
        sys.exit(2)
