"""What spaCy's NER reads: the text with SHOUTED words in Title case, offsets unchanged.

The small English model learned places and people as Capitalized words, so it misses
"I'm in ÖSTERSKÄR" or "grew up in KNIVSTA" (measured on presidio-research's samples with
an ALL-CAPS person or place: 7 of 69 found as written, 34 of 69 Title-cased). Only NER
reads this view; every other recognizer, and the replacement, use the text as written.
A text that is mostly capitals is shouting, not names, and is left as it is.
"""

from __future__ import annotations

import regex

MIN_SHOUTED_LETTERS = 3
SHOUTING_SHARE = 0.6
_SHOUTED_WORD = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}])\p{{Lu}}{{{MIN_SHOUTED_LETTERS},}}(?![\p{{L}}\p{{N}}])"
)


def ner_view(text: str) -> str:
    """`text` with each ALL-CAPS word Title-cased, unless the text itself is shouted."""
    letters = [char for char in text if char.isalpha()]
    if not letters or sum(char.isupper() for char in letters) > SHOUTING_SHARE * len(letters):
        return text
    return _SHOUTED_WORD.sub(_title_case, text)


def _title_case(match: regex.Match) -> str:
    word = match.group()
    titled = word[0] + word[1:].lower()
    return titled if len(titled) == len(word) else word  # "İ" lower-cases to two characters
