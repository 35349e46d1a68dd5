"""Skipping NER on all-lower-case texts must not change a single finding."""

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
    assert sum(1 for text in texts if text == text.lower()) > len(texts) / 3
    fast = anonymizer.find_entities(texts)
    # The reference: NER on (the NER view of) every text, then the same choice of findings.
    everything = anonymizer._analyze(texts, [ner_view(text) for text in texts])
    reference = [
        choose_findings(text, found) for text, found in zip(texts, everything, strict=True)
    ]
    assert _spans(fast) == _spans(reference)
