import random

import emoji
import pandas as pd

from astrabot_pipeline.conversations import EmojiAnalyzer, split_emoji
from astrabot_pipeline.conversations.emoji_analysis import top_emoji
from astrabot_pipeline.synthetic import generate_corpus


def test_ascii_text_holds_no_emoji_in_the_package_data():
    # The fast path skips ASCII bodies: sound only if no emoji is pure ASCII.
    assert not any(key.isascii() for key in emoji.EMOJI_DATA)
    assert emoji.emoji_count("".join(chr(c) for c in range(128))) == 0


def _bodies() -> list[str | None]:
    corpus = generate_corpus(n_messages=2_000, seed=5)
    rng = random.Random(5)
    keys = sorted(emoji.EMOJI_DATA)
    bodies: list[str | None] = [m.body for m in corpus.chat_messages]
    # Every emoji in the data, alone, glued to words, repeated and with odd neighbours.
    for key in keys:
        bodies.append(f"{rng.choice(['ok', 'café', 'ñ'])}{key}{rng.choice(keys)} x")
    bodies += [None, "", "   ", "1️⃣2️⃣#", "a\u200d😂\u200db", "👨\u200d🦰\u200d👩", "❤︎ ❤", "🇩🇪🇫"]
    return bodies


def test_scan_equals_the_emoji_package_on_every_body():
    bodies = _bodies()
    scan = EmojiAnalyzer().scan(pd.Series(bodies, dtype=object))
    for body, count, joined, only in zip(
        bodies, scan.count, scan.emoji, scan.emoji_only, strict=True
    ):
        expected = [m["emoji"] for m in emoji.emoji_list(body)] if body else []
        assert split_emoji([joined]) == expected, repr(body)
        assert count == len(expected)
        stripped = "".join(body.split()) if body else ""
        assert only == (bool(expected) and "".join(expected) == stripped)


def test_skin_tone_and_zwj_sequences_count_as_one_emoji():
    scan = EmojiAnalyzer().scan(pd.Series(["👍🏽", "👩🏾‍💻 ok", "🏳️‍🌈🏳️‍🌈", "plain"]))
    assert scan.count.tolist() == [1, 1, 2, 0]
    assert scan.emoji_only.tolist() == [True, False, True, False]
    assert scan.count.dtype == "int32"


def test_top_emoji_are_the_most_used_first():
    assert top_emoji(["😂 ❤️", "😂", "", None, "🔥 🔥 🔥"], n=2) == "🔥😂"
    assert EmojiAnalyzer().top_emoji(pd.Series(["a 😂", "😂🙏", None]), n=1) == [("😂", 2)]
