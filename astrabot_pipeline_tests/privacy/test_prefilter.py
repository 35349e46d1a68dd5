"""Prefiltered recognizers, the dropped context boost and spaCy skipped on lower-case texts
must not change a single finding; each prefilter condition must be a necessary one."""

from __future__ import annotations

import re
import sys
from functools import partial

import phonenumbers
import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers.phonenumberutil import SUPPORTED_REGIONS
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    EsNieRecognizer,
    EsNifRecognizer,
    IbanRecognizer,
    IpRecognizer,
    ItFiscalCodeRecognizer,
    PhoneRecognizer,
    PlPeselRecognizer,
    UsSsnRecognizer,
)

from astrabot_pipeline.privacy import KnownContacts
from astrabot_pipeline.privacy.anonymizer import LANGUAGE, analyze_batch, is_chat_word, ner_texts_of
from astrabot_pipeline.privacy.birth_dates import BirthDateRecognizer
from astrabot_pipeline.privacy.chat_recognizers import ChatUrlRecognizer
from astrabot_pipeline.privacy.licence_plates import LicencePlateRecognizer
from astrabot_pipeline.privacy.national_ids import (
    FrNirRecognizer,
    GbNinoRecognizer,
    NlBsnRecognizer,
)
from astrabot_pipeline.privacy.prefilter import (
    AT_SIGN,
    DIGIT,
    DOT_AND_TWO_LETTERS,
    ELEVEN_DIGITS,
    FOUR_DIGITS,
    IBAN_OPENING,
    IP_SEPARATOR,
    PHONE_DIGITS,
    SEVEN_DIGITS,
    SIXTEEN_SIGNS,
    THREE_DIGITS,
    Prefiltered,
    fewest_digits_of_a_valid_phone_number,
)
from astrabot_pipeline.privacy.recognizers import (
    ChatPhoneRecognizer,
    KnownContactEmailRecognizer,
    KnownContactPhoneRecognizer,
    LuhnCardRecognizer,
    StreetAddressRecognizer,
)
from astrabot_pipeline.privacy.residual import ResidualDetector
from astrabot_pipeline.privacy.social_handles import PLATFORM_OR_AT, SocialHandleRecognizer
from astrabot_pipeline.synthetic import generate_corpus

from .conftest import SAM, STREET_ADDRESSES, recipients_frame

EDGE_CASES = [
    # IPv6 without a digit, IPv4, and the unspecified "::" (too weak a score to count).
    "the box is at abcd::ef now",
    "ssh into dead:beef::cafe or 10.0.0.12 or fe80::1%eth0",
    "ports :: and ::1",
    # Phone numbers, with national, international, fullwidth and Arabic-Indic digits.
    "call +44 7700 900123 or (415) 555-0134 ext 12",
    "my number: ４１５５５５０１３４",
    "رقمي ٠٥٥٥١٢٣٤٥٦٧",
    "text 0049 30 1234567 tonight",
    # E-mails, in angle brackets too, and known ones in any case.
    "mail <Sam.Okafor@Gmail.com> or dana@fastmail.com",
    "i'm at <ed@lindqvist.se>.",
    # IBANs (upper and lower case), cards and social security numbers.
    "DE89 3704 0044 0532 0130 00 is the account",
    "iban: gb82west12345698765432 or GB82WEST12345698765432",
    "card 4111 1111 1111 1111, also 5500-0000-0000-0004",
    "ssn 536-22-8174",
    # URLs with and without a scheme, odd letters the case-insensitive patterns accept.
    "see example.com/page or HTTPS://EXAMPLE.ORG/x",
    "ſite.ſh and ÄBC.DE",
    # Addresses, a navy ship's included.
    *STREET_ADDRESSES,
    "USNS Bergman\nFPO AP 93757",
    "i live at Koskikatu 25 now",
    # Handles, plates, dates of birth and national IDs (privacy/identity_recognizers.py).
    "add me on insta @lena.k_92 or my snap is lenak92",
    "my car is B-AB 1234, the van AB12 CDE",
    "DOB 03/04/1990, born on 3 March 1990",
    "my PESEL is 44051401359, codice fiscale RSSMRA85T10A562S",
    "DNI 12345678Z, NIE X1234567L",
    "NIR 1 85 05 78 006 084 91 and my bsn is 123456782",
    "my NI number is ZZ 30 38 75 T, hers AB123456C",
]


def _sorted_spans(results):
    return [sorted((r.entity_type, r.start, r.end, r.score) for r in found) for found in results]


def unfiltered(analyzer: AnalyzerEngine) -> AnalyzerEngine:
    """The same recognizers unwrapped, with Presidio's own lemma-based context boost."""
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in analyzer.registry.recognizers:
        registry.add_recognizer(getattr(recognizer, "recognizer", recognizer))
    return AnalyzerEngine(
        registry=registry, nlp_engine=analyzer.nlp_engine, supported_languages=[LANGUAGE]
    )


def test_findings_equal_those_of_presidio_with_spacy_on_every_text(anonymizer):
    """Presidio as it comes: every recognizer on every text, its context boost, and spaCy
    run on each text (without NER where the anonymizer gives spaCy no text)."""
    texts = [m.body for m in generate_corpus(n_messages=1500, seed=11).chat_messages if m.body]
    texts += EDGE_CASES
    assert sum(1 for text in texts if any(char.isdigit() for char in text)) > 50
    ner_texts = [text if any(map(str.isupper, text)) else None for text in texts]
    reference = unfiltered(anonymizer.analyzer)
    threshold = anonymizer.score_threshold
    expected = []
    for text, ner_text in zip(texts, ner_texts, strict=True):
        with anonymizer._nlp.select_pipes(disable=[] if ner_text else ["ner"]):
            expected.append(reference.analyze(text, LANGUAGE, score_threshold=threshold))
    assert _sorted_spans(anonymizer._analyze(texts, ner_texts)) == _sorted_spans(expected)


def test_the_edge_cases_are_found_at_all(anonymizer):
    """The comparison above is worth something only if the edge cases hold findings."""
    found = anonymizer.find_entities(EDGE_CASES)
    kinds = {result.entity_type for results in found for result in results}
    assert {"IP_ADDRESS", "PHONE_NUMBER", "EMAIL_ADDRESS", "IBAN_CODE", "CREDIT_CARD"} <= kinds
    assert {"URL", "STREET_ADDRESS", "KNOWN_CONTACT_EMAIL"} <= kinds
    assert {"SOCIAL_HANDLE", "LICENCE_PLATE", "DATE_OF_BIRTH", "FR_NIR", "NL_BSN"} <= kinds
    assert {"PL_PESEL", "IT_FISCAL_CODE", "ES_NIF", "ES_NIE"} <= kinds
    assert ("IP_ADDRESS", 14, 22) in [(r.entity_type, r.start, r.end) for r in found[0]]


def test_the_pipeline_makes_no_lemmas_so_no_context_word_can_boost_a_score(anonymizer):
    doc = anonymizer._nlp("Call Sam on his phone, he moved to 12 Elm St. Email him at work")
    assert doc.ents and {token.lemma_ for token in doc} == {""}


def test_a_prefiltered_recognizer_reports_as_the_one_it_wraps():
    wrapped = EmailRecognizer()
    prefiltered = Prefiltered(wrapped, AT_SIGN)
    assert (prefiltered.name, prefiltered.id) == (wrapped.name, wrapped.id)
    assert prefiltered.supported_entities == wrapped.supported_entities
    assert prefiltered.context == wrapped.context
    text = "write to sam@example.com"
    assert prefiltered.analyze(text, ["EMAIL_ADDRESS"]) == wrapped.analyze(text, ["EMAIL_ADDRESS"])
    assert prefiltered.analyze("no address here", ["EMAIL_ADDRESS"]) == []


def test_the_digit_condition_covers_every_digit_phonenumbers_and_known_contacts_see():
    """They match digits with `re`, whose Unicode is older than `regex`'s."""
    re_digit = re.compile(r"\d")
    assert all(
        DIGIT.match(char) for char in map(chr, range(sys.maxunicode + 1)) if re_digit.match(char)
    )


def test_no_region_has_a_valid_phone_number_with_fewer_digits_than_the_phone_condition_asks():
    """Every example number phonenumbers ships (each region, each type) has at least the
    digits `PHONE_DIGITS` asks for; the shortest (Niue's "+683 7012") has exactly that many."""
    lengths = [
        len(phonenumbers.national_significant_number(example))
        for region in SUPPORTED_REGIONS
        for kind in phonenumbers.supported_types_for_region(region)
        if (example := phonenumbers.example_number_for_type(region, kind)) is not None
    ]
    assert len(lengths) > 1000
    assert min(lengths) == fewest_digits_of_a_valid_phone_number() == 4
    assert PHONE_DIGITS.search("+683 7012") and PHONE_DIGITS.search("1-2-3-4")
    assert not PHONE_DIGITS.search("room 12b at 5pm") and not PHONE_DIGITS.search("4 u")


# -- each condition is necessary: a text without it yields nothing from the raw recognizer --

_CONTACTS = KnownContacts.from_recipients(recipients_frame())
# Text near each pattern: its separators, look-alike digits ("²", "①", "O") and letters.
_NEAR_NUMBERS = " +-().,/:x#OolI²①ⅷ\n" + "abcdefXYZ" + "0123456789"
_NEAR_EMAILS = "abcxyz.-_+'＠ (<>)" + "0123456789" + "ÄÖé"
_NEAR_IPS = "0123456789abcdefABCDEF./%: "
_NEAR_URLS = "abcmoxyzſKİ.-/:' " + "019"
_NEAR_IBANS = "ABDEGRabdegr0123456789 -"
_HANDLE_WORDS = (
    "@", "@lena", "insta", "ig", "snap", "is", ":", "add", "me", "on", "lenak92", "discord",
    "#1234", "ſnap", "INSTA", "tiktok", "x", "@@", "a@b.com",
)  # fmt: skip
_PLATE_WORDS = ("car", "plate", "AB", "B-AB", "CDE", "-", "XY", "E", "ABC-", "van", "O", "l")
_BIRTH_WORDS = ("DOB", "born", "on", "March", "of", "3rd", "/", "-", ".", "date", "birth", ":")
_NEAR_FISCAL_CODES = "RSMATLMNPQVabcſK" + "0123456789"
_ADDRESS_WORDS = (
    "Rue", "Via", "Apt", "Apt.", "Suite", "Unit", "Box", "PO", "P.O.", "Street", "St", "Elm",
    "Koskikatu", "Pohlstrasse", "ul.", "Narewska", "USNS", "USS", "Us", "us", "Bergman", "FPO",
    "AP", "APO", "AE", "PSC", "Oakland,", "CA", "Portland", "OR", "\n", ",", "#", "O", "l",
)  # fmt: skip

CONDITIONS = [
    (EmailRecognizer, AT_SIGN, st.text(_NEAR_EMAILS)),
    (PhoneRecognizer, PHONE_DIGITS, st.text(st.characters(blacklist_categories=["Nd"]))),
    (PhoneRecognizer, PHONE_DIGITS, st.text(_NEAR_NUMBERS)),
    (IbanRecognizer, IBAN_OPENING, st.text(_NEAR_IBANS, min_size=15)),
    (CreditCardRecognizer, FOUR_DIGITS, st.text(_NEAR_NUMBERS, min_size=12)),
    (LuhnCardRecognizer, DIGIT, st.text(_NEAR_NUMBERS)),
    (UsSsnRecognizer, THREE_DIGITS, st.text(_NEAR_NUMBERS, min_size=9)),
    (IpRecognizer, IP_SEPARATOR, st.text(_NEAR_IPS, min_size=7)),
    (partial(ChatUrlRecognizer, is_chat_word), DOT_AND_TWO_LETTERS, st.text(_NEAR_URLS, min_size=4)),
    (ChatPhoneRecognizer, DIGIT, st.text(_NEAR_NUMBERS)),
    (StreetAddressRecognizer, DIGIT, st.lists(st.sampled_from(_ADDRESS_WORDS)).map(" ".join)),
    (partial(KnownContactPhoneRecognizer, _CONTACTS), DIGIT, st.text(_NEAR_NUMBERS)),
    (partial(KnownContactEmailRecognizer, _CONTACTS), AT_SIGN, st.text(_NEAR_EMAILS)),
    (SocialHandleRecognizer, PLATFORM_OR_AT, st.lists(st.sampled_from(_HANDLE_WORDS)).map(" ".join)),
    (LicencePlateRecognizer, DIGIT, st.lists(st.sampled_from(_PLATE_WORDS)).map(" ".join)),
    (BirthDateRecognizer, DIGIT, st.lists(st.sampled_from(_BIRTH_WORDS)).map(" ".join)),
    (partial(PlPeselRecognizer, supported_language=LANGUAGE), ELEVEN_DIGITS,
     st.text(_NEAR_NUMBERS, min_size=11)),
    (partial(ItFiscalCodeRecognizer, supported_language=LANGUAGE), SIXTEEN_SIGNS,
     st.text(_NEAR_FISCAL_CODES, min_size=16)),
    (partial(EsNifRecognizer, supported_language=LANGUAGE), SEVEN_DIGITS,
     st.text(_NEAR_NUMBERS + "TRWAGZ", min_size=8)),
    (partial(EsNieRecognizer, supported_language=LANGUAGE), SEVEN_DIGITS,
     st.text(_NEAR_NUMBERS + "XYZTRW", min_size=8)),
    (FrNirRecognizer, THREE_DIGITS, st.text(_NEAR_NUMBERS + "AB", min_size=15)),
    (NlBsnRecognizer, FOUR_DIGITS, st.text(_NEAR_NUMBERS, min_size=9).map("bsn ".__add__)),
    (GbNinoRecognizer, DIGIT,
     st.text(_NEAR_NUMBERS + "ABCTZ", min_size=9).map("NI number ".__add__)),
]  # fmt: skip


def _without(condition: regex.Pattern[str], text: str) -> str:
    """`text` with every match of `condition` broken up, so that none is left."""
    while (match := condition.search(text)) is not None:
        text = text[: match.start()] + " " + text[match.start() + 1 :]
    return text


@pytest.mark.parametrize(("make", "condition", "texts"), CONDITIONS)
def test_a_text_without_the_condition_holds_nothing_for_the_recognizer(make, condition, texts):
    recognizer: EntityRecognizer = make()
    entities = recognizer.supported_entities

    @settings(max_examples=150, deadline=None)
    @given(texts)
    def check(text):
        text = _without(condition, text)
        assert recognizer.analyze(text, entities, None) == [], text

    check()


@pytest.mark.parametrize(("make", "condition", "texts"), CONDITIONS)
def test_findings_vanish_when_the_condition_is_taken_out(make, condition, texts):
    """Every edge case and planted identifier, with what the condition asks for removed."""
    recognizer: EntityRecognizer = make()
    entities = recognizer.supported_entities
    samples = [*EDGE_CASES, f"{SAM.given}: {SAM.email}, {', '.join(SAM.phone_forms)}"]
    assert any(recognizer.analyze(text, entities, None) for text in samples)
    for text in samples:
        assert recognizer.analyze(_without(condition, text), entities, None) == [], text


def test_every_prefiltered_recognizer_of_the_anonymizer_has_its_condition_tested(anonymizer):
    used = {
        (type(recognizer.recognizer), id(recognizer.requires))
        for recognizer in anonymizer.analyzer.registry.recognizers
        if isinstance(recognizer, Prefiltered)
    }
    tested = {(type(make()), id(condition)) for make, condition, _ in CONDITIONS}
    # Presidio's own phone recognizer is the gate's second opinion's only (residual.py).
    assert used == tested - {(PhoneRecognizer, id(PHONE_DIGITS))}


def test_the_gate_s_second_opinion_finds_what_presidio_unfiltered_finds(anonymizer):
    """privacy/residual.py prefilters Presidio's own recognizers the same way."""
    detector = ResidualDetector(anonymizer.analyzer.nlp_engine)
    texts = [m.body for m in generate_corpus(n_messages=250, seed=5).chat_messages if m.body]
    texts += [*EDGE_CASES, "wallet 16Yeky6GMjeNkAiNcBY7ZhrLoMSgg1BoyZ, nhs 943 476 5919"]
    ner_texts = ner_texts_of(texts)
    found = analyze_batch(
        detector.analyzer,
        texts,
        ner_texts,
        batch_size=64,
        score_threshold=0.5,
        entities=detector.entities,
    )
    reference = unfiltered(detector.analyzer)
    expected = []
    for text, ner_text in zip(texts, ner_texts, strict=True):
        with anonymizer._nlp.select_pipes(disable=[] if ner_text else ["ner"]):
            doc_text = ner_text or text
            artifacts = reference.nlp_engine.process_text(doc_text, LANGUAGE)
            expected.append(
                reference.analyze(
                    text,
                    LANGUAGE,
                    entities=detector.entities,
                    nlp_artifacts=artifacts,
                    score_threshold=0.5,
                )
            )
    assert any(isinstance(r, Prefiltered) for r in detector.analyzer.registry.recognizers)
    assert _sorted_spans(found) == _sorted_spans(expected)
