"""spaCy's NER multiplies through NumPy's BLAS (privacy/spacy_ops.py) and finds exactly
what it finds through thinc's bundled BLIS."""

from __future__ import annotations

import spacy
from thinc.api import NumpyOps

from astrabot_pipeline.privacy import ConversationAnonymizer, KnownContacts
from astrabot_pipeline.privacy.anonymizer import SPACY_KEEP_PIPES
from astrabot_pipeline.privacy.english_words import SPACY_MODEL
from astrabot_pipeline.privacy.spacy_ops import multiply_with_numpy
from astrabot_pipeline.synthetic import generate_corpus


def _entities(nlp, texts):
    return [[(e.start_char, e.end_char, e.label_) for e in doc.ents] for doc in nlp.pipe(texts)]


def test_ner_finds_the_same_entities_through_numpy_as_through_blis():
    texts = [m.body for m in generate_corpus(n_messages=600, seed=4).chat_messages if m.body]
    texts += [
        "Ask Jack Miller whether Paris or Berlin is cheaper in May",
        "Dr. Okafor moved to 12 Rue de Rivoli, Paris, France last Tuesday",
        "Sunniva and Tomasz met Priya Raman at Heathrow on 3 March 2025",
    ]
    blis = spacy.load(SPACY_MODEL, enable=list(SPACY_KEEP_PIPES))
    numpy = spacy.load(SPACY_MODEL, enable=list(SPACY_KEEP_PIPES))
    multiply_with_numpy(numpy)

    found = _entities(numpy, texts)
    assert sum(map(len, found)) > 20
    assert found == _entities(blis, texts)


def test_the_anonymizers_ner_multiplies_through_numpy():
    layers = list(
        ConversationAnonymizer(KnownContacts(), b"\1" * 32)._nlp.get_pipe("ner").model.walk()
    )
    assert layers
    assert all(isinstance(layer.ops, NumpyOps) and not layer.ops.use_blis for layer in layers)
