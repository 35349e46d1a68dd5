"""How many processes find entities by default, and in batches of how many texts, in a
module that imports neither spaCy nor Presidio: the Dagster config shows the numbers, and
loading the definitions must not pay for the NLP libraries (lazy_exports.py says why)."""

from __future__ import annotations

import os


def available_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


# Processes that find entities, this one included (the others are spawned workers).
# Measured on 2 cores, 100,000 demo messages: 23.0 s in one process, 15.1 s in two (the
# worker spends its first ~4.5 s starting). More was not measured; a worker takes ~560 MiB.
DEFAULT_N_PROCESS = min(2, available_cpus())
# Texts handed to spaCy's pipe at once, in each process.
DEFAULT_BATCH_SIZE = 256
