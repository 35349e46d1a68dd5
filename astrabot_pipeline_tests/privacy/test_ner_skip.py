"""Skipping NER (all-lower-case texts, and texts whose every capital opens an ordinary
word at a sentence start or is the pronoun "I") must not change a single finding."""

from __future__ import annotations

from astrabot_pipeline.privacy import ConversationAnonymizer, KnownContacts
from astrabot_pipeline.privacy.anonymizer import choose_findings
from astrabot_pipeline.privacy.ner_view import ner_view
from astrabot_pipeline.synthetic import generate_corpus

from .conftest import recipients_frame


def _spans(results):
    return [[(r.entity_type, r.start, r.end) for r in found] for found in results]


def test_findings_equal_those_with_ner_run_on_every_text():
    anonymizer = ConversationAnonymizer(
        KnownContacts.from_recipients(recipients_frame()), b"\1" * 32
    )
    texts = [m.body for m in generate_corpus(n_messages=1500, seed=9).chat_messages if m.body]
    texts += ["meet sam at 4146 marlowe st tomorrow", "call priya on 415.555.0134 🎉", "ok"]
    # One capital, opening the message: a word the tokenizer splits ("Cannot", "Dont"),
    # a name, a cue, a word after a name label, a mid-word capital, a place.
    texts += [
        "Cannot make it tonight", "Dont tell sam", "Gonna be late", "Sunniva said hi",
        "Max said no", "name: Jan kowalski", "ok. Tell joseph hi", "iPhone is dead",
        "Will you come?", "Paris was lovely", "Dad says hi", "I saw larry stone today",
    ]  # fmt: skip
    # Several capitals, each at a sentence start or the pronoun "I": skipped only when each
    # alone is dropped; a name, a place or a cue anywhere keeps NER.
    texts += [
        "Ok. I will come. See u", "Yes I can", "I'm late. Sorry", "Haha. I'll try. Bye",
        "Ok. Sunniva said hi", "Yes. Max said no", "I met Jack Miller", "Sorry. Paris was lovely",
        "No. I live in Berlin", "Thanks. Tell joseph hi", "Ok. I'd say Cannot", "Nice. Dont go",
    ]  # fmt: skip
    assert sum(1 for text in texts if text == text.lower()) > len(texts) / 3
    assert len(anonymizer._ner_texts(texts)) == len(texts)
    skipped = [
        ner is None and any(map(str.isupper, text))
        for text, ner in zip(texts, anonymizer._ner_texts(texts), strict=True)
    ]
    assert sum(skipped) > sum(1 for text in texts if any(map(str.isupper, text))) / 2
    skipped_texts = {text for text, was in zip(texts, skipped, strict=True) if was}
    assert {"Ok. I will come. See u", "Yes I can", "I'm late. Sorry"} <= skipped_texts
    assert not {"Ok. Sunniva said hi", "I met Jack Miller", "No. I live in Berlin"} & skipped_texts
    fast = anonymizer.find_entities(texts)
    # The reference: NER on (the NER view of) every text, then the same choice of findings.
    everything = anonymizer._analyze(texts, [ner_view(text) for text in texts])
    reference = [
        choose_findings(text, found) for text, found in zip(texts, everything, strict=True)
    ]
    assert _spans(fast) == _spans(reference)
