"""The labelled sets bench_privacy_accuracy.py scores at span level (docs/privacy-accuracy.md):
our generic multi-locale set, presidio-research's synth_dataset_v2, and the hand-labelled
real-chat precision set when it is there. Each comes as texts with gold spans, the types
that are scored, and the address book the anonymizer is given."""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import _generic_pii
import _real_chat
import pandas as pd

from astrabot_pipeline.privacy import KnownContacts
from astrabot_pipeline.privacy.accuracy import GoldSpan, LabelledText
from astrabot_pipeline.signal.tables import conform

PRESIDIO_RESEARCH = Path("/work/shared/data/presidio_research_synth_dataset_v2.json")
REPO = Path(__file__).resolve().parents[1]
QUICK_SAMPLE = 300  # texts drawn from each outside set in --quick mode
QUICK_GENERIC = (40, 15)  # PII and clean messages per locale in --quick mode

# presidio-research's gold types -> ours; the types absent here are not scored: a
# replacement on them is neither true nor false (see privacy/accuracy.py `score`).
#   ORGANIZATION: our anonymizer, like Presidio's defaults, leaves organisations alone;
#   TITLE ("Mr."), AGE, ZIP_CODE alone, DATE_TIME, NRP: no identifiers by themselves.
PRESIDIO_RESEARCH_TYPES = {
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "STREET_ADDRESS": "ADDRESS",
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "NATIONAL_ID",
    "US_DRIVER_LICENSE": "NATIONAL_ID",
    "DOMAIN_NAME": "URL",
}

# Owner-style habits, read from the text where a label file gives none.
_ELLIPSIS = re.compile(r"\.{2,}|…")
_SHOUTED = re.compile(r"\b[A-Z]{3,}\b")
_SLANG = frozenset(
    [
        "lol",
        "lmao",
        "lmfao",
        "rofl",
        "omg",
        "imma",
        "gonna",
        "wanna",
        "gotta",
        "ngl",
        "idk",
        "tbh",
        "smh",
        "brb",
        "u",
        "ur",
        "ya",
        "yup",
        "yep",
        "nah",
        "dang",
        "bruh",
        "tmrw",
        "kk",
        "pls",
        "plz",
        "thx",
        "ty",
        "cya",
        "wyd",
        "hbu",
        "ikr",
        "fr",
        "nvm",
    ]
)
_WORD = re.compile(r"[a-z]+")


@dataclass(frozen=True)
class AccuracySet:
    """Texts with gold spans; `groups` names each text's slice (a locale) or is empty."""

    name: str
    texts: tuple[LabelledText, ...]
    scored_types: frozenset[str] | None
    contacts: KnownContacts
    groups: tuple[str, ...] = ()
    note: str = ""


def contacts_table(
    people: Iterable[tuple[str, str | None, str | None, str | None]],
) -> KnownContacts:
    """An address book of (given, family, e164, email) people, as the decoder would give it."""
    rows = []
    for i, (given, family, e164, email) in enumerate(people, start=1):
        rows.append(
            {
                "recipient_id": i,
                "is_self": False,
                "is_group": False,
                "display_name": f"{given} {family}" if family else given,
                "given_name": given,
                "family_name": family,
                "nickname": None,
                "e164": e164,
                "email": email,
                "username": None,
                "aci": f"00000000-0000-4000-8000-{i:012d}",
                "group_title": None,
            }
        )
    return KnownContacts.from_recipients(conform("recipients", pd.DataFrame(rows)))


def generic_set(quick: bool) -> AccuracySet:
    pii, clean = QUICK_GENERIC if quick else (None, None)
    generated = _generic_pii.generate(
        pii_per_locale=pii or _generic_pii.PII_MESSAGES_PER_LOCALE,
        clean_per_locale=clean or _generic_pii.CLEAN_MESSAGES_PER_LOCALE,
    )
    contacts = contacts_table((c.given, c.family, c.e164, c.email) for c in generated.contacts)
    return AccuracySet(
        "generic multi-locale (ours)",
        tuple(m.labelled for m in generated.messages),
        None,
        contacts,
        tuple(m.locale for m in generated.messages),
        f"seed {_generic_pii.SEED}, {len(_generic_pii.LOCALES)} locales, "
        f"{len(generated.contacts)} address-book contacts, "
        f"fingerprint {_generic_pii.fingerprint(generated)}",
    )


def _sample(items: list, quick: bool) -> list:
    if not quick or len(items) <= QUICK_SAMPLE:
        return items
    return random.Random(0).sample(items, QUICK_SAMPLE)


def presidio_research_set(quick: bool) -> AccuracySet | str:
    """The set, or why it is not there."""
    if not PRESIDIO_RESEARCH.exists():
        return f"{PRESIDIO_RESEARCH} is absent (presidio-research's data/synth_dataset_v2.json)"
    texts = []
    for sample in json.loads(PRESIDIO_RESEARCH.read_text()):
        spans = tuple(
            GoldSpan(
                s["start_position"],
                s["end_position"],
                PRESIDIO_RESEARCH_TYPES.get(s["entity_type"], s["entity_type"]),
            )
            for s in sample["spans"]
        )
        texts.append(LabelledText(sample["full_text"], spans))
    unscored = sorted(
        {s.type for t in texts for s in t.spans} - set(PRESIDIO_RESEARCH_TYPES.values())
    )
    return AccuracySet(
        "presidio-research synth_dataset_v2",
        tuple(_sample(texts, quick)),
        frozenset(PRESIDIO_RESEARCH_TYPES.values()),
        KnownContacts(),
        note=f"no address book; not scored: {', '.join(unscored)}",
    )


def owner_styles(text: str) -> frozenset[str]:
    """The owner-style habits a text shows: an ellipsis, a slang word, a shouted word."""
    styles = set()
    if _ELLIPSIS.search(text):
        styles.add("ellipsis")
    if _SHOUTED.search(text):
        styles.add("shouting")
    if any(word in _SLANG for word in _WORD.findall(text.lower())):
        styles.add("slang")
    return frozenset(styles)


def real_chat_set(
    quick: bool, path: Path = _real_chat.LABELS_FILE, title: str = "real-chat clean precision set"
) -> AccuracySet | str:
    """A hand-labelled real-chat precision set (read by the corpus's own loader), or why
    it is not there: the #duraspace set by default, the SMS set with `SMS_LABELS_FILE`."""
    if not path.exists():
        shown = path.relative_to(REPO) if path.is_relative_to(REPO) else path
        return f"{shown} is missing (the hand-labelled {title})"
    texts = [
        LabelledText(
            message.text,
            tuple(GoldSpan(start, end, kind) for start, end, kind in message.spans),
            frozenset(flag for flag, on in message.style.items() if on),
        )
        for message in _real_chat.load_labels(path)
    ]
    note = "no address book; style flags as labelled (docs/real-chat-corpus.md)"
    return AccuracySet(
        title,
        tuple(_sample(texts, quick)),
        None,
        KnownContacts(),
        note=note,
    )
