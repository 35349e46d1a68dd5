"""The grammar of a postal address as people type it, as regular expressions.

An address is a street line, then up to four more parts, each after a comma or on its
own line (a unit, a city with its state and postal code, a region, a country, a
military post office). The street line takes one of these shapes:

- US/UK: house number, name, suffix ("4146 Marlowe St", "221B Baker St.");
- a street word glued to the name ("Koskikatu 25", "1072 Pohlstrasse 9");
- a street word first ("Via Franscini 71", "62 Rue de Tanger");
- a name and a house number after it ("Kuuse 53", "ul. Miła 57", "Király u. 15."): on
  its own that is also "Windows 11" or "Area 51", so it counts only with a house number
  before it ("692 Kuuse 53") or an address part after it (", Tallinn", "Apt. 4", a line);
- a post-office or military box ("P.O. Box 104", "PSC 4095, Box 8316", "USNS Bergman"
  over "FPO AP 93757").

Presidio compiles every pattern with IGNORECASE (and the `regex` module's \\p classes);
`(?-i:…)` marks the parts where case carries the meaning: a Capitalized street name,
an ALL-CAPS city, a two-letter state. No pattern names a particular place.
"""

from __future__ import annotations

import re

from spacy.lang.en.stop_words import STOP_WORDS

STREET_SUFFIXES = (
    "street|st|avenue|ave|av|road|rd|lane|ln|boulevard|blvd|drive|dr|way|court|ct|place|pl|"
    "terrace|ter|terr|close|crescent|cres|circle|cir|highway|hwy|parkway|pkwy|square|sq|"
    "trail|trl|alley|row|mews|grove|gardens|walk|loop|plaza|plz"
)
# Street words of other languages: as the end of one word ("Koskikatu", "Pohlstrasse",
# "Þórunnarstræti") or as a word before the name ("Rue Gafsa", "Via Franscini").
STREET_WORD_ENDINGS = (
    "strasse|straße|gasse|allee|platz|weg|damm|ufer|gata|gatan|vägen|gränd|vej|vænget|gade|"
    "veien|vegen|stræti|katu|kuja|tie|polku|straat|laan|plein|gracht|ulica|utca"
)
STREET_WORDS_BEFORE = (
    "rue|avenue|via|viale|piazza|piazzetta|corso|strada|rua|avenida|av\\.|travessa|praça|largo|"
    "calle|carrer|camino|paseo|plaza|ul\\.|ulica|chemin|allée|quai|boulevard|odos"
)
# Lower-case words that sit inside a street's name: particles ("Rue de la Paix",
# "Jiřího z Poděbrad") and street words written apart ("Stensås terrasse", "Erzsébet tér",
# "Trenerys gate", "Kálmán Imre u.").
NAME_PARTICLES = (
    "de|del|della|delle|dei|degli|dello|da|do|dos|das|di|du|des|la|le|les|el|al|von|van|der|"
    "den|am|an|im|z|u\\.?|y|e"
)
SEPARATE_STREET_WORDS = (
    "str\\.|út|utca|tér|gate|gata|vei|veien|vej|terrasse|straße|strasse|gasse|weg|allee|katu|"
    "tie|laan|straat|ulica|ul\\.|sq|sq\\.|sokak|cad\\.|caddesi"
)

_HOUSE_NUMBER = r"\d{1,6}[a-z]?"
# A Capitalized word in any script ("Miła", "Συντάγματος", "ÖSTERSKÄR", "Vana-Viru").
_CAP_WORD = r"(?:[dl]['’])?(?-i:\p{Lu})[\p{L}'’\-]*\.?"
_LOW_WORD = rf"(?:{NAME_PARTICLES}|{SEPARATE_STREET_WORDS})(?![\p{{L}}])"

# Words that make "10 min drive" or "5 minutes down the road" a phrase, not an address.
_NOT_STREET_WORDS = frozenset(
    {
        "min", "mins", "minute", "minutes", "hr", "hrs", "hour", "hours", "sec", "secs",
        "second", "seconds", "day", "days", "week", "weeks", "month", "months", "year",
        "years", "mile", "miles", "mi", "km", "kms", "kilometer", "kilometers", "block",
        "blocks", "step", "steps", "time", "times", "people", "x",
    }
)  # fmt: skip
_NOT_STREET_WORD = "|".join(
    sorted((re.escape(word) for word in STOP_WORDS | _NOT_STREET_WORDS), key=len, reverse=True)
)
# "way too many", "way more": the adverb, not a street.
_NOT_AFTER_WAY = "too|more|less|better|worse|off|over|out|back|ahead|behind|cooler|faster"

# "12 elm st", "9931 14 Iliou Street": number(s), up to three name words, a suffix.
_US_STREET = (
    rf"{_HOUSE_NUMBER}(?:[ \t]+\d{{1,4}})?"
    rf"[ \t]+(?:(?!(?:{_NOT_STREET_WORD})(?![\w'’]))[a-z0-9][a-z0-9'.\-]*[ \t]+){{1,3}}?"
    rf"(?!way[ \t]+(?:{_NOT_AFTER_WAY})\b)(?:{STREET_SUFFIXES})\.?(?![\w])"
)
# "Koskikatu 25", "6750 Loorenstrasse 149": a Capitalized street word, then its number.
_COMPOUND_STREET = (
    rf"(?:{_HOUSE_NUMBER}[ \t]+)?(?:{_CAP_WORD}[ \t]+)?(?-i:\p{{Lu}})\p{{L}}{{2,}}?"
    rf"(?:{STREET_WORD_ENDINGS})[ \t]+{_HOUSE_NUMBER}(?![\w])"
)
# "Via Franscini 71", "Rua do Arenque 1634", "62 Rue de Tanger": the street word first,
# then Capitalized words and particles; a house number on one side or the other ("Via
# email" is no street).
_STREET_WORD_FIRST_ANY_CASE = (
    rf"(?:{STREET_WORDS_BEFORE})(?:[ \t]+(?:(?:{NAME_PARTICLES})[ \t]+)*{_CAP_WORD}){{1,4}}"
)
# Capitalized unless a house number comes before it ("56 rue La Boétie").
_STREET_WORD_FIRST = rf"(?-i:(?=\p{{Lu}})){_STREET_WORD_FIRST_ANY_CASE}"
_WORD_FIRST_STREET = (
    rf"(?:{_HOUSE_NUMBER}[ \t]+(?:\d{{1,4}}[ \t]+)?{_STREET_WORD_FIRST_ANY_CASE}"
    rf"(?:[ \t]+{_HOUSE_NUMBER}\.?)?"
    rf"|{_STREET_WORD_FIRST}[ \t]+{_HOUSE_NUMBER}\.?)(?![\w])"
)
# "Kuuse 53", "ul. Miła 57", "Reyes Católicos 17", "Király u. 15.": a name, its number
# (not a year: "Movies 2024").
_NAME_NUMBER = (
    rf"(?:(?:{SEPARATE_STREET_WORDS})[ \t]+)?{_CAP_WORD}"
    rf"(?:[ \t]+(?:{_CAP_WORD}|{_LOW_WORD})){{0,3}}?[ \t]+(?!(?:19|20)\d\d(?![\w]))\d{{1,5}}[a-z]?\.?"
    rf"(?![\w])"
)
# "Villacher Strasse 89", "Erzsébet tér 19.", "Luite tee 87": a street word apart.
_NAMED_STREET_NUMBER = (
    rf"{_CAP_WORD}(?:[ \t]+{_CAP_WORD})?[ \t]+(?:{SEPARATE_STREET_WORDS}|tee|baan|gade|platz|"
    rf"ring|markt|torget|torg|trg|plac|náměstí|namesti)[ \t]+\d{{1,5}}[a-z]?\.?(?![\w])"
)
_BOX = r"(?:P\.?[ \t]?O\.?[ \t]+Box|Box)[ \t]+\d{1,6}"
_MILITARY_POST = r"(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}(?![\w])"
# "PSC 4095, Box 8316", "Unit 8505 Box 9220"; a ship only with its post line after it.
_MILITARY_UNIT = (
    rf"(?:PSC|CMR|Unit)[ \t]+\d{{3,5}},?[ \t]+{_BOX}"
    rf"|(?:USNS|USS|USCGC|USNV)[ \t]+\p{{L}}[\p{{L}}'’\-]*(?:[ \t]+\p{{L}}[\p{{L}}'’\-]*)?"
    rf"(?=[ \t]*,?[ \t]*\r?\n[ \t]*{_MILITARY_POST})"
)

# The parts after a street line.
_UNIT_BODY = (
    r"(?:apt|apartment|suite|ste|unit|flat|fl|floor|\#)\.?[ \t]*\#?(?:\d[\w\-]{0,5}|[a-z])(?![\w])"
)
_UNIT = rf"(?:,?[ \t]*{_UNIT_BODY})"
_POSTAL_CODE = r"\d{4,6}(?:-\d{3,4})?|\d{3}[ \t]\d{2}|\d{2}-\d{3}"
_CITY_STATE_ZIP = (
    r"(?:(?-i:[A-Z][a-z.'\-]+(?:[ \t]+[A-Z][a-z.'\-]+){0,2},?[ \t]+[A-Z]{2})"  # City, ST
    r"(?:[ \t]+\d{5}(?:-\d{4})?)?"  # optional ZIP
    r"|[a-z][a-z.'\-]+(?:[ \t]+[a-z][a-z.'\-]+){0,2},?[ \t]+[a-z]{2}[ \t]+\d{5}(?:-\d{4})?)"
    r"(?![\w])"
)
# A Capitalized or ALL-CAPS place ("Velká Bukovina u Decína", "SAINT-PRIEST"), maybe a
# two-letter region and a postal code after it ("Cyprus 36903", "Hungary 34796").
_PLACE_WORD = r"(?-i:\p{Lu})[\p{L}'’\-]*(?:(?<![\p{L}]{4})\.)?"  # "St." yes, "Zealand." no
_PLACE_NAME = (
    rf"{_PLACE_WORD}(?:[ \t]+(?:(?:{NAME_PARTICLES})[ \t]+)?{_PLACE_WORD}){{0,3}}"
    rf"(?:,?[ \t]+(?-i:\p{{Lu}}{{2}}))?"
)
_PLACE = rf"{_PLACE_NAME}(?:[ \t]+(?:{_POSTAL_CODE}))?"
# A place part ends its line or sentence unless a postal code closes it: "\nMobile: 555…"
# or ", Cambridge is nice" is text, "Iceland 82407 last night" is an address.
_PART_ENDS = r"(?=[ \t]*(?:$|[,.?!;)]))"
_PLACE_OR_CODE = (
    rf"(?:{_PLACE_NAME}[ \t]+(?:{_POSTAL_CODE})(?![\w])|{_PLACE_NAME}(?![\w]){_PART_ENDS}"
    rf"|(?:(?-i:\p{{Lu}}{{2}})[ \t]+)?(?:{_POSTAL_CODE})(?![\w]))"
)
# A part on its own line may be quoted ("> Suwałki") or start with the comma of the
# line before ("\n, CO").
_NEXT_LINE = r"[ \t]*,?(?:[ \t]*\r?\n(?:[ \t]*>)?){1,2}[ \t]*(?:,[ \t]*)?"
_COMMA = r"[ \t]*,[ \t]*"
_NEXT_PART = (
    rf"(?:(?:{_NEXT_LINE}|{_COMMA})(?:{_UNIT_BODY}|{_MILITARY_POST}|{_CITY_STATE_ZIP}|{_PLACE_OR_CODE})"
    rf"|[ \t]+{_PLACE}(?=[ \t]*(?:$|[,.?!;]|{_UNIT}|{_NEXT_LINE}{_UNIT_BODY})))"
)
# What tells a bare "Name 12" it is an address: a unit, a comma and a place, or a next line.
_ADDRESS_FOLLOWS = (
    rf"(?=(?:[ \t]+{_PLACE})?(?:[ \t]*{_UNIT}|{_NEXT_LINE}(?:{_UNIT_BODY}|{_PLACE_OR_CODE}))"
    rf"|{_COMMA}{_PLACE_OR_CODE})"
)
# "the corner of Kuusiku 7 and Alexander Flat": two streets, the second maybe only named;
# the first has its number, as every address here has one.
_INTERSECTION = (
    rf"(?<=(?:corner|intersection)[ \t]+of[ \t]+(?:the[ \t]+)?)(?=[^\n]*?\d[^\n]*?[ \t](?:and|&)[ \t])"
    rf"(?:{_HOUSE_NUMBER}[ \t]+)?(?:(?:{SEPARATE_STREET_WORDS})[ \t]+)?{_CAP_WORD}"
    rf"(?:[ \t]+(?:{_CAP_WORD}|{_LOW_WORD}|\d{{1,5}}\.?)){{0,4}}"
    rf"[ \t]+(?:and|&)[ \t]+{_CAP_WORD}(?:[ \t]+{_CAP_WORD}){{0,3}}"
)

STREET_LINE = (
    rf"(?:{_INTERSECTION}|{_WORD_FIRST_STREET}|{_US_STREET}|{_COMPOUND_STREET}|{_NAMED_STREET_NUMBER}"
    rf"|{_HOUSE_NUMBER}[ \t]+(?:\d{{1,4}}[ \t]+)?{_NAME_NUMBER}"
    rf"|{_NAME_NUMBER}{_ADDRESS_FOLLOWS}"
    rf"|{_BOX}|{_MILITARY_UNIT})"
)
STREET_ADDRESS_REGEX = (
    rf"(?<![\w#/.\-])(?:{_HOUSE_NUMBER}[ \t]+(?={_BOX}))?(?:{STREET_LINE})(?:[ \t]*{_UNIT}){{0,2}}"
    rf"(?:{_NEXT_PART}){{0,5}}"
)
# A unit on its own, Capitalized ("Apt. 595", "Suite 12"): part of an address even without the street.
UNIT_REGEX = r"(?<![\w])(?-i:Apt|Apartment|Suite|Unit)\.?[ \t]*\#?\d{1,5}[a-z]?(?![\w])"
