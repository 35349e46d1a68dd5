"""Which forms the privacy stage would record as real identifiers survive in the owner's
own anonymized messages of real chat (the #duraspace IRC logs, docs/real-chat-corpus.md).

Every such form is a "leak" the evaluation's scan flags whenever a model writes it, so a
topic word recorded as an identifier ("DSpace", "roadmap") fails the leakage check of a
model that merely talks like its owner. This anonymizes the history with the address book
its built backup decodes to (every speaker by their nick; `--no-contacts`: none), digests
what was replaced with the privacy stage's own `record_identifier_digests` and scans
the owner's anonymized messages with the evaluation's `LeakageScanner`.

    python benchmarks/bench_real_chat_leak_forms.py [--start 2018-03-01] [--end DATE] [--top 30]

Prints how many owner messages hold a recorded real identifier and the most frequent
forms (the corpus is public; no private text is involved).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import _real_chat as real_chat  # noqa: E402

from astrabot_pipeline.evaluation.privacy.leakage_scan import LeakageScanner  # noqa: E402
from astrabot_pipeline.privacy.anonymizer import ConversationAnonymizer  # noqa: E402
from astrabot_pipeline.privacy.identifier_digests import (  # noqa: E402
    KINDS,
    IdentifierDigests,
    record_identifier_digests,
)
from astrabot_pipeline.privacy.known_contacts import KnownContacts  # noqa: E402
from astrabot_pipeline.signal import SignalProcessor  # noqa: E402


def history_contacts(messages: list[real_chat.ChatMessage], owner: str) -> KnownContacts:
    """The address book the privacy stage reads from this history: the history written as
    its encrypted backup (every speaker a contact known by their nick), decoded, and read
    with `KnownContacts.from_recipients`, as the privacy stage does."""
    with tempfile.TemporaryDirectory() as folder:
        corpus = real_chat.signal_corpus(messages, owner)
        backup = real_chat.write_history(corpus, Path(folder) / "in")
        tables = (
            SignalProcessor(real_chat.PASSPHRASE, extract_attachments=False)
            .decode(backup, Path(folder) / "out")
            .read_tables()
        )
    return KnownContacts.from_recipients(tables["recipients"], tables["recipient_names"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--start", type=date.fromisoformat, default=date(2018, 3, 1))
    parser.add_argument("--end", type=date.fromisoformat, default=None)
    parser.add_argument("--owner", help="a nick; default: the most active speaker")
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument(
        "--no-contacts",
        action="store_true",
        help="no address book (default: every speaker's nick, as the built history has)",
    )
    args = parser.parse_args()

    messages = real_chat.between(real_chat.load_messages(), args.start, args.end)
    owner = real_chat.choose_owner(messages, args.owner, minimum=1)
    texts = [m.text for m in messages]
    started = time.perf_counter()
    contacts = KnownContacts() if args.no_contacts else history_contacts(messages, owner)
    anonymizer = ConversationAnonymizer(contacts, b"k" * 32, batch_size=64)
    result = anonymizer.anonymize_texts(texts)
    seconds = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as secrets:  # the privacy stage's own digest step
        counts = record_identifier_digests(secrets, anonymizer, contacts, None, [(texts, result)])
        scanner = LeakageScanner(IdentifierDigests.from_data_dir(secrets))

    owned = [
        anonymized
        for message, anonymized in zip(messages, result.texts, strict=True)
        if message.speaker == owner and isinstance(anonymized, str)
    ]
    forms: Counter[str] = Counter()
    holding = 0
    for text, scan in zip(owned, scanner.scan(owned), strict=True):
        found = [text[start:end] for start, end, kind in scan.flagged if kind == "real"]
        holding += bool(found)
        forms.update(found)
    replaced = sum(len(items) for items in result.replacements)
    kinds = {kind: counts[f"identifier_digests_{kind}"] for kind in KINDS}
    print(f"messages {len(texts)}  replaced spans {replaced}  anonymized in {seconds:.1f} s")
    print("identifiers digested per kind:", kinds)
    print(f"{holding} of {len(owned)} owner messages hold a recorded real identifier")
    print("top forms:", forms.most_common(args.top))


if __name__ == "__main__":
    main()
