"""Texting's respellings of frequent English words: "jokin", "whenevr", "tomarrow", "wherre".

Phone texting drops a final g, drops vowels, swaps a vowel or stretches a letter, and
spaCy's small model then tags the respelled word that opens a message ("Jokin only lar",
"Whenevr ur sad") as a person or a place. A word is read as a respelling of a frequent
word (wordfreq Zipf `MIN_RESPELLED_ZIPF` or more, `MIN_TARGET_LETTERS` letters or more)
only in these forms, each of which keeps the word's consonants in order:

- a dropped g: "jokin" -> joking, "guessin" -> guessing;
- dropped vowels, at most `MAX_DROPPED_VOWELS`, first letter kept: "whenevr" -> whenever,
  "becaus" -> because, "thts" -> thats;
- one vowel changed, in a word of `MIN_SWAP_LETTERS` letters or more: "tomarrow" ->
  tomorrow;
- a letter doubled or stretched: "wherre" -> where, "sooooo" -> so;
- a doubled letter written once: "realy" -> really, "wana" -> wanna.

Names keep their vowels, so a rare name is seldom one of these ("Tessy", "Yunny", "Raji"
are not), and a word of the world name lists is never read as a respelling
(`unless_named`).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Container, Iterable
from functools import cache

import regex

MIN_RESPELLED_ZIPF = 3.5  # the respelled word: about 3 per million words or more
MIN_TARGET_LETTERS = 4
MIN_WORD_LETTERS = 4
MAX_DROPPED_VOWELS = 3
MIN_SWAP_LETTERS = 6
_VOWELS = frozenset("aeiou")
_RUN = regex.compile(r"(.)\1+")


def _skeleton(word: str) -> str:
    return "".join(char for char in word if char not in _VOWELS)


def _is_subsequence(short: str, long: str) -> bool:
    letters = iter(long)
    return all(char in letters for char in short)


class Respellings:
    """Which frequent word a lower-case ASCII word respells, if any."""

    def __init__(self, frequent: Iterable[str]) -> None:
        self.frequent = frozenset(
            word for word in frequent if word.isascii() and word.isalpha() and len(word) >= 2
        )
        self.by_skeleton: dict[str, list[str]] = defaultdict(list)
        self.by_single_letters: dict[str, str] = {}  # "realy" -> really
        for word in sorted(self.frequent):
            if len(word) >= MIN_TARGET_LETTERS:
                self.by_skeleton[_skeleton(word)].append(word)
                self.by_single_letters.setdefault(_RUN.sub(r"\1", word), word)

    def original(self, word: str) -> str | None:
        """The frequent word `word` respells, or None (also for a frequent word itself)."""
        if len(word) < MIN_WORD_LETTERS or not (word.isascii() and word.isalpha()):
            return None
        word = word.lower()
        if word in self.frequent:
            return None
        for collapsed in (_RUN.sub(r"\1\1", word), _RUN.sub(r"\1", word)):
            if collapsed != word and collapsed in self.frequent:
                return collapsed
        if word in self.by_single_letters:
            return self.by_single_letters[word]
        if word.endswith("in") and word + "g" in self.frequent:
            return word + "g"
        for target in self.by_skeleton.get(_skeleton(word), ()):
            if self._respells(word, target):
                return target
        return None

    def unless_named(self, *names: Container[str]) -> Callable[[str], str | None]:
        """`original`, but None for a word of any of the name lists `names` ("darin" is a
        name before it is "daring")."""

        def original(word: str) -> str | None:
            lower = word.lower()
            return None if any(lower in listed for listed in names) else self.original(word)

        return original

    @staticmethod
    def _respells(word: str, target: str) -> bool:
        if word[0] != target[0]:
            return False
        dropped = len(target) - len(word)
        if 0 < dropped <= MAX_DROPPED_VOWELS:
            return _is_subsequence(word, target)
        if dropped == 0 and len(word) >= MIN_SWAP_LETTERS:
            return sum(a != b for a, b in zip(word, target, strict=True)) == 1
        return False


@cache  # one index per process, shared by every analyzer that asks
def frequent_word_respellings(min_zipf: float = MIN_RESPELLED_ZIPF) -> Respellings:
    from astrabot_pipeline.privacy.chat_words import load_frequent_chat_words

    return Respellings(load_frequent_chat_words(min_zipf))
