"""Privacy accuracy: what our anonymizer finds, next to Presidio's defaults.

`bench_privacy_accuracy.py [--quick]`. First, (d) at span level (docs/privacy-accuracy.md):
our generic multi-locale set, presidio-research's set and the two hand-labelled real-chat
clean sets (#duraspace IRC, SMS texting) when present: recall per type, precision, F2, surviving known identifiers, clean and
owner-style messages changed, throughput against a plain Presidio loop. `--quick` stops
there, on smaller sets. Then three older sections:
(a) presidio-research's synth_dataset_v2 (template English, no known contacts), scored
    per token the way presidio-evaluator does: precision, recall and F2 per entity type.
(b) the synthetic demo chat corpus with its planted PII: recall per planted kind, and
    precision per predicted type against what the generator knows it wrote.
(c) contact names that are also English words ("Will", "May", "Rose", "Mark"…): false
    replacements where the word is a word, next to recall where it is a name.
Figures only; nothing here tunes a recognizer to these strings.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import statistics
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import _harness  # noqa: F401  (puts the project on sys.path, hardens the process)
import _sms_chat
import spacy
from _accuracy_sets import (
    QUICK_SAMPLE,
    AccuracySet,
    contacts_table,
    generic_set,
    presidio_research_set,
    real_chat_set,
)
from _presidio_baseline import SPACY_MODEL, PlainPresidio

from astrabot_pipeline.privacy import ConversationAnonymizer, KnownContacts
from astrabot_pipeline.privacy.accuracy import CAUGHT_SHARE, AccuracyReport, Prediction, score
from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.synthetic import (
    CANARY_KINDS,
    DEMO_PASSPHRASE,
    Corpus,
    Message,
    generate_corpus,
    write_demo_backup,
)
from astrabot_pipeline.synthetic import _phrases as corpus_phrases  # its slot vocabulary
from astrabot_pipeline.synthetic.corpus import TWEET_LINK

DATASET = Path("/work/shared/data/presidio_research_synth_dataset_v2.json")
SECRET = b"\0" * 32
BETA = 2.0
N_CHAT_MESSAGES = 4_000
CHAT_SEED = 3

# Gold entity type of synth_dataset_v2 -> the type it is scored as; None: not scored (its
# tokens count as "no PII", as presidio-evaluator does with types mapped to "O").
#   ORGANIZATION: default Presidio ignores spaCy's ORG (too many false positives), and so
#                 do we; TITLE ("Mr."), AGE, ZIP_CODE alone: no Presidio recognizer emits them.
GOLD_TO_SCORED: dict[str, str | None] = {
    "PERSON": "PERSON",
    "GPE": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "DOMAIN_NAME": "URL",
    "DATE_TIME": "DATE_TIME",
    "NRP": "NRP",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
    "ORGANIZATION": None,
    "TITLE": None,
    "AGE": None,
    "ZIP_CODE": None,
}
# Predicted entity type (ours or Presidio's) -> scored type; anything else is not scored.
PREDICTED_TO_SCORED: dict[str, str] = {
    "PERSON": "PERSON",
    "KNOWN_CONTACT_NAME": "PERSON",
    "LOCATION": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "PHONE_NUMBER": "PHONE_NUMBER",
    "KNOWN_CONTACT_PHONE": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "KNOWN_CONTACT_EMAIL": "EMAIL_ADDRESS",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_SSN": "US_SSN",
    "URL": "URL",
    "DATE_TIME": "DATE_TIME",
    "NRP": "NRP",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
}
# Dates and nationalities stay text in our pipeline by design (a chat without "friday"
# or "Italian" trains a worse model); the identifier figure leaves them out.
NOT_IDENTIFIERS = frozenset({"DATE_TIME", "NRP"})

Span = tuple[int, int, str]  # start, end, scored type
Predictor = Callable[[Sequence[str]], list[list[Span]]]


# --------------------------------------------------------------------------- predictors


def default_presidio_predictor(presidio: PlainPresidio) -> Predictor:
    """Presidio's AnalyzerEngine as shipped, only pointed at the installed spaCy model."""

    def predict(texts: Sequence[str]) -> list[list[Span]]:
        out = []
        for text in texts:
            results = sorted(presidio.analyzer.analyze(text, language="en"), key=lambda r: -r.score)
            out.append(_scored_spans((r.start, r.end, r.entity_type) for r in results))
        return out

    return predict


def our_predictor(known_contacts: KnownContacts) -> Predictor:
    """Exactly the spans ConversationAnonymizer would replace."""
    anonymizer = ConversationAnonymizer(known_contacts, SECRET, batch_size=256)

    def predict(texts: Sequence[str]) -> list[list[Span]]:
        return [
            _scored_spans((r.start, r.end, r.entity_type) for r in found)
            for found in anonymizer.find_entities(list(texts))
        ]

    return predict


def _scored_spans(spans) -> list[Span]:
    return [
        (start, end, PREDICTED_TO_SCORED[entity])
        for start, end, entity in spans
        if entity in PREDICTED_TO_SCORED
    ]


# --------------------------------------------------------------------------- (a) token scores


@dataclass
class TokenCounts:
    """Per scored type: tokens annotated, predicted, and predicted with the right type."""

    annotated: Counter
    predicted: Counter
    correct: Counter

    def figures(self, types: set[str]) -> tuple[float, float, float]:
        annotated = sum(self.annotated[t] for t in types)
        predicted = sum(self.predicted[t] for t in types)
        correct = sum(self.correct[t] for t in types)
        return _prf(correct, predicted, annotated)


def _prf(correct: int, predicted: int, annotated: int) -> tuple[float, float, float]:
    precision = correct / predicted if predicted else float("nan")
    recall = correct / annotated if annotated else float("nan")
    if not precision or not recall or precision != precision or recall != recall:
        return precision, recall, 0.0
    f_beta = (1 + BETA**2) * precision * recall / (BETA**2 * precision + recall)
    return precision, recall, f_beta


def token_tags(tokens: list[tuple[int, int]], spans: Sequence[Span]) -> list[str | None]:
    """The scored type of each token: the first span (highest priority) that covers it."""
    tags: list[str | None] = []
    for start, end in tokens:
        tag = None
        for span_start, span_end, entity in spans:
            if start < span_end and end > span_start:
                tag = entity
                break
        tags.append(tag)
    return tags


def score_dataset(samples: list[dict], predict: Predictor, nlp) -> TokenCounts:
    texts = [sample["full_text"] for sample in samples]
    predictions = predict(texts)
    counts = TokenCounts(Counter(), Counter(), Counter())
    for sample, predicted in zip(samples, predictions, strict=True):
        doc = nlp.make_doc(sample["full_text"])
        tokens = [(t.idx, t.idx + len(t)) for t in doc if not t.is_space]
        gold_spans = [
            (s["start_position"], s["end_position"], GOLD_TO_SCORED[s["entity_type"]])
            for s in sample["spans"]
            if GOLD_TO_SCORED.get(s["entity_type"])
        ]
        gold = token_tags(tokens, gold_spans)
        pred = token_tags(tokens, predicted)
        for g, p in zip(gold, pred, strict=True):
            if g:
                counts.annotated[g] += 1
            if p:
                counts.predicted[p] += 1
            if g and g == p:
                counts.correct[g] += 1
    return counts


def run_presidio_research(predictors: dict[str, Predictor]) -> None:
    print(f"\n(a) {DATASET.name}: per-token precision / recall / F2 (beta={BETA:g})")
    if not DATASET.exists():
        print(f"  skipped: {DATASET} is absent (presidio-research's data/synth_dataset_v2.json)")
        return
    samples = json.loads(DATASET.read_text())
    nlp = spacy.load(SPACY_MODEL, disable=["tagger", "parser", "ner", "lemmatizer"])
    scored = {t for t in GOLD_TO_SCORED.values() if t}
    excluded = sorted(k for k, v in GOLD_TO_SCORED.items() if v is None)
    print(f"  {len(samples):,} samples; not scored (tokens count as no-PII): {', '.join(excluded)}")
    results = {}
    for label, predict in predictors.items():
        start = time.perf_counter()
        results[label] = score_dataset(samples, predict, nlp)
        print(f"  scored {label} in {time.perf_counter() - start:.1f} s")
    header = (
        "  "
        + f"{'type':<18} {'tokens':>6}"
        + "".join(f"   {label[:22]:>22} P/R/F2" for label in results)
    )
    print(header)
    any_counts = next(iter(results.values()))
    for entity in sorted(scored, key=lambda t: -any_counts.annotated[t]):
        row = f"  {entity:<18} {any_counts.annotated[entity]:>6}"
        for counts in results.values():
            p, r, f = counts.figures({entity})
            row += f"   {p:>9.2f} {r:5.2f} {f:5.2f}"
        print(row)
    for title, types in (
        ("ALL scored types", scored),
        ("identifiers (no DATE_TIME/NRP)", scored - NOT_IDENTIFIERS),
    ):
        row = f"  {title:<25}"
        for label, counts in results.items():
            p, r, f = counts.figures(types)
            row += f"   {label}: P {p:.3f} R {r:.3f} F2 {f:.3f}"
        print(row)


# --------------------------------------------------------------------------- (b) chat corpus

# Ground truth comes from the generator, not from strings written down here:
#   planted  each chat message's `.pii`, (kind, surface) pairs: every name a template wrote
#            (greetings, "{friend}", canaries), and the phone, e-mail and street canaries.
#   other    real PII it writes without listing it in `.pii`: the city and "City, ST ZIP"
#            line after a planted street (from the cast's addresses), the travel cities of
#            its `city` vocabulary, and tweet links (its own TWEET_LINK pattern).
# Each predicted span that would be replaced (see `_replaced`) is judged, in this order:
#   correct  it overlaps a planted surface of the kind its type stands for (CHAT_KIND);
#   other    it overlaps a planted surface of another kind (a name typed LOCATION, a house
#            number typed DATE_TIME) or an "other" string: real PII, so no false positive,
#            but no credit to its type either;
#   false    anything else: no PII there, as far as the generator knows. DATE_TIME and NRP
#            have no planted kind ("friday", "thai" are no identifiers, see NOT_IDENTIFIERS),
#            so their spans are false unless they land on real PII.
# precision = correct / (correct + false). Recall, as before, is per planted surface and
# blind to type: found when no whole-word copy of it survives masking with every span.
CHAT_KIND: dict[str, str] = {  # scored type -> the planted kind it stands for
    "PERSON": "name",  # also KNOWN_CONTACT_NAME (see PREDICTED_TO_SCORED)
    "PHONE_NUMBER": "phone",  # also KNOWN_CONTACT_PHONE
    "EMAIL_ADDRESS": "email",  # also KNOWN_CONTACT_EMAIL
    "LOCATION": "address",  # also STREET_ADDRESS
}
Ranges = list[tuple[int, int]]


@dataclass
class ChatCounts:
    """Per planted kind: surfaces planted and found; per scored type: spans by judgement."""

    planted: Counter
    found: Counter
    correct: Counter
    other: Counter
    false: Counter

    def judged(self, entities: Sequence[str]) -> tuple[int, int, int]:
        """(correct, other, false) spans of `entities` together."""
        correct, other, false = (
            sum(c[e] for e in entities) for c in (self.correct, self.other, self.false)
        )
        return correct, other, false


def _whole_word(surface: str) -> re.Pattern[str]:
    return re.compile(r"(?<![^\W_])" + re.escape(surface) + r"(?![^\W_])", re.IGNORECASE)


def _survives(surface: str, text: str) -> bool:
    return _whole_word(surface).search(text) is not None


def _occurrences(surfaces: Iterable[str], text: str) -> Ranges:
    return [(m.start(), m.end()) for s in surfaces for m in _whole_word(s).finditer(text)]


def _overlaps(start: int, end: int, ranges: Ranges) -> bool:
    return any(start < e and end > s for s, e in ranges)


def _replaced(spans: Sequence[Span]) -> list[Span]:
    """Spans in priority order, each dropped if it overlaps one kept before it.

    Ours are already disjoint; Presidio's analyzer returns overlaps (a URL inside an e-mail,
    DATE_TIME on a phone number) that its anonymizer resolves by score much the same way.
    """
    kept: list[Span] = []
    for span in spans:
        if not _overlaps(span[0], span[1], [(s, e) for s, e, _ in kept]):
            kept.append(span)
    return kept


def unlisted_places(corpus: Corpus) -> set[str]:
    """Places the generator writes without listing them in `Message.pii`."""
    addresses = [person.address for person in corpus.cast.people]
    return (
        {a.city for a in addresses}
        | {a.city_line for a in addresses}
        | set(corpus_phrases.SLOTS["city"])
    )


def score_chat(
    messages: Sequence[Message], predictions: Sequence[Sequence[Span]], places: set[str]
) -> ChatCounts:
    counts = ChatCounts(Counter(), Counter(), Counter(), Counter(), Counter())
    for message, predicted in zip(messages, predictions, strict=True):
        body = message.body or ""
        masked = _mask(body, predicted)
        for kind, surface in message.pii:
            counts.planted[kind] += 1
            counts.found[kind] += not _survives(surface, masked)
        planted = {
            kind: _occurrences({s for k, s in message.pii if k == kind}, body)
            for kind in CANARY_KINDS
        }
        real = [r for ranges in planted.values() for r in ranges] + _occurrences(places, body)
        real += [(m.start(), m.end()) for m in TWEET_LINK.finditer(body)]
        for start, end, entity in _replaced(predicted):
            kind = CHAT_KIND.get(entity)
            if kind and _overlaps(start, end, planted[kind]):
                counts.correct[entity] += 1
            elif _overlaps(start, end, real):
                counts.other[entity] += 1
            else:
                counts.false[entity] += 1
    return counts


def run_chat_corpus(labels_and_builders: dict[str, Callable[[KnownContacts], Predictor]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        demo = write_demo_backup(Path(tmp) / "in", n_messages=N_CHAT_MESSAGES, seed=CHAT_SEED)
        tables = (
            SignalProcessor(DEMO_PASSPHRASE, extract_attachments=False)
            .decode(demo.path, Path(tmp) / "out")
            .read_tables()
        )
    contacts = KnownContacts.from_recipients(tables["recipients"], tables["recipient_names"])
    corpus = generate_corpus(n_messages=N_CHAT_MESSAGES, seed=CHAT_SEED)
    messages = [m for m in corpus.chat_messages if m.body and m.body.strip()]
    texts = [m.body for m in messages]
    places = unlisted_places(corpus)
    print(
        f"\n(b) demo chat corpus: {len(texts):,} messages, "
        f"{sum(len(m.pii) for m in messages):,} planted identifiers (seed {CHAT_SEED})"
    )
    print(
        "  spans: correct = on a planted identifier of its kind; other = on real PII all the"
        " same\n  (another kind, a city, a tweet link); precision = correct / (correct + false)"
    )
    print(
        f"  {'':<17} {'kind / type':<22} {'planted':>7} {'recall':>6} {'missed':>6}"
        f"   {'spans':>5} {'correct':>7} {'other':>5} {'false':>5} {'precision':>9}"
    )
    for label, build in labels_and_builders.items():
        predict = build(contacts)
        start = time.perf_counter()
        predictions = predict(texts)
        seconds = time.perf_counter() - start
        counts = score_chat(messages, predictions, places)
        judged = counts.correct + counts.other + counts.false
        rows = [(f"{kind} / {entity}", [kind], [entity]) for entity, kind in CHAT_KIND.items()]
        rows += [(f"- / {e}", [], [e]) for e, _ in judged.most_common() if e not in CHAT_KIND]
        rows.append(("all", list(CANARY_KINDS), list(judged)))
        if NOT_IDENTIFIERS & set(judged):
            identifiers = [e for e in judged if e not in NOT_IDENTIFIERS]
            rows.append(("all but DATE_TIME/NRP", [], identifiers))  # recall: as above
        names = [label, f"({seconds:.1f} s)"]
        for row, (title, kinds, entities) in enumerate(rows):
            name = names[row] if row < len(names) else ""
            print(
                f"  {name:<17} {title:<22} {_recall(counts, kinds)}   {_precision(counts, entities)}"
            )


def _recall(counts: ChatCounts, kinds: Sequence[str]) -> str:
    planted = sum(counts.planted[k] for k in kinds)
    if not planted:
        return f"{'-':>7} {'-':>6} {'-':>6}"
    found = sum(counts.found[k] for k in kinds)
    return f"{planted:>7} {found / planted:>6.3f} {planted - found:>6}"


def _precision(counts: ChatCounts, entities: Sequence[str]) -> str:
    correct, other, false = counts.judged(entities)
    precision = f"{correct / (correct + false):.3f}" if correct + false else "-"
    return f"{correct + other + false:>5} {correct:>7} {other:>5} {false:>5} {precision:>9}"


def _mask(text: str, spans: Sequence[Span]) -> str:
    for start, end, _ in sorted(spans, reverse=True):
        text = text[:start] + "\0" * (end - start) + text[end:]
    return text


# --------------------------------------------------------------------------- (c) common words

COMMON_WORD_CONTACTS = (
    ("Will", "Turner"),
    ("May", "Okoro"),
    ("Rose", "Delgado"),
    ("Mark", "Svensson"),
    ("Grace", "Mbeki"),
    ("Hope", "Lindahl"),
    ("Faith", "Nakamura"),
    ("June", "Castillo"),
    ("William", "Hart"),  # -> Will / Bill by diminutive
    ("Mom", None),  # a contact saved as "Mom"
)
# The word used as a word: {} is the word as written (lowercase, or sentence-initial).
AS_WORDS = {
    "will": ("i {} call you later", "{} you be there?", "it {} be fine", "we {} see lol"),
    "may": ("it {} rain tmrw", "{} i borrow your charger", "you {} be right", "see you in {}"),
    "rose": ("the sun {} at 6", "prices {} again smh", "got her a {} for the date"),
    "mark": ("{} my words", "top {} on the exam", "did you {} it on the calendar"),
    "grace": ("she handled it with {}", "a 5 day {} period", "saying {} before dinner"),
    "hope": ("i {} you feel better", "{} you're ok", "fingers crossed, no {} left lol"),
    "faith": ("have some {} in me", "in good {} i paid", "losing {} in this team"),
    "june": ("see you in {}", "{} was so hot", "the lease ends in {}"),
    "bill": ("split the {}?", "the electric {} came", "{} me later for the pizza"),
    "mom": ("my {} says hi", "{} is making lasagna", "gotta call my {}"),
}
AS_NAMES = (
    "{} is coming tonight",
    "did you ask {} about it",
    "tell {} i said hi",
    "{}'s car broke down lol",
    "omg {}!!",
    "with {} and the others",
)
NAME_WORDS = ("Will", "May", "Rose", "Mark", "Grace", "Hope", "Faith", "June", "Bill", "Mom")


def common_word_contacts() -> KnownContacts:
    return contacts_table(
        (given, family, f"+1415555{i:04d}", None)
        for i, (given, family) in enumerate(COMMON_WORD_CONTACTS, start=1)
    )


def _sentence(template: str, word: str) -> tuple[str, int, int]:
    if template.startswith("{}"):
        word = word[:1].upper() + word[1:]
    text = template.format(word)
    start = template.index("{}")
    return text, start, start + len(word)


def run_common_words(predictors: dict[str, Predictor]) -> None:
    as_words = [
        (word, *_sentence(t, word)) for word, templates in AS_WORDS.items() for t in templates
    ]
    rng = random.Random(0)
    as_names = []
    for name in NAME_WORDS:
        for template in AS_NAMES:
            for written in (name, name.lower()):
                text = template.format(written)
                start = text.lower().index(name.lower())
                as_names.append((name.lower(), text, start, start + len(name)))
    rng.shuffle(as_names)
    print(
        f"\n(c) common-word names: {len(as_words)} sentences using them as words, "
        f"{len(as_names)} as names (half lowercase)"
    )
    for label, predict in predictors.items():
        word_hits = predict([text for _, text, _, _ in as_words])
        name_hits = predict([text for _, text, _, _ in as_names])
        false_by_word: Counter = Counter()
        missed_by_name: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        for (word, _, start, end), spans in zip(as_words, word_hits, strict=True):
            false_by_word[word] += any(s < end and e > start for s, e, _ in spans)
        for (word, text, start, end), spans in zip(as_names, name_hits, strict=True):
            lower = text[start:end].islower()
            missed_by_name[word][lower] += not any(
                s <= start and e >= end and t == "PERSON" for s, e, t in spans
            )
        false_total = sum(false_by_word.values())
        true_total = len(as_names) - sum(sum(v) for v in missed_by_name.values())
        precision = true_total / (true_total + false_total) if true_total + false_total else 0
        half = len(as_names) // 2
        cap_recall = 1 - sum(v[0] for v in missed_by_name.values()) / half
        low_recall = 1 - sum(v[1] for v in missed_by_name.values()) / half
        print(
            f"  {label:<20} false replacements {false_total}/{len(as_words)} word uses; "
            f"recall as names: Capitalized {cap_recall:.3f}, lowercase {low_recall:.3f}; "
            f"precision {precision:.3f}"
        )
        print(
            f"  {'':<20} false by word: "
            + ", ".join(f"{w} {n}/{len(AS_WORDS[w])}" for w, n in false_by_word.items() if n)
        )
        print(
            f"  {'':<20} missed names (Cap/lower): "
            + ", ".join(f"{w} {c}/{lo}" for w, (c, lo) in missed_by_name.items() if c or lo)
        )


# --------------------------------------------------------------------------- (d) span level

# The goals, printed beside the figures (docs/privacy-accuracy.md).
GOAL_RECALL_TYPES = ("PERSON", "PHONE", "EMAIL", "IBAN", "CARD", "NATIONAL_ID", "HANDLE")
GOAL_RECALL, GOAL_F2, GOAL_CLEAN_CHANGED, GOAL_SPEED_UP = 0.9, 0.85, 0.02, 10.0
TIMED_RUNS = 5


@dataclass
class Anonymizer:
    """One anonymizer under test: `run` is timed, `predictions` turns its output into what
    each text had replaced (offsets in the original) and whether it changed."""

    label: str
    run: Callable[[list[str]], object]
    predictions: Callable[[list[str], object], list[Prediction]]


def ours(contacts: KnownContacts) -> Anonymizer:
    anonymizer = ConversationAnonymizer(contacts, SECRET, batch_size=256)

    def predictions(texts: list[str], result) -> list[Prediction]:
        return [
            Prediction(
                tuple((r.start, r.end) for r in replaced if r.surrogate != text[r.start : r.end]),
                anonymized != text,
            )
            for text, anonymized, replaced in zip(
                texts, result.texts, result.replacements, strict=True
            )
        ]

    return Anonymizer("ours", anonymizer.anonymize_texts, predictions)


def plain_presidio(presidio: PlainPresidio) -> Anonymizer:
    # Presidio's anonymizer replaces the union of the analyzer's findings (a finding inside
    # another is dropped, partial overlaps are both kept): that union is what was replaced.
    def predictions(texts: list[str], result) -> list[Prediction]:
        return [
            Prediction(tuple((r.start, r.end) for r in found), anonymized != text)
            for text, (anonymized, found) in zip(texts, result, strict=True)
        ]

    return Anonymizer("Presidio", presidio.anonymize, predictions)


def alternate(
    texts: list[str], anonymizers: Sequence[Anonymizer], runs: int = TIMED_RUNS
) -> tuple[dict[str, list[Prediction]], dict[str, float]]:
    """Each anonymizer `runs` times over `texts`, taking turns; the first run's predictions
    and the median seconds of each."""
    seconds: dict[str, list[float]] = defaultdict(list)
    first: dict[str, list[Prediction]] = {}
    for _ in range(runs):
        for anonymizer in anonymizers:
            start = time.perf_counter()
            result = anonymizer.run(texts)
            seconds[anonymizer.label].append(time.perf_counter() - start)
            if anonymizer.label not in first:
                first[anonymizer.label] = anonymizer.predictions(texts, result)
    return first, {label: statistics.median(times) for label, times in seconds.items()}


def _share(part: int, whole: int) -> str:
    return f"{part}/{whole} ({part / whole:.1%})" if whole else "-"


def _flag(ok: bool) -> str:
    return "" if ok else "  <- below goal"


def print_span_level(found: AccuracySet, reports: dict[str, AccuracyReport]) -> None:
    labels = list(reports)
    first = reports[labels[0]]
    types = sorted(first.gold, key=lambda t: -first.gold[t])
    print(f"  {'recall':<22} {'gold':>6}" + "".join(f" {label:>9}" for label in labels))
    for entity in types:
        row = f"  {entity:<22} {first.gold[entity]:>6}"
        row += "".join(f" {r.recall_of(entity):>9.3f}" for r in reports.values())
        goal = entity in GOAL_RECALL_TYPES and found.name.startswith("generic")
        print(row + (_flag(first.recall_of(entity) >= GOAL_RECALL) if goal else ""))
    for title, figure in (
        ("recall, all types", lambda r: r.recall),
        ("precision", lambda r: r.precision),
        ("F2", lambda r: r.f2),
    ):
        row = (
            f"  {title:<22} {sum(first.gold.values()):>6}"
            if title.startswith("recall")
            else (f"  {title:<22} {'':>6}")
        )
        print(row + "".join(f" {figure(r):>9.3f}" for r in reports.values()))
    print(
        f"  {'replacements':<22} {'':>6}"
        + "".join(
            f" {r.true_replacements + r.false_replacements + r.neutral_replacements:>9}"
            for r in reports.values()
        )
        + "   (true / false / on unscored types: "
        + "; ".join(
            f"{label} {r.true_replacements}/{r.false_replacements}/{r.neutral_replacements}"
            for label, r in reports.items()
        )
        + ")"
    )
    if first.known_identifiers:
        print(
            "  surviving known identifiers: "
            + "; ".join(
                f"{label} {r.surviving_known}/{r.known_identifiers}" for label, r in reports.items()
            )
            + "  (a run of 3+ letters or digits of a contact's name, number or e-mail left whole)"
        )
    if first.clean_texts:
        print(
            "  clean texts changed: "
            + "; ".join(
                f"{label} {_share(r.clean_changed, r.clean_texts)}, owner-style "
                f"{_share(r.owner_style_changed, r.owner_style_clean)}"
                for label, r in reports.items()
            )
        )


def run_span_level(found: AccuracySet | str, title: str, presidio: PlainPresidio) -> None:
    print(
        f"\n(d) {title}: span level (caught = {CAUGHT_SHARE:.0%} of a gold span's characters replaced)"
    )
    if isinstance(found, str):
        print(f"  skipped: {found}")
        return
    texts = [labelled.text for labelled in found.texts]
    with_pii = sum(1 for labelled in found.texts if labelled.spans)
    print(
        f"  {found.name}: {len(texts):,} texts, {with_pii:,} with gold spans, "
        f"{len(texts) - with_pii:,} without; {found.note}"
    )
    anonymizers = [ours(found.contacts), plain_presidio(presidio)]
    predictions, seconds = alternate(texts, anonymizers)
    reports = {
        label: score(found.texts, predicted, found.scored_types)
        for label, predicted in predictions.items()
    }
    print_span_level(found, reports)
    if found.groups:
        print(
            "  recall of ours by locale: "
            + ", ".join(
                f"{group} {_group_report(found, predictions['ours'], group).recall:.3f}"
                for group in dict.fromkeys(found.groups)
            )
        )
    if any(span.known_contact for labelled in found.texts for span in labelled.spans):
        print(
            "  PERSON recall, address-book names / strangers' names (a contact's given name"
            " with another family name among them): "
            + "; ".join(
                f"{label} {_person_recall(found, predicted, True):.3f} / "
                f"{_person_recall(found, predicted, False):.3f}"
                for label, predicted in predictions.items()
            )
        )
    speed_up = seconds["Presidio"] / seconds["ours"]
    print(
        f"  throughput (median of {TIMED_RUNS} alternating runs): ours {seconds['ours']:.2f} s "
        f"({len(texts) / seconds['ours']:,.0f} texts/s), plain Presidio loop "
        f"{seconds['Presidio']:.2f} s ({len(texts) / seconds['Presidio']:,.0f} texts/s): "
        f"{speed_up:.1f}x{_flag(speed_up >= GOAL_SPEED_UP)}"
    )


def _group_report(found: AccuracySet, predictions: list[Prediction], group: str) -> AccuracyReport:
    chosen = [i for i, g in enumerate(found.groups) if g == group]
    return score(
        [found.texts[i] for i in chosen], [predictions[i] for i in chosen], found.scored_types
    )


def _person_recall(found: AccuracySet, predictions: list[Prediction], known: bool) -> float:
    texts = [
        replace(
            t, spans=tuple(s for s in t.spans if s.type == "PERSON" and s.known_contact == known)
        )
        for t in found.texts
    ]
    return score(texts, predictions).recall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"span-level figures only, on smaller sets ({QUICK_SAMPLE} texts of each outside set)",
    )
    args = parser.parse_args()
    presidio = PlainPresidio()
    run_span_level(generic_set(args.quick), "generic multi-locale PII set", presidio)
    run_span_level(presidio_research_set(args.quick), "presidio-research", presidio)
    run_span_level(real_chat_set(args.quick), "real-chat clean set", presidio)
    sms = real_chat_set(args.quick, _sms_chat.LABELS_FILE, "SMS clean precision set")
    run_span_level(sms, "SMS clean set", presidio)
    if args.quick:
        return
    predictor = default_presidio_predictor(presidio)
    run_presidio_research({"ours": our_predictor(KnownContacts()), "default Presidio": predictor})
    run_chat_corpus({"ours": our_predictor, "default Presidio": lambda _: predictor})
    contacts = common_word_contacts()
    run_common_words({"ours": our_predictor(contacts), "default Presidio": predictor})


if __name__ == "__main__":
    main()
