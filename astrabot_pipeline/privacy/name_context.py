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

import regex

# Words said to a person or about one, right before the name: "hey peter!!", "tell joseph".
# "with X" is not among them: "with love", "with joy", "with grace" are more common.
_CUE_WORDS_BEFORE = (
    "hey+|hi+|hello|hiya|heya|yo|dear|tell|told|ask|asked|text|texted|call|called|ping|"
    "pinged|thanks|thx|ty|invite|invited|dm|dmed|message|messaged|congrats|congratulations"
)
_CUE_BEFORE = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}])(?:{_CUE_WORDS_BEFORE})[ \t]*,?[ \t]+\Z", regex.IGNORECASE
)
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
    "uncle cuz cousin wife husband hubby bf gf everyone everybody all princess cutie"
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
# A possessive determiner right before a word: "my Love", "your Valentine", "ur Lion"
# ("my sister Rose" is not: a relation word may stand before a name).
_POSSESSIVE_BEFORE = regex.compile(
    r"(?<![\p{L}\p{N}])(?:my|your|ur|his|her|our|their)[ \t]+\Z", regex.IGNORECASE
)

_SENTENCE_END = frozenset('.!?\n\r"“”:>')
# What may stand between a sentence's end and its first word: "…ok. (Sam", '…\n"Sam'.
_BEFORE_A_SENTENCE = frozenset(" \t\"'“‘(*_")


def starts_sentence(text: str, start: int) -> bool:
    """Whether only quotes, brackets or spaces stand between `start` and a sentence end."""
    i = start
    while i > 0 and text[i - 1] in _BEFORE_A_SENTENCE:
        i -= 1
    return i == 0 or text[i - 1] in _SENTENCE_END


def has_name_cue(text: str, start: int, end: int) -> bool:
    """Whether the word at text[start:end] stands where chat puts a person's name."""
    before = text[max(0, start - _LOOK_BACK) : start]
    return bool(_CUE_BEFORE.search(before)) or bool(_CUE_AFTER.match(text, end))


def follows_possessive(text: str, start: int) -> bool:
    """Whether "my", "your", "his"… stands right before `start`: a word there is something
    someone has ("my Love", "your Valentine")."""
    return bool(_POSSESSIVE_BEFORE.search(text[max(0, start - _LOOK_BACK) : start]))


def follows_name_label(text: str, start: int) -> bool:
    """Whether a field label asking for a name stands right before `start` ("Name: Jan")."""
    return bool(_NAME_LABEL.search(text[max(0, start - _LOOK_BACK) : start]))


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
