"""A cheap offline English detector for short chat messages.

The NER model behind the anonymizer is English: names in other languages are caught by
the contact deny-list but not by NER. So non-English messages are counted (and the asset
warns), never dropped or altered. Detection, per message:

1. Script (unicodedata): letters mostly outside the Latin script (Cyrillic, Greek, CJK,
   Arabic…) make a message non-English whatever its length.
2. Fewer than MIN_WORDS words: too short to tell ("lol ok", "🎉").
3. Latin script: words are looked up in a list of common English words (spaCy's English
   stop words plus chat words) and of common function words of other Latin-script
   languages; words in both lists say nothing. English when English words outnumber
   the others and make up at least MIN_ENGLISH_SHARE of the words.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from spacy.lang.en.stop_words import STOP_WORDS

MIN_WORDS = 3
MIN_ENGLISH_SHARE = 0.25
NON_ENGLISH_WARNING_SHARE = 0.05

_ENGLISH_WORDS = """
    yes yeah yep yup nope ok okay k kk hi hey hello bye thanks thank thx pls please sorry
    lol lmao lmfao rofl omg idk tbh ngl btw brb imo imho irl fyi asap jk np ty ily wtf
    haha hahaha hehe gonna wanna gotta kinda sorta dunno u ur r im ive youre dont cant
    wont didnt doesnt isnt wasnt thats whats lets theres hes shes theyre were ill id
    good great nice cool awesome bad fine sure maybe really actually literally totally
    love like want need know think see look feel tell ask call text send get got go
    going went come coming came make made take took give gave say said let put try
    work working home house time today tonight tomorrow yesterday morning night day
    week weekend month year later soon now late early still yet ago
    monday tuesday wednesday thursday friday saturday sunday
    dinner lunch breakfast coffee beer wine food party movie show game music song book
    phone number email address meet meeting talk call miss wait waiting hope guess
    happy sad tired busy sick fun funny weird crazy pretty super lot lots little big
    new old best better worse worst same different right wrong true real sounds sound
    lunchtime noon hour hours minute minutes min mins sec pm am ish
    friend friends mom dad family guys guy girl kid kids baby people person
    car bus train drive walk run ride trip flight plane hotel city town place
    buy bought pay paid money cheap price store shop
    honest honestly probably play played job valid twice wild half asleep everyone
    this that these those thread seen saw watch watched read poll quit quitting raise
    stuff thing things something anything nothing everything someone anyone everyone
    good morning afternoon evening congrats birthday happy bday
    bro bruh dude sis fam bestie babe hun ttyl omw lmk hbu wyd tysm gn gm
    ya yah yar yea yeh hee heh nvm okie oki juz jus izzit wat wif dis dat den tmr tmrw
    tomo 2moro 2mrw frens fren abt bcoz becoz coz cos wen luv nite tonite wkend thk
    aiyo aiyoh aiyah aiyar alamak lor lar lah leh meh mah hor liao oredi oso noe dun
    thanx thanq muah mwah sux woohoo gud hav mrng evng nyt ni8 frnd frnds msgs
    """
# The chat vocabulary above (words, abbreviations and forms of address no one is named):
# NER sometimes tags them as names or places, and nothing may treat them as identifiers.
# Its last lines are phone texting and Singlish particles ("Ya lor...", "u noe", "tomo",
# "my frens"); the world name list holds several of them (Ya, Noe, Tomo, Hee, Wen), and
# as chat they read as words: a contact so named is still found by the address book.
CHAT_WORDS = frozenset(_ENGLISH_WORDS.split())
_COMMON_ENGLISH = CHAT_WORDS | frozenset(STOP_WORDS)

# Common function words of other Latin-script languages (es, fr, de, it, pt, nl, sv,
# pl, tr, id); a word that is also common English is ignored by both sides.
_OTHER_WORDS = """
    que de la el los las y es en no me por para con una un del al lo como pero muy si mi tu
    su yo te se le nos ya esta este eso hay bien gracias hola todo nada donde cuando
    le les et est je tu pas ne il elle nous vous ils des du au aux une ce cette mais
    avec pour dans sur qui oui non merci bonjour salut très bien c'est j'ai ça
    der die das und ist nicht ich du wir ihr sie ein eine mit auf zu den dem des auch
    aber noch schon ja nein danke hallo gut bitte sehr wie was wo wann heute morgen
    il di che è non per sono una della delle gli con ma si anche ciao grazie come
    não você é com uma os as do da dos das em mas obrigado obrigada tudo bem sim
    het een en ik niet je jij wij dat van op maar ook wel nog dank hoi goed
    och att det som för på med jag inte har var hej tack
    nie jest się na że to tak ale co jak już czy dziękuję cześć
    bir ve bu da ne için çok var yok evet hayır merhaba teşekkürler
    yang dan di ini itu tidak ada saya kamu dengan untuk terima kasih
    """
_COMMON_OTHER = frozenset(_OTHER_WORDS.split())
_AMBIGUOUS = _COMMON_ENGLISH & _COMMON_OTHER
_ENGLISH_ONLY = _COMMON_ENGLISH - _AMBIGUOUS
_OTHER_ONLY = _COMMON_OTHER - _AMBIGUOUS

_WORD = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)?")
# Links and addresses say nothing about the language of the words around them.
_LINK = re.compile(r"\S+://\S+|www\.\S+|\S+@\S+")
_SUFFIXES = ("ing", "ed", "es", "s", "ly", "er", "est", "y")


@dataclass
class LanguageReport:
    """How many messages look English, not English, or too short to tell (counts only)."""

    english: int = 0
    non_english: int = 0
    too_short: int = 0
    scripts: dict[str, int] = field(default_factory=dict)  # dominant script -> messages

    @property
    def total(self) -> int:
        return self.english + self.non_english + self.too_short

    @property
    def non_english_share(self) -> float:
        """Share of the messages that could be told apart which are not English."""
        decided = self.english + self.non_english
        return self.non_english / decided if decided else 0.0

    @property
    def needs_warning(self) -> bool:
        return self.non_english_share > NON_ENGLISH_WARNING_SHARE

    def to_metadata(self) -> dict[str, int | float]:
        return {
            "language_english": self.english,
            "language_non_english": self.non_english,
            "language_too_short": self.too_short,
            "language_non_english_share": round(self.non_english_share, 4),
            **{f"script_{name.lower()}": count for name, count in sorted(self.scripts.items())},
        }


def script_of(char: str) -> str:
    """The script of a letter from its Unicode name ("CYRILLIC SMALL LETTER A" -> CYRILLIC)."""
    name = unicodedata.name(char, "")
    if name.startswith("CJK"):
        return "HAN"
    return name.split(" ", 1)[0] if name else "UNKNOWN"


def dominant_script(text: str) -> str | None:
    """The script most letters of `text` are written in; None when it has no letters."""
    scripts = Counter(script_of(char) for char in text if char.isalpha())
    return scripts.most_common(1)[0][0] if scripts else None


def classify(text: str | None) -> tuple[str, str | None]:
    """("english" | "non_english" | "too_short", dominant script or None)."""
    if not isinstance(text, str):
        return "too_short", None
    script = dominant_script(text)
    if script is None:
        return "too_short", None
    if script != "LATIN":
        return "non_english", script
    words = [word.replace("’", "'").casefold() for word in _WORD.findall(_LINK.sub(" ", text))]
    if len(words) < MIN_WORDS:
        return "too_short", script
    english = sum(_is_english(word) for word in words)
    other = sum(word in _OTHER_ONLY for word in words)
    if english > other and english / len(words) >= MIN_ENGLISH_SHARE:
        return "english", script
    return "non_english", script


def _is_english(word: str) -> bool:
    """In the English list as written, as a contraction's first part ("i'll"), or once a
    common suffix is taken off ("played", "goats", "honestly")."""
    if word in _ENGLISH_ONLY or word.split("'", 1)[0] in _ENGLISH_ONLY:
        return True
    return any(
        word.endswith(suffix) and word[: -len(suffix)] in _ENGLISH_ONLY
        for suffix in _SUFFIXES
        if len(word) > len(suffix) + 2
    )


def detect_languages(texts: Iterable[str | None]) -> LanguageReport:
    """Count English, non-English and too-short messages, and each dominant script."""
    report = LanguageReport()
    scripts: Counter[str] = Counter()
    for text in texts:
        verdict, script = classify(text)
        setattr(report, verdict, getattr(report, verdict) + 1)
        if script is not None:
            scripts[script] += 1
    report.scripts = dict(scripts)
    return report
