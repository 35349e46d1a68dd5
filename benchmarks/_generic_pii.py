"""A multi-locale generic-PII chat set we generate ourselves, with gold spans.

Nine locales; in each, an address book of CONTACTS_PER_LOCALE people (their names, numbers
and e-mails are what the anonymizer is given as known contacts) and chat messages from
fixed templates: informal, lower-case, with typos, "hey X", "call me on ...", "my iban is
...", "add me on insta @...". Strangers share given names with the address book ("did u
see what <contact's given name> <stranger's family name> posted"), so a contact match
inside a longer name is measured. A share of the messages hold no personal data at all
(owner-style chat and known false-positive traps); they measure what is changed for
nothing. Values come from Faker (pinned in pyproject: another version draws other values),
with valid checksums where a format has one (IBAN, card, SSN, NIR, BSN, codice fiscale,
DNI/NIE, PESEL, CPF).

The generator and templates were fixed (committed) before anyone tuned the anonymizer
against them, and must not be edited to suit it: a change makes figures incomparable.
See docs/privacy-accuracy.md.
"""

from __future__ import annotations

import hashlib
import random
import re
from dataclasses import dataclass
from datetime import date

from faker import Faker

from astrabot_pipeline.privacy.accuracy import GoldSpan, LabelledText

SEED = 20
CONTACTS_PER_LOCALE = 10
PII_MESSAGES_PER_LOCALE = 160
CLEAN_MESSAGES_PER_LOCALE = 40

LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "nl_NL", "it_IT", "es_ES", "pl_PL", "pt_BR")
COUNTRY_CODES = {
    "en_US": "1",
    "en_GB": "44",
    "de_DE": "49",
    "fr_FR": "33",
    "nl_NL": "31",
    "it_IT": "39",
    "es_ES": "34",
    "pl_PL": "48",
    "pt_BR": "55",
}
# What a person calls their national ID in chat, and the Faker method that draws a valid one
# (Germany has none here: Faker draws no Steuer-ID, and German chat rarely shares one).
NATIONAL_IDS: dict[str, tuple[tuple[str, str], ...]] = {
    "en_US": (("ssn", "ssn"),),
    "en_GB": (("NI number", "ssn"),),
    "fr_FR": (("numéro de sécu", "ssn"),),
    "nl_NL": (("BSN", "ssn"),),
    "it_IT": (("codice fiscale", "ssn"),),
    "es_ES": (("DNI", "nif"), ("NIE", "nie")),
    "pl_PL": (("PESEL", "pesel"),),
    "pt_BR": (("CPF", "cpf"),),
}
DATE_FORMATS = {
    "en_US": ("%m/%d/%Y", "%B %d, %Y"),
    "en_GB": ("%d/%m/%Y", "%d %B %Y"),
    "de_DE": ("%d.%m.%Y",),
    "fr_FR": ("%d/%m/%Y",),
    "nl_NL": ("%d-%m-%Y",),
    "it_IT": ("%d/%m/%Y",),
    "es_ES": ("%d/%m/%Y",),
    "pl_PL": ("%d.%m.%Y",),
    "pt_BR": ("%d/%m/%Y",),
}
# Family names that test the name-form variants: an apostrophe (en_GB draws O'Donnell and
# the like from Faker's own list) and hyphenated given names (de_DE's list has them).
APOSTROPHE_LOCALES = ("en_GB",)
HYPHEN_GIVEN_LOCALES = ("de_DE",)

# --------------------------------------------------------------------------- templates
# {slot}s: contact* = one address-book person per message (known_contact spans);
# stranger = a contact's given name + a stranger's family name; stranger_given = a given
# name nobody in the address book has; family = a stranger's family name alone.
PII_TEMPLATES: tuple[str, ...] = (
    "hey {contact_given} did u get my msg",
    "did u see what {stranger} posted lol",
    "call me on {phone} after 6",
    "my new number is {phone} pls save it",
    "this is {contact_given}'s new number {contact_phone}",
    "my iban is {iban} for the rent",
    "can u send it to {iban} ty",
    "card nr {card} use it for the tickets",
    "add me on insta {handle}",
    "follow {handle} on tiktok she's hilarious",
    "my email is {email}",
    "mail {contact_given} at {contact_email} about it",
    "send it to {address}",
    "i live at {street} now, come by",
    "the car is a blue golf, plate {plate}",
    "some idiot parked in front of my garage, plate {plate}... calling the police",
    "they need my {id_label} for the form: {national_id}",
    "DOB {dob} if they ask",
    "born on {dob} btw, dont forget my bday",
    "my site is {url} check it out",
    "ask mrs {family} about the keys",
    "dr {family} said its nothing serious",
    "tell {contact_given} i said hi",
    "{contact} is coming tonight",
    "omg {stranger_given} just called me",
    "is {contact} still at {street}?",
    "Name: {stranger}\nPhone: {phone}\nEmail: {email}",
    "hey {stranger_given}!! long time",
    "can i give him your number {contact_phone}?",
    "{stranger} from work added me, she's {handle} on insta",
    "pls pay {iban} ({stranger}) by friday",
    "who is {contact}? shes in my class",
    "at {contact_given}'s place rn",
    "text {contact} on {contact_phone} if im late",
    "its {email} not the old one",
    "{phone} <- thats the plumber",
    "my passport... no wait my {id_label} is {national_id}",
    "new card {card}, old one is blocked",
    "meet at {address} at 7",
    "bday is {dob} haha so old",
    "{contact_email} is {contact_given}'s work mail",
    "thats {stranger}'s car, {plate}",
)
NATIVE_TEMPLATES: dict[str, tuple[str, ...]] = {
    "de_DE": (
        "ruf mich an unter {phone}",
        "meine IBAN ist {iban}",
        "hallo {contact_given}, wie gehts?",
        "ich wohne jetzt in der {street}",
    ),
    "fr_FR": (
        "appelle-moi au {phone}",
        "mon iban c'est {iban}",
        "salut {contact_given} ça va ?",
        "j'habite au {street}",
    ),
    "nl_NL": (
        "bel me op {phone}",
        "mijn iban is {iban}",
        "hoi {contact_given}, alles goed?",
        "ik woon nu op {street}",
    ),
    "it_IT": (
        "chiamami al {phone}",
        "il mio iban è {iban}",
        "ciao {contact_given} come stai?",
        "abito in {street}",
    ),
    "es_ES": (
        "llámame al {phone}",
        "mi iban es {iban}",
        "hola {contact_given} qué tal?",
        "vivo en {street}",
    ),
    "pl_PL": (
        "zadzwoń do mnie {phone}",
        "mój numer konta {iban}",
        "cześć {contact_given}, co tam?",
        "mieszkam na {street}",
    ),
    "pt_BR": (
        "me liga no {phone}",
        "meu cpf é {national_id}",
        "oi {contact_given}, tudo bem?",
        "moro na {street}",
    ),
}
# Messages without personal data: owner-style chat (flags) and known traps (sentence-
# initial words that are also names, shouted words, field labels, dates, "floor").
CLEAN_TEMPLATES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("omg that was sooo good....lol", ("ellipsis", "slang")),
    ("same...every single time", ("ellipsis",)),
    ("WAIT WHAT", ("shouting",)),
    ("dang it imma be late again", ("slang",)),
    ("yup see u there", ("slang",)),
    ("ngl that movie was mid", ("slang",)),
    ("we're on the second floor, door on the left", ()),
    ("Max volume pls this song slaps", ("slang",)),
    ("Bill came today, its like 80 bucks", ()),
    ("March 3, 2025 works for me", ()),
    ("deadline is 2025-06-30 right?", ()),
    ("NO WAY THE WIFI IS DOWN AGAIN", ("shouting",)),
    ("k.....whatever", ("ellipsis",)),
    ("lmaooo im dead", ("slang",)),
    ("gonna grab food brb", ("slang",)),
    ("Pat on the back for u lol", ("slang",)),
    ("Sandy beaches all week, cant wait", ()),
    ("wanna watch netflix later?", ("slang",)),
    ("my pixel died again smh", ("slang",)),
    ("THIS IS SO GOOD", ("shouting",)),
    ("train at 7:45, platform 9", ()),
    ("its 25 euros each, split?", ()),
    ("hmm idk...maybe tmrw", ("ellipsis", "slang")),
    ("u coming or nah", ("slang",)),
    ("good morning!! coffee?", ()),
    ("the meeting got moved to thursday 3pm", ()),
    ("haha yes...that was wild", ("ellipsis",)),
    ("ok ok OK I GET IT", ("shouting",)),
    ("Jack of all trades, master of none lol", ()),
    ("Miles away from home rn...", ("ellipsis", "slang")),
    ("Dad says dinner at 8", ()),
    ("IBAN and BIC are on the invoice", ()),
    ("Tel and email are in the signature", ()),
    ("rent is due on the 1st", ()),
    ("room 204, 2nd floor", ()),
    ("took the 14 bus home", ()),
    ("order #4471 shipped finally", ()),
    ("bruh.....no", ("ellipsis", "slang")),
    ("SO TIRED", ("shouting",)),
    ("see you at the gym tmrw....maybe", ("ellipsis", "slang")),
)

SLOT_TYPES = {
    "contact": "PERSON",
    "contact_given": "PERSON",
    "contact_phone": "PHONE",
    "contact_email": "EMAIL",
    "stranger": "PERSON",
    "stranger_given": "PERSON",
    "family": "PERSON",
    "phone": "PHONE",
    "email": "EMAIL",
    "iban": "IBAN",
    "card": "CARD",
    "national_id": "NATIONAL_ID",
    "handle": "HANDLE",
    "plate": "PLATE",
    "street": "ADDRESS",
    "address": "ADDRESS",
    "dob": "DOB",
    "url": "URL",
}
_SLOT = re.compile(r"\{(\w+)\}")


@dataclass(frozen=True)
class Contact:
    """One address-book entry."""

    locale: str
    given: str
    family: str
    e164: str
    phone: str  # as the contact's number is written in chat
    email: str


@dataclass(frozen=True)
class GeneratedMessage:
    labelled: LabelledText
    locale: str


@dataclass(frozen=True)
class GenericPiiSet:
    messages: tuple[GeneratedMessage, ...]
    contacts: tuple[Contact, ...]


def _phone(fake: Faker) -> str:
    """A phone number as Faker writes it for the locale, without an extension."""
    while True:
        number = fake.phone_number()
        if "x" not in number.lower():
            return number


def _e164(number: str, country_code: str) -> str:
    digits = re.sub(r"\D", "", number.replace("(0)", ""))
    if number.startswith("+"):
        return "+" + digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if digits.startswith("0") and country_code != "39":  # Italy keeps its leading 0
        digits = digits[1:]
    return f"+{country_code}{digits}"


def _clean_name(draw) -> str:
    while True:
        name = draw()
        if "," not in name and not name.endswith(" II"):
            return name


def _address_book(fake: Faker, locale: str, rng: random.Random) -> list[Contact]:
    contacts: list[Contact] = []
    person = fake.provider("faker.providers.person")
    apostrophe_names = [n for n in person.last_names if "'" in n] if person else []
    hyphen_names = [n for n in person.first_names if "-" in n] if person else []
    givens: set[str] = set()
    while len(contacts) < CONTACTS_PER_LOCALE:
        given = _clean_name(fake.first_name)
        family = _clean_name(fake.last_name)
        if not contacts and locale in APOSTROPHE_LOCALES and apostrophe_names:
            family = rng.choice(sorted(apostrophe_names))
        if not contacts and locale in HYPHEN_GIVEN_LOCALES and hyphen_names:
            given = rng.choice(sorted(hyphen_names))
        if given in givens:
            continue
        givens.add(given)
        phone = _phone(fake)
        contacts.append(
            Contact(locale, given, family, _e164(phone, COUNTRY_CODES[locale]), phone, fake.email())
        )
    return contacts


def _grouped(value: str, rng: random.Random) -> str:
    """IBANs and card numbers are written with or without groups of four."""
    if rng.random() < 0.5:
        return value
    return " ".join(value[i : i + 4] for i in range(0, len(value), 4))


def _dob(fake: Faker, locale: str, rng: random.Random) -> str:
    # Fixed bounds: Faker's date_of_birth counts from today, and the set must not change.
    born: date = fake.date_between_dates(date(1946, 1, 1), date(2010, 12, 31))
    return born.strftime(rng.choice(DATE_FORMATS[locale]))


def _address(fake: Faker, locale: str) -> str:
    street = fake.street_address()
    if locale == "en_US":
        return f"{street}, {fake.city()}, {fake.state_abbr()} {fake.postcode()}"
    if locale == "en_GB":
        return f"{street}, {fake.city()} {fake.postcode()}"
    return f"{street}, {fake.postcode()} {fake.city()}"


def _url(fake: Faker, rng: random.Random) -> str:
    url = fake.url()
    return url + fake.user_name() if rng.random() < 0.5 else url


def _typo(text: str, rng: random.Random) -> str:
    """Swap two neighbouring letters in one longer word of the template text."""
    slots = [(m.start(), m.end()) for m in _SLOT.finditer(text)]
    words = [
        m
        for m in re.finditer(r"[a-z]{5,}", text)
        if not any(m.start() < end and m.end() > start for start, end in slots)
    ]
    if not words:
        return text
    word = rng.choice(words)
    i = rng.randrange(word.start() + 1, word.end() - 2)
    return text[:i] + text[i + 1] + text[i] + text[i + 2 :]


def _chat_style(piece: str, lower: bool, drop_apostrophes: bool) -> str:
    if lower:
        piece = piece.lower()
    if drop_apostrophes:
        piece = piece.replace("'", "")
    return piece


class _Locale:
    """Draws values for one locale's messages."""

    def __init__(self, locale: str, seed: int) -> None:
        self.locale = locale
        self.rng = random.Random(f"{seed}:{locale}")
        self.fake = Faker(locale)
        self.fake.seed_instance(self.rng.randrange(2**32))
        # Faker's it_IT builds its city list from a set, in an order that changes with the
        # hash seed of each process: sorted, the draws repeat.
        addresses = self.fake.provider("faker.providers.address")
        if addresses is not None and locale == "it_IT":
            addresses.cities = sorted(addresses.cities)  # type: ignore[attr-defined]
        self.contacts = _address_book(self.fake, locale, self.rng)
        known = {c.given for c in self.contacts}
        self.stranger_givens = [
            name
            for name in (_clean_name(self.fake.first_name) for _ in range(60))
            if name not in known
        ]

    def templates(self) -> list[str]:
        usable = [
            t
            for t in (*PII_TEMPLATES, *NATIVE_TEMPLATES.get(self.locale, ()))
            if "national_id" not in t or self.locale in NATIONAL_IDS
        ]
        return usable

    def values(self) -> dict[str, str]:
        """Every slot's value for one message (one contact, one stranger)."""
        fake, rng = self.fake, self.rng
        contact = rng.choice(self.contacts)
        other = rng.choice(self.contacts)
        id_label, id_method = rng.choice(NATIONAL_IDS.get(self.locale, (("", "ssn"),)))
        return {
            "contact": f"{contact.given} {contact.family}",
            "contact_given": contact.given,
            "contact_phone": contact.phone,
            "contact_email": contact.email,
            "stranger": f"{other.given} {_clean_name(fake.last_name)}",
            "stranger_given": rng.choice(self.stranger_givens),
            "family": _clean_name(fake.last_name),
            "phone": _phone(fake),
            "email": fake.free_email(),
            "iban": _grouped(fake.iban(), rng),
            "card": _grouped(fake.credit_card_number(), rng),
            "national_id": getattr(fake, id_method)(),
            "id_label": id_label,
            "handle": "@" + fake.user_name(),
            "plate": fake.license_plate(),
            "street": fake.street_address(),
            "address": _address(fake, self.locale),
            "dob": _dob(fake, self.locale, rng),
            "url": _url(fake, rng),
        }

    def message(self, template: str) -> LabelledText:
        """`template` filled in, chat-styled (lower case, no apostrophes, a typo) at random;
        identifiers keep their spelling, names follow the message's case."""
        rng = self.rng
        values = self.values()
        lower = rng.random() < 0.3
        drop_apostrophes = rng.random() < 0.2
        if rng.random() < 0.15:
            template = _typo(template, rng)
        text, spans, at = "", [], 0
        for match in _SLOT.finditer(template):
            text += _chat_style(template[at : match.start()], lower, drop_apostrophes)
            slot = match.group(1)
            value = values[slot]
            entity_type = SLOT_TYPES.get(slot)
            if entity_type == "PERSON" and lower:
                value = value.lower()
            if entity_type:
                known = slot.startswith("contact")  # "stranger" shares only the given name
                spans.append(GoldSpan(len(text), len(text) + len(value), entity_type, known))
            text += value
            at = match.end()
        text += _chat_style(template[at:], lower, drop_apostrophes)
        return LabelledText(text, tuple(spans))

    def clean_message(self, template: str, styles: tuple[str, ...]) -> LabelledText:
        text = template
        if "shouting" not in styles and self.rng.random() < 0.3:
            text = text.lower()
        return LabelledText(text, (), frozenset(styles))


def generate(
    seed: int = SEED,
    pii_per_locale: int = PII_MESSAGES_PER_LOCALE,
    clean_per_locale: int = CLEAN_MESSAGES_PER_LOCALE,
    locales: tuple[str, ...] = LOCALES,
) -> GenericPiiSet:
    """The set: per locale, `pii_per_locale` messages cycling through the templates in a
    shuffled order and `clean_per_locale` messages without personal data."""
    messages: list[GeneratedMessage] = []
    contacts: list[Contact] = []
    for locale in locales:
        drawer = _Locale(locale, seed)
        contacts.extend(drawer.contacts)
        templates = drawer.templates()
        drawer.rng.shuffle(templates)
        for i in range(pii_per_locale):
            labelled = drawer.message(templates[i % len(templates)])
            messages.append(GeneratedMessage(labelled, locale))
        clean = list(CLEAN_TEMPLATES)
        drawer.rng.shuffle(clean)
        for i in range(clean_per_locale):
            labelled = drawer.clean_message(*clean[i % len(clean)])
            messages.append(GeneratedMessage(labelled, locale))
    return GenericPiiSet(tuple(messages), tuple(contacts))


def fingerprint(generated: GenericPiiSet) -> str:
    """A short digest of the set's texts and spans: equal digests, equal sets."""
    digest = hashlib.sha256()
    for message in generated.messages:
        digest.update(message.labelled.text.encode())
        for span in message.labelled.spans:
            digest.update(f"{span.start}:{span.end}:{span.type}:{span.known_contact}".encode())
    return digest.hexdigest()[:12]
