"""Adversarial chat messages for proving the vectorized VADER scorer equal to the library.

Shared by `test_conversation_tone.py` and `benchmarks/bench_tone_topic.py`. Words are
drawn from VADER's own tables (lexicon, boosters, negations, idioms, emoji), mixed with
the case, punctuation, whitespace and Unicode shapes its rules react to.
"""

from __future__ import annotations

import random

from vaderSentiment import vaderSentiment as vader

EDGE_CASES = (
    "",
    " ",
    "\n\t ",
    "!!!",
    "???",
    "ok",
    "good",
    "GOOD",
    "this is GOOD",
    "this is GOOD!!!",
    "i am NOT happy???",
    "not bad at all",
    "no",
    "no good",
    "no no no",
    "NO worries",
    "no problem or worry",
    "no fun nor joy",
    "it isn't great",
    "it wasn't very good",
    "it was not really that bad",
    "never so happy",
    "never this good!",
    "without a doubt, excellent idea",
    "without doubt amazing",
    "so so good",
    "this this bad",
    "VERY good",
    "very GOOD",
    "VERY GOOD",
    "extremely bad",
    "slightly annoying",
    "kind of good",
    "kinda good",
    "sort of bad",
    "just enough fun",
    "it was good but the ending was bad",
    "good but good but bad",
    "but",
    # VADER's "but" finds values by equality: nice (1.8) halved is jk (0.9), so the
    # library halves "nice" twice and leaves "jk" alone; love (3.2) halved is jw (1.6).
    "nice jk but ok",
    "nice but nice jk",
    "love, jw but whatever",
    "but nice lmso",
    "good good but good good",
    "BUT it was good",
    "at least it works",
    "the least fun",
    "very least good",
    "that is the shit",
    "the bomb",
    "bad ass movie",
    "yeah right great",
    "kiss of death",
    "to die for",
    "my beating heart",
    "wait at the bus stop",
    "lol 😂😂😂",
    "😂",
    "😍🔥",
    "❤️",
    "👍🏽 sounds good",
    "👨‍👩‍👧 family time",
    "🏳️‍🌈 pride!",
    "🇩🇪 won",
    "😀abc",
    "abc😀",
    ":) :( :D :-( <3 </3",
    "XD lol LOL lmao",
    "sux",
    "I LOVE IT",
    "I love it",
    "i can't even",
    "don't like it",
    "dont like it",
    "wouldn’t like it",
    "café is great",
    "İyi good",
    "\u212aind good",
    "ǅemal good",
    "ﬁne FINE",
    "good\u00a0bad",
    "good\x1cbad",
    "good\u2003great",
    "good\u200bgreat",
    "good\u3000great",
    "good\u0085great",
    "<PERSON> is great",
    "https://example.com/great-news awesome",
    "GREAT!!!!!!!",
    "great?? really??",
    "great? really? why? how?",
    "!good!",
    "(good)",
    "'good'",
    "no, good",
    "a, b, c",
)

_FILLERS = (
    "i", "you", "the", "a", "it", "was", "is", "we", "movie", "tonight", "at", "to", "of",
    "very", "for", "that", "and", "or", "nor", "so", "this", "never", "without", "doubt",
    "but", "least", "kind", "sort", "just", "enough", "no", "not", "n't", "don't", "isn't",
    "right", "yeah", "the", "bus", "stop", "die", "heart", "beating", "death", "kiss", "bad",
    "ass", "shit", "bomb", "<PERSON>", "https://x.com/a/status/1", "7:30", "10", "café",
    "\u212aind", "İ", "ǅ", "ß", "ﬁ", "naïve",
)  # fmt: skip
_SEPARATORS = (
    " ", " ", " ", " ", "  ", "\t", "\n", "\u00a0", "\x1c", "\u2003", "\u200b", "", "\u3000",
)  # fmt: skip
_AFFIXES = ("", "", "", "", "!", "!!", "!!!!!", "?", "??", "???", ".", ",", "...", "'", '"', ":", ")", "(", "*")  # fmt: skip


def adversarial_texts(n: int, seed: int = 0) -> list[str]:
    """The edge cases, then random messages built from VADER's own tables, n in all."""
    rng = random.Random(seed)
    analyzer = vader.SentimentIntensityAnalyzer()
    lexicon = sorted(analyzer.lexicon)
    boosters = sorted(vader.BOOSTER_DICT)
    negations = sorted(vader.NEGATE)
    idioms = sorted([*vader.SPECIAL_CASES, *vader.SENTIMENT_LADEN_IDIOMS])
    emoji = sorted(analyzer.emojis)
    pools = (
        (lexicon, 5),
        (boosters, 2),
        (negations, 2),
        (idioms, 1),
        (emoji, 2),
        (_FILLERS, 4),
    )
    population = [pool for pool, weight in pools for _ in range(weight)]
    texts = list(EDGE_CASES)
    while len(texts) < n:
        parts = []
        for _ in range(rng.randint(0, 12)):
            word = rng.choice(rng.choice(population))
            shape = rng.random()
            if shape < 0.15:
                word = word.upper()
            elif shape < 0.2:
                word = word.title()
            word = rng.choice(_AFFIXES) + word + rng.choice(_AFFIXES)
            parts.append(word)
            parts.append(rng.choice(_SEPARATORS))
        texts.append("".join(parts))
    return texts[:n]
