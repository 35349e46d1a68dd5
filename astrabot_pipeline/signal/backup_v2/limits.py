"""How much a backup-v2 input may make us read: one frame, and the whole decompressed stream.

A backup is untrusted input. Both the plaintext export (`main.jsonl`, usually deflated
inside a ZIP) and the encrypted `main` (a gzip stream) are compressed, and a few hundred
kilobytes of deflate can expand to gigabytes. These bounds keep the work and the memory
of a decode proportional to what a real Signal export of that size can hold.
"""

from __future__ import annotations

MAX_FRAME_BYTES = 4 << 20
"""The largest single frame we accept: one `main.jsonl` line or one protobuf record.

One constant for both encodings. Nothing large is inline in a backup-v2 frame: attachments
are FilePointers, and Signal keeps a message body inline only up to 2 KiB (longer text is
a long-text attachment; Signal-Android `MessageUtil.MAX_INLINE_BODY_SIZE_BYTES`). The
largest real frames are a group Recipient (at most ~1000 members plus pending and banned
lists), a chat folder or story audience listing thousands of recipient ids, or a chat item
with its edit history and reactions from a whole group: at most a few hundred kilobytes as
protobuf-JSON (base64 and field names make JSON ~2-3x the binary record, so the binary
record of the same frame is smaller still). 4 MiB is ~10x that. It also bounds what one
frame costs: 4 MiB of the smallest nested messages (2 bytes each in binary) parse to 2
million sub-messages, ~0.4 s and ~200 MiB; the JSON form is bounded further below.
"""

MAX_JSON_VALUES = 1 << 18
"""The most objects, arrays and list items (`{`, `[` and `,`) one `main.jsonl` line may hold.

Parsing a JSON line builds a Python object per value and then a protobuf message per
object, ~7 us and ~200 bytes each: a 4 MiB line of `{},{},...` would cost ~10 s and ~500
MiB. The largest real frames hold a few thousand values (1000 group members with three
fields each, thousands of ids in a chat folder); 262,144 leaves ~25x that and bounds
one line to ~2 s. Counted at C speed, and only on lines longer than the count itself.
"""

EXPANSION_RATIO = 32
"""How many times its compressed size the decompressed stream may be.

Signal's JSON lines repeat the same field names on every line, but carry dates, ids,
base64 keys and message text that compress poorly: a real export deflates 3-10x (the
binary `main` less). 32x leaves room for a history of many short, near-identical
messages; deflate can reach ~1000x, which only constructed input (long runs of one byte,
blank lines) does.
"""

EXPANSION_FLOOR = 4 << 20
"""The decompressed size always allowed, however small the compressed input.

A tiny export (one chat, a few messages) may compress better than a large one because
its fixed frames (account, settings) dominate, but it is kilobytes of JSON; 4 MiB is far
beyond any such export. The floor also bounds the work a tiny hostile file can cause:
4 MiB of the smallest frames (`{"chat":{}}`, ~11 us each to parse) is ~4 s of work, and
above the floor the work grows only with the compressed size (32x).
"""


def decompressed_limit(compressed_size: int) -> int:
    """The most decompressed bytes a `compressed_size`-byte stream may produce."""
    return max(EXPANSION_FLOOR, EXPANSION_RATIO * max(compressed_size, 0))


def expansion_message(what: str, size: str, compressed_size: int) -> str:
    """One-line explanation of a refused expansion: `what` {size} from N compressed bytes."""
    limit = decompressed_limit(compressed_size)
    return (
        f"{what} {size} from {compressed_size:,} compressed bytes; a real Signal backup of that "
        f"size holds at most {limit:,} ({EXPANSION_RATIO}x, at least {EXPANSION_FLOOR >> 20} "
        "MiB), so the file is refused as a decompression bomb"
    )


__all__ = [
    "EXPANSION_FLOOR",
    "EXPANSION_RATIO",
    "MAX_FRAME_BYTES",
    "MAX_JSON_VALUES",
    "decompressed_limit",
    "expansion_message",
]
