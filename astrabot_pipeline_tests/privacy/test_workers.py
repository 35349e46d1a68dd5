"""Worker processes must find exactly what one process finds, in the same order."""

from __future__ import annotations

import time

from astrabot_pipeline.privacy import anonymizer as anonymizer_module
from astrabot_pipeline.privacy import workers
from astrabot_pipeline.synthetic import generate_corpus

WORKER_START_TIMEOUT_S = 120


def _spans(results):
    return [[(r.entity_type, r.start, r.end, r.score) for r in found] for found in results]


def test_findings_with_a_worker_equal_those_of_one_process_in_order(anonymizer, monkeypatch):
    texts = [m.body for m in generate_corpus(n_messages=3000, seed=5).chat_messages if m.body]
    assert anonymizer.n_process == 2 and len(texts) < anonymizer_module.MIN_TEXTS_FOR_WORKERS
    alone = anonymizer.find_entities(texts)

    # This process takes the first chunk, then waits until the worker has taken one too:
    # otherwise it could be done before the worker has loaded its model.
    claim = workers._claim

    def claim_after_the_worker(next_chunk, n_chunks):
        chunks = claim(next_chunk, n_chunks)
        yield next(chunks)
        deadline = time.monotonic() + WORKER_START_TIMEOUT_S
        while next_chunk.value < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert next_chunk.value >= 2, "the worker took no chunk"
        yield from chunks

    monkeypatch.setattr(workers, "_claim", claim_after_the_worker)
    monkeypatch.setattr(anonymizer_module, "MIN_TEXTS_FOR_WORKERS", 1000)
    monkeypatch.setattr(anonymizer_module, "TEXTS_PER_CHUNK", 250)
    shared = anonymizer.find_entities(texts)

    assert len(shared) == len(texts)
    assert _spans(shared) == _spans(alone)
    assert sum(map(len, alone)) > 100
