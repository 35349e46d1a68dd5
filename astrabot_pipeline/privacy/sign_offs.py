"""The name a text message is signed with: "... Have a great week. Abiola", "LOVE JEN XXX".

Texts are signed at their end, after the message or after "love", "luv", "from", and
often with kisses after it or glued to it ("Franxx"). spaCy misses most of these: the
name stands alone, is SHOUTED, or is one the world list lacks (Abiola, Rakhesh). The last
word of a message is read as its sign-off name when:

- "love", "luv", "lots of love", "regards", "cheers", "hugs" or "xoxo" stands before
  it ("from" does not: "documents from STAPATI"), and it is a listed given name or no ordinary word ("love Pete xx", "LUV
  JAZ"; not "love ya");
- or a sentence end, a comma or a dash after a space stands before it, and it is no ordinary word
  (`OrdinaryWords`: dictionary, frequent, chat vocabulary, respellings), holds a vowel
  (acronyms like "BSLVYL" and "GNT" do not), and is no compound of two frequent words
  ("GOODMORNING", "Goodnoon").

The word is Capitalized or SHOUTED, of 3 to 15 letters; only emoticons, punctuation and
kisses may follow it. Kisses glued to it are not part of the name ("Franxx" -> "Fran").
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass

import regex

from astrabot_pipeline.privacy.chat_words import OrdinaryWords

_SIGN_OFF_WORDS = r"(?:lots[ \t]+of[ \t]+love|love|luv|regards|cheers|hugs|xoxo)"
_LAST_WORD = regex.compile(
    rf"(?:(?P<sign_off>(?<![\p{{L}}\p{{N}}]){_SIGN_OFF_WORDS}[ \t,]+)"
    r"|(?P<boundary>(?:[.!?,\n]|\.\.+|(?<=\s)-)[ \t]*))"
    r"(?P<word>\p{Lu}\p{L}{2,16})"
    r"[ \t]*(?:[ \t.!?:;,)(*=\-~'\"]|[xX]+(?![\p{L}])|\p{So}|\p{Sk}|[DPp](?=\W*\Z))*\Z",
    regex.IGNORECASE,
)
_GLUED_KISSES = regex.compile(r"(?<=\p{L}{2})(?:x{2,}|X{2,})\Z")
_VOWEL = regex.compile(r"[aeiouAEIOU]")
MIN_COMPOUND_PART = 3
MIN_NAME, MAX_NAME = 3, 15  # "Jen" .. "Prashanthettan"; longer is a keyboard mash


@dataclass(frozen=True)
class SignOffSpan:
    start: int
    end: int


class SignOffs:
    """Finds the sign-off name at the end of a text, if any."""

    def __init__(self, given_names: Container[str], ordinary: OrdinaryWords) -> None:
        self.given_names = given_names
        self.ordinary = ordinary

    def find(self, text: str) -> list[SignOffSpan]:
        match = _LAST_WORD.search(text)
        if match is None:
            return []
        word = match.group("word")
        kisses = _GLUED_KISSES.search(word)
        name = word[: kisses.start()] if kisses else word
        if not (name.istitle() or name.isupper()) or not MIN_NAME <= len(name) <= MAX_NAME:
            return []
        lower = name.lower()
        if match.group("sign_off") is not None:
            named = lower in self.given_names or lower not in self.ordinary
        else:
            named = (
                lower not in self.ordinary
                and _VOWEL.search(name) is not None
                and not self._is_compound(lower)
            )
        start = match.start("word")
        return [SignOffSpan(start, start + len(name))] if named else []

    def _is_compound(self, lower: str) -> bool:
        """Two frequent words run together: "goodmorning", "goodnoon"."""
        return any(
            lower[:cut] in self.ordinary.frequent and lower[cut:] in self.ordinary.frequent
            for cut in range(MIN_COMPOUND_PART, len(lower) - MIN_COMPOUND_PART + 1)
        )
