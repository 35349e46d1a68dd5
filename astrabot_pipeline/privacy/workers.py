"""Finding entities in several processes: this one and spawned workers share the chunks.

Workers are spawned, never forked: Dagster runs threads, and a forked child inherits
their locks in whatever state they were. Each builds its own finder (spaCy model and
all) once, then takes the next chunk nobody has taken until none is left; this process
does the same from the start, so nothing waits for a worker to load its model. Only
entity types, offsets and scores come back from a worker, never text.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.sharedctypes import Synchronized
from typing import Protocol

from presidio_analyzer import RecognizerResult as AnalyzerResult

from astrabot_pipeline.settings import harden_process

Finding = tuple[str, int, int, float]  # entity type, start, end, score
FindEntities = Callable[[list[str]], list[list[AnalyzerResult]]]


class Finder(Protocol):
    def find_entities(self, texts: list[str]) -> list[list[AnalyzerResult]]: ...


def find_in_workers(
    texts: list[str],
    *,
    find_here: FindEntities,
    make_finder: Callable[[], Finder],
    n_workers: int,
    chunk_size: int,
) -> list[list[AnalyzerResult]]:
    """`find_here(texts)`, computed by this process and `n_workers` spawned ones.

    `make_finder` (picklable) builds a worker's finder, which must find what `find_here`
    finds. Results come back in the order of `texts`.
    """
    chunks = [texts[start : start + chunk_size] for start in range(0, len(texts), chunk_size)]
    spawn = multiprocessing.get_context("spawn")
    next_chunk = spawn.Value("q", 0)
    found: dict[int, list[list[AnalyzerResult]]] = {}
    with ProcessPoolExecutor(
        n_workers, mp_context=spawn, initializer=_start_worker, initargs=(make_finder, next_chunk)
    ) as pool:
        futures = [pool.submit(_find_in_chunks, chunks) for _ in range(n_workers)]
        try:
            for i in _claim(next_chunk, len(chunks)):
                found[i] = find_here(chunks[i])
        except BaseException:
            with next_chunk.get_lock():  # leave the workers nothing more to take
                next_chunk.value = len(chunks)
            raise
        for future in futures:
            for i, findings in future.result().items():
                found[i] = [[AnalyzerResult(*finding) for finding in text] for text in findings]
    return [text for i in range(len(chunks)) for text in found[i]]


def _claim(next_chunk: Synchronized, n_chunks: int) -> Iterator[int]:
    """The indexes of the chunks this process takes, one at a time, until none is left."""
    while True:
        with next_chunk.get_lock():
            i = next_chunk.value
            next_chunk.value = i + 1
        if i >= n_chunks:
            return
        yield i


# Set once in each worker process by _start_worker.
_finder: Finder | None = None
_next_chunk: Synchronized | None = None


def _start_worker(make_finder: Callable[[], Finder], next_chunk: Synchronized) -> None:
    global _finder, _next_chunk
    harden_process()
    _finder = make_finder()
    _next_chunk = next_chunk


def _find_in_chunks(chunks: list[list[str]]) -> dict[int, list[list[Finding]]]:
    assert _finder is not None and _next_chunk is not None, "worker not started"
    return {
        i: [
            [(r.entity_type, r.start, r.end, r.score) for r in text]
            for text in _finder.find_entities(chunks[i])
        ]
        for i in _claim(_next_chunk, len(chunks))
    }
