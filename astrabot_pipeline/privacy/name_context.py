"""The words around a word that tell it is a name in chat, read from the text itself.

Presidio's context enhancer is off (it needs spaCy's lemmas, which would double the NER
time), so the name recognizers read their evidence straight from the characters around
a word:

- a chat cue: "hey X", "tell X", "ask X", "text X", "X said", "X's place";
- a field label before it: "Name: Jan" (Jan is a name there, not a month);
- a field label itself: "IBAN:", "Tel:", "Name:" are context, never identifiers;
- a sentence start: there every word is Capitalized, so capitals say nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Container

import regex

# Words said to a person or about one, right before the name: "hey peter!!", "tell joseph".
# "with X" is not among them: "with love", "with joy", "with grace" are more common.
_GREETINGS = "hey+|hi+|hello|hiya|heya|yo|dear"
_CUE_WORDS_BEFORE = (
    f"{_GREETINGS}|tell|told|ask|asked|text|texted|call|called|ping|pinged|thanks|thx|ty|"
    "invite|invited|dm|dmed|message|messaged|congrats|congratulations"
)
_CUE_BEFORE = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}])(?:{_CUE_WORDS_BEFORE})[ \t]*,?[ \t]+\Z", regex.IGNORECASE
)
_GREETING_BEFORE = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}])(?:{_GREETINGS})[ \t]*,?[ \t]+\Z", regex.IGNORECASE
)
# Where a word greeted is the one greeted, not the start of a sentence: punctuation, a
# line's end or the text's end right after it ("hey noe!!", "hi kate, ..."), where "hi
# hope u get this" goes on.
_VOCATIVE_END = regex.compile(r"[ \t]*(?:[,.!?;:)~\n\r]|\Z)")
# What follows a name: a possessive with a place or a relation ("thomas's place"), or a
# verb of saying ("X said").
_PLACES_AND_RELATIONS = (
    "place|house|home|flat|apartment|apt|party|birthday|bday|wedding|car|room|parents|mom|"
    "mum|dad|sister|brother|sis|bro|wife|husband|bf|gf|boyfriend|girlfriend|kids?|dog|cat"
)
_SAYING = "said|says|told|texted|asked|called|replied|thinks|wants|knows|sent"
_CUE_AFTER = regex.compile(
    rf"(?:['’]s[ \t]+(?:{_PLACES_AND_RELATIONS})|[ \t]+(?:{_SAYING}))(?![\p{{L}}\p{{N}}])",
    regex.IGNORECASE,
)
# Forms of address and family words: "hey love", "tell mum", "thanks babe" name no one.
_ADDRESS_TERMS = (
    "love luv honey hun babe baby darling dear sweetie sweetheart sugar angel buddy bud mate "
    "man dude bro sis girl girls boy boys guys fam bestie boss chief king queen sunshine "
    "mum mom mama mommy papa daddy dad grandma grandpa granny gran nana nan auntie aunt "
    "uncle cuz cousin wife husband hubby bf gf everyone everybody all princess cutie "
    # and the names of God, called on in chat ("GOD said", "oh Lord"): no person's data
    "god lord allah"
)
ADDRESS_TERMS = frozenset(_ADDRESS_TERMS.split())
# Labels of a form or signature line, directly before a colon: context, not identifiers.
_FIELD_LABELS = (
    "name names iban bic swift tel telephone phone mobile cell fax email e-mail mail "
    "address addr dob ssn id pin zip postcode city country street url website web account "
    "acct ref reference date time note notes subject from to cc bcc contact amount total "
    "nr no number code card user username login"
)
FIELD_LABELS = frozenset(_FIELD_LABELS.split())
_LABEL_COLON = regex.compile(r"[ \t]*:")
# "Name: Jan", "full name - jan kowalski": a label that asks for a person's name.
_NAME_LABEL = regex.compile(
    r"(?<![\p{L}\p{N}])(?:full[ \t]+)?(?:name|first[ \t]+name|given[ \t]+name|contact)"
    r"[ \t]*[:\-][ \t]*\Z",
    regex.IGNORECASE,
)
_LOOK_BACK = 24  # characters before a word that the cues above can span
# A determiner right before a word: "my Love", "your Valentine", "ur Lion", "the guy
# wants", "a Man was found": a word there is a thing or someone's role, not a name ("my
# sister Rose" is still one: a relation word may stand before a name). Not "that" ("he
# said that Will is right") nor "no" ("no Jack, I didn't"), which also stand before names.
_ARTICLES = "the|a|an"
_DETERMINERS = (
    f"my|your|ur|his|her|our|their|{_ARTICLES}|this|these|those|some|any|every|each|another"
)


def _word_right_before(words: str) -> regex.Pattern[str]:
    """One of `words` (an alternation), then spaces, at the end of what it searches."""
    return regex.compile(rf"(?<![\p{{L}}\p{{N}}])(?:{words})[ \t]+\Z", regex.IGNORECASE)


_DETERMINER_BEFORE = _word_right_before(_DETERMINERS)
# An article right before a word: no one is "the X" or "a X" in chat, whatever the word
# ("the Wiki", "a Jira ticket"); places are ("the Hague").
_ARTICLE_BEFORE = _word_right_before(_ARTICLES)
# "the" right before a word: a family name there names someone's work or group ("the
# Jensen novel", "the Davis Orchestra"), where "a Man" is a man.
_THE_BEFORE = _word_right_before("the")

_SENTENCE_END = frozenset('.!?\n\r"“”:>')
# What may stand between a sentence's end and its first word: "…ok. (Sam", '…\n"Sam'.
_BEFORE_A_SENTENCE = frozenset(" \t\"'“‘(*_")


def starts_sentence(text: str, start: int) -> bool:
    """Whether only quotes, brackets or spaces stand between `start` and a sentence end."""
    i = start
    while i > 0 and text[i - 1] in _BEFORE_A_SENTENCE:
        i -= 1
    return i == 0 or text[i - 1] in _SENTENCE_END


def _stands_before(pattern: regex.Pattern[str], text: str, start: int) -> bool:
    """Whether `pattern` (anchored at its end) matches what stands right before `start`."""
    return bool(pattern.search(text[max(0, start - _LOOK_BACK) : start]))


def has_name_cue(text: str, start: int, end: int) -> bool:
    """Whether the word at text[start:end] stands where chat puts a person's name."""
    return _stands_before(_CUE_BEFORE, text, start) or bool(_CUE_AFTER.match(text, end))


def greets(text: str, start: int) -> bool:
    """Whether a greeting stands right before `start` ("hey ", "hi, ", "yo ", "dear ")."""
    return _stands_before(_GREETING_BEFORE, text, start)


def is_vocative(text: str, end: int) -> bool:
    """Whether the word ending at `end` ends its phrase: punctuation or the end follows."""
    return bool(_VOCATIVE_END.match(text, end))


def follows_determiner(text: str, start: int) -> bool:
    """Whether "my", "your", "the", "a"… stands right before `start`: a word there is
    something someone has or a role ("my Love", "your Valentine", "the guy")."""
    return _stands_before(_DETERMINER_BEFORE, text, start)


def is_determined_word(
    text: str,
    start: int,
    word: str,
    in_dictionary: Callable[[str], bool],
    family_names: Container[str],
) -> bool:
    """Whether `word` at `start` is a dictionary word after a determiner, so a thing or a
    role rather than a name ("my Love", "your Valentine", "the guy wants"). A Capitalized
    family name after "the" is still a name ("the Jensen novel", "the Davis Orchestra":
    the dictionary lists famous surnames)."""
    lower = word.lower()
    if not (follows_determiner(text, start) and in_dictionary(lower)):
        return False
    return not (
        word[0].isupper() and lower in family_names and _stands_before(_THE_BEFORE, text, start)
    )


def follows_article(text: str, start: int) -> bool:
    """Whether "the", "a" or "an" stands right before `start` ("the Wiki", "a Jira ticket")."""
    return _stands_before(_ARTICLE_BEFORE, text, start)


def follows_name_label(text: str, start: int) -> bool:
    """Whether a field label asking for a name stands right before `start` ("Name: Jan")."""
    return _stands_before(_NAME_LABEL, text, start)


def is_field_label(text: str, start: int, end: int) -> bool:
    """Whether text[start:end] is a form label ("IBAN:", "Tel :"), a colon right after it."""
    return text[start:end].lower() in FIELD_LABELS and bool(_LABEL_COLON.match(text, end))


def _letter_cases(text: str) -> tuple[int, int]:
    """(lower-case letters, upper-case letters) of `text`."""
    return sum(1 for char in text if char.islower()), sum(1 for char in text if char.isupper())


def is_mostly_lower_case(text: str) -> bool:
    """Whether most of the letters of a message are lower-case (so its capitals mean something)."""
    lower, upper = _letter_cases(text)
    return lower > 2 * upper


def is_mostly_upper_case(text: str) -> bool:
    """Whether a message is SHOUTED: most of its letters upper-case, so its capitals say
    nothing ("HOWS U? MY FONE WAS ON CHARGE")."""
    lower, upper = _letter_cases(text)
    return upper > 2 * lower
