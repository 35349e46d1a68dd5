"""People's given names the small NER model misses: a world name list, read with care.

spaCy's small English model misses names it has not seen ("Sunniva is very reliable",
"my kid Tadzio") and every lower-case one ("tell silvana"). A list of 48,000 given names
from many countries (Jörg Michael's, shipped in the `gender-guesser` package) finds them,
but many given names are also English words ("Will", "May", "Rose", "Hope", "Mark")
or chat slang ("yup", "dang", "imma", "til"). So a name counts only where it cannot be
read as a word (privacy/chat_words.py says which words are ordinary; privacy/name_context.py
reads the words around one):

- Capitalized in the middle of a sentence: a name, unless it is a stop word or a month
  or weekday ("in May");
- Capitalized at the start of a sentence, SHOUTED, or lower-case: a name when it is no
  ordinary word at all, in any inflection ("ran", "prices"): absent from the lemma index
  (WordNet's nouns, verbs, adjectives and adverbs) that ships with the spaCy model and
  from the words frequent in real chat text, and no chat noise ("hey"); SHOUTED in a
  message written in lower case, it is an acronym ("interested in CRIS") unless a chat
  cue names it;
- an ordinary word is a name only with a chat cue ("hey peter!!", "tell joseph",
  "thomas's place", "Max said"), or in lower case when it is in no dictionary (only
  frequent in real text, like "larry" or "brenda") and a common family name follows it
  ("assign to larry stone"), or after a label asking for a name ("Name: Jan"); a
  form label itself ("IBAN:", "Tel:") never is, and a form label's word anywhere ("send
  me the iban", "IBAN and BIC") is a name only with a chat cue ("hey iban").

A name found takes the family name after it ("Faina D. Yefremova", "monika žilková")
when the next words are Capitalized (or, after a lower-case name, are no English word).
"""

from __future__ import annotations

import calendar
import functools
from collections.abc import Callable, Container, Iterable
from dataclasses import dataclass

import regex
from spacy.lang.en.stop_words import STOP_WORDS

from astrabot_pipeline.privacy.chat_words import is_chat_vocabulary
from astrabot_pipeline.privacy.name_context import (
    ADDRESS_TERMS,
    FIELD_LABELS,
    follows_name_label,
    greets,
    has_name_cue,
    is_determined_word,
    is_field_label,
    is_mostly_lower_case,
    is_vocative,
    starts_sentence,
)

MIN_NAME_LETTERS = 3
MAX_FAMILY_WORDS = 2
_WORD = regex.compile(r"[\p{L}][\p{L}'’\-]+")  # single letters are initials
_POSSESSIVE = regex.compile(r"['’]s?$")
_INITIAL = regex.compile(r"[ \t]+(?:\p{Lu}\.?[ \t]+)?")  # "Faina D. Yefremova", "Szabina J G"
# Days, months and times of day, with chat's other abbreviations of them ("Good Night",
# "Peaceful Morning": the world list holds Night).
CALENDAR_WORDS = frozenset(
    word.lower()
    for word in (
        *calendar.month_name[1:],
        *calendar.month_abbr[1:],
        *calendar.day_name,
        *calendar.day_abbr,
        *("Tues", "Thur", "Thurs", "Sept"),
        *("Morning", "Afternoon", "Evening", "Night", "Nite", "Tonight", "Midnight", "Noon"),
    )
)

# Texting's spellings of function words that the world name list also holds: "they wer
# told dat the plane", "ask cos u know", "i dun mind". As stop words, never names.
TEXTING_FUNCTION_WORDS = frozenset({"dat", "cos", "dun"})


@dataclass(frozen=True)
class NameSpan:
    start: int
    end: int


@functools.cache
def load_given_names() -> frozenset[str]:
    """Every given name in gender-guesser's list, lower-cased; read once per process (about
    0.3 s), as the analyzer and the identifier digests both need the same immutable set."""
    from gender_guesser.detector import Detector

    return frozenset(Detector(case_sensitive=False).names)


# Faker's English-speaking locales: their family-name lists are each country's most common
# surnames (the en_US list is the US census's top 1,000), which is where the family names
# that are also English words come from ("Smith", "Baker", "Young", "Page", "Long").
FAMILY_NAME_LOCALES = ("en_US", "en_GB", "en_IE", "en_NZ", "en_IN", "en_PK", "en_TH")


@functools.cache
def load_family_names() -> frozenset[str]:
    """Common family names of the English-speaking world, lower-cased (about 4,100);
    read once per process (about 0.2 s with Faker's import)."""
    import importlib

    names: set[str] = set()
    for locale in FAMILY_NAME_LOCALES:
        provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
        names.update(name.lower() for name in provider.last_names)
    return frozenset(names)


class NameGazetteer:
    """Finds given names (and the family names after them) that read as names only."""

    def __init__(
        self,
        given_names: Iterable[str],
        english_words: Container[str],
        is_noise: Callable[[str], bool] = lambda word: False,
        family_names: Container[str] = frozenset(),
        in_dictionary: Callable[[str], bool] = lambda word: True,
    ) -> None:
        self.given_names = frozenset(given_names)
        self.english_words = english_words
        self.is_noise = is_noise
        self.family_names = family_names
        self.in_dictionary = in_dictionary

    def _is_word(self, lower: str) -> bool:
        return lower in self.english_words or _is_function_word(lower)

    def _reads_as_name(self, text: str, start: int, word: str) -> bool:
        lower = word.lower()
        if len(lower) < MIN_NAME_LETTERS or lower not in self.given_names or self.is_noise(word):
            return False
        end = start + len(word)
        if is_field_label(text, start, end):
            return False
        if follows_name_label(text, start):
            return True
        if lower in FIELD_LABELS:  # "send me the iban", "IBAN and BIC"; not "hey iban"
            return has_name_cue(text, start, end)
        if is_determined_word(text, start, word, self.in_dictionary, self.family_names):
            return False  # "my Love", "your Valentine", "the guy wants"
        if word[0].isupper() and not word.isupper() and not starts_sentence(text, start):
            return not _is_function_word(lower)
        if is_chat_vocabulary(lower) and greets(text, start) and not is_vocative(text, end):
            return False  # "hi hope u get this", "yo theres no class"; "hey noe!!" is a name
        if not self._is_word(lower):
            return self._non_word_reads_as_name(text, start, word)
        if _is_function_word(lower) or lower in ADDRESS_TERMS:
            return False
        return has_name_cue(text, start, end) or (
            word.islower()
            and not self.in_dictionary(lower)
            and self._family_name_follows(text, end)
        )

    def _non_word_reads_as_name(self, text: str, start: int, word: str) -> bool:
        """A listed given name that is no English word: a name, unless it is SHOUTED in a
        message written in lower case, where it is an acronym ("interested in CRIS",
        "whether DAO is") and a name only with a chat cue ("hey KAI"). Acronyms are
        written in Latin letters without accents, as `ChatNerRecognizer` reads them ("ask
        JÖRG" stays a name). In a shouted message every word is SHOUTED, so there it is a
        name."""
        if word.isupper() and word.isascii() and is_mostly_lower_case(text):
            return has_name_cue(text, start, start + len(word))
        return True

    def _family_name_follows(self, text: str, end: int) -> bool:
        """Whether a common family name in lower case comes right after (`end`): "assign
        to larry stone", "brenda robinson from work added me"."""
        following = _WORD.match(text, end + 1)
        if following is None or text[end] not in " \t":
            return False
        family = _bare(following.group())
        return family.islower() and self._is_listed_family_name(family)

    def _is_listed_family_name(self, lower: str) -> bool:
        return (
            len(lower) >= MIN_NAME_LETTERS
            and lower in self.family_names
            and not _is_function_word(lower)
            and not self.is_noise(lower)
        )

    def _is_family_name(self, word: str, after_lower_case: bool) -> bool:
        if self.is_noise(word):
            return False
        if word.isupper() and len(word) > 1:
            # SHOUTED, every word has its capital: "HEY KATE U MISSED IT", "JOHN SMITH".
            lower = word.lower()
            return not self._is_word(lower) or self._is_listed_family_name(lower)
        if word[0].isupper():
            return not _is_function_word(word.lower())
        return (
            after_lower_case
            and len(word) >= MIN_NAME_LETTERS
            and (not self._is_word(word) or self._is_listed_family_name(word))
        )

    def find(self, text: str) -> list[NameSpan]:
        words = [(m.start(), _bare(m.group())) for m in _WORD.finditer(text)]
        spans: list[NameSpan] = []
        i = 0
        while i < len(words):
            start, word = words[i]
            if not self._reads_as_name(text, start, word):
                i += 1
                continue
            end = start + len(word)
            j = i + 1
            while j < len(words) and j - i <= MAX_FAMILY_WORDS:
                next_start, next_word = words[j]
                gap = _INITIAL.fullmatch(text, end, next_start)
                if gap is None or not self._is_family_name(next_word, word.islower()):
                    break
                end = next_start + len(next_word)
                j += 1
            spans.append(NameSpan(start, end))
            i = j
        return spans


def _bare(word: str) -> str:
    """The word without a possessive or trailing apostrophe ("Roberto's" -> "Roberto")."""
    return _POSSESSIVE.sub("", word) or word


def _is_function_word(lower: str) -> bool:
    """A stop word, texting's spelling of one, or a month or weekday: a word wherever it
    stands, even Capitalized."""
    return lower in STOP_WORDS or lower in TEXTING_FUNCTION_WORDS or lower in CALENDAR_WORDS


class EnglishLexicon:
    """Is a word English? WordNet's lemmas, their irregular forms, and the suffix rules
    ("ran" -> run, "prices" -> price, "kinder" -> kind), as spaCy's lemmatizer ships them."""

    POS = ("noun", "verb", "adj", "adv")

    def __init__(
        self,
        lemmas: Iterable[str],
        irregular: Iterable[str] = (),
        suffix_rules: Iterable[tuple[str, str]] = (),
    ) -> None:
        self.lemmas = frozenset(lemmas)
        self.irregular = frozenset(irregular)
        self.suffix_rules = tuple(dict.fromkeys((old, new) for old, new in suffix_rules if old))

    @classmethod
    def from_spacy(cls, nlp) -> EnglishLexicon:
        """The lemmatizer tables of a loaded spaCy pipeline (enabled or not)."""
        return cls.from_lookups(dict(nlp.components)["lemmatizer"].lookups)

    @classmethod
    def from_lookups(cls, lookups) -> EnglishLexicon:
        """A spaCy lemmatizer's `Lookups` (lemma_index, lemma_exc, lemma_rules)."""
        index, exceptions = lookups.get_table("lemma_index"), lookups.get_table("lemma_exc")
        rules = lookups.get_table("lemma_rules")
        return cls(
            (word for pos in cls.POS for word in index.get(pos, ())),
            (word for pos in cls.POS for word in exceptions.get(pos, {})),
            (tuple(rule) for pos in cls.POS for rule in rules.get(pos, ())),
        )

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str):
            return False
        if word in self.lemmas or word in self.irregular:
            return True
        return any(
            word.endswith(old) and word[: -len(old)] + new in self.lemmas
            for old, new in self.suffix_rules
        )
