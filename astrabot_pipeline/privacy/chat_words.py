"""Which words are ordinary chat, not names: a dictionary and real chat text together.

WordNet (through spaCy's lemmatizer tables, `EnglishLexicon`) knows English words, but
not slang, abbreviations and misspellings ("yup", "dang", "imma", "til", "tha"), and many
of those are also given names somewhere in the world name list. So the common-word list
is built from real informal text as well: every English word that `wordfreq` (3.1.1;
its English list merges Twitter, Reddit, film subtitles, Wikipedia, news, books and
web text; code Apache-2.0, data CC BY-SA 4.0, see docs/privacy.md) puts at a Zipf
frequency of `MIN_CHAT_ZIPF` or more: about 29,000 words, seen at least once per million
words. Both lists are lower-case (wordfreq folds case), so a word in them may still be
someone's name: the recognizers decide from the word's position and the words around it.
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from functools import cache

from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.privacy.language import CHAT_WORDS

# Zipf 3 = once per million words. Rare given names sit below it ("sunniva" 1.1,
# "silvana" 2.3, "monika" 2.9); the slang the world name list holds sits above it
# ("imma" 3.1, "nic" 3.4, "dang" 3.7, "til" 4.0, "yup" 4.1).
MIN_CHAT_ZIPF = 3.0
WORDFREQ_LANGUAGE = "en"
WORDFREQ_LIST = "large"


@cache  # read once per process: each analyzer (and each worker's) asks for it
def load_frequent_chat_words(min_zipf: float = MIN_CHAT_ZIPF) -> frozenset[str]:
    """Every English word wordfreq rates at `min_zipf` or more, lower-cased."""
    from wordfreq import get_frequency_list

    # wordfreq's list is bucketed by centibels: bucket i holds the words of frequency
    # 10^(-i/100), and Zipf z is frequency 10^(z-9), so z >= min_zipf is i <= 100(9-z).
    buckets = get_frequency_list(WORDFREQ_LANGUAGE, WORDFREQ_LIST)
    last = round(100 * (9 - min_zipf))
    return frozenset(word for bucket in buckets[: last + 1] for word in bucket)


class OrdinaryWords:
    """Is a lower-case word ordinary English or chat? A dictionary word (any inflection),
    a frequent word of real chat text, a stop word, one of the chat words, or texting's
    respelling of a frequent word (`respelled`: "jokin", "whenevr"; privacy/respellings.py)."""

    def __init__(
        self,
        dictionary: Container[str],
        frequent: Iterable[str],
        respelled: Callable[[str], str | None] = lambda word: None,
    ) -> None:
        self.dictionary = dictionary
        self.frequent = frozenset(frequent)
        self.respelled = respelled

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        return is_chat_vocabulary(word) or word in self.dictionary or self.is_frequent(word)

    def is_frequent(self, word: str) -> bool:
        """A frequent word of real chat text, or texting's respelling of one."""
        return word in self.frequent or self.respelled(word) is not None

    def in_dictionary(self, word: str) -> bool:
        """A word of the dictionary (or a stop or chat word), whatever real text says."""
        return is_chat_vocabulary(word) or word in self.dictionary


def is_chat_vocabulary(word: str) -> bool:
    """A stop word or one of the chat words ("nice", "lol", "bro"): a word wherever it stands."""
    return word in STOP_WORDS or word in CHAT_WORDS


class OrdinaryUnlessNamed:
    """Ordinary words as a Capitalized word is read: a dictionary word (any inflection),
    or a frequent chat word, or texting's respelling of one ("Whenevr"), that no one in
    the world name list is called ("Netflix", "WIFI"). A frequent given name that no
    dictionary has ("Steven") is a name here.

    With `dictionary=False` the dictionary says nothing but its stop and chat words
    ("Nice, see you"): WordNet lists cities and countries ("montreal", "paris") beside
    common nouns, so a place keeps its name.
    """

    def __init__(
        self, ordinary: OrdinaryWords, given_names: Container[str], *, dictionary: bool = True
    ) -> None:
        self.ordinary = ordinary
        self.given_names = given_names
        self.dictionary = dictionary

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        if is_chat_vocabulary(word):
            return True
        if self.ordinary.in_dictionary(word):
            return self.dictionary
        return self.ordinary.is_frequent(word) and word not in self.given_names
