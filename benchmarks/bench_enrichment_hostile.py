"""Hostile Nitter instances: one tweet looked up against a local server that answers with a
compression bomb or trickles its reply a byte at a time, with the defaults' politeness
replaced by the figures of issue 22 (timeout_seconds 5, a run budget of 30 s).

Each lookup runs in a forked child under a 2 GiB address-space limit, so a bomb that
decodes to 4 GiB ends in a MemoryError instead of taking the machine's memory. Printed per
case: wall time, peak RSS of the child and what the run counted (or the exception).
`--trickle-for S` is how long the server keeps trickling (60 s by default).
"""

from __future__ import annotations

import argparse
import gzip
import resource
import zlib
from functools import partial
from pathlib import Path

from _harness import measure

import astrabot_pipeline_tests.nitter_server as nitter_server
from astrabot_pipeline.enrichment import TwitterExtractor
from astrabot_pipeline_tests.nitter_server import NitterServer, Reply, page, serving

MEMORY_LIMIT = 2 << 30
BOMB_CACHE = Path("/tmp/astrabot-bench-bombs")


def _zeros_compressed(size: int, wbits: int) -> bytes:
    """`size` zero bytes compressed at level 9, built in slices (never `size` in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, wbits)
    block = bytes(16 << 20)
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + packer.flush()


def _bomb(name: str, build) -> bytes:  # noqa: ANN001 - a zero-argument builder
    BOMB_CACHE.mkdir(exist_ok=True)
    path = BOMB_CACHE / name
    if not path.exists():
        path.write_bytes(build())
    return path.read_bytes()


def cases() -> dict[str, Reply]:
    gzip_4g = _bomb("gzip-4g", lambda: _zeros_compressed(4 << 30, zlib.MAX_WBITS | 16))
    stacked = gzip.compress(gzip_4g, 9)
    single = _bomb("gzip-2g", lambda: _zeros_compressed(2 << 30, zlib.MAX_WBITS | 16))
    deflated = _bomb("deflate-2g", lambda: _zeros_compressed(2 << 30, zlib.MAX_WBITS))
    tweet = page("single_tweet.html")
    return {
        f"gzip, gzip: {len(stacked):,} B -> 4 GiB": Reply(
            200, stacked, (("Content-Encoding", "gzip, gzip"),)
        ),
        f"gzip: {len(single):,} B -> 2 GiB": Reply(200, single, (("Content-Encoding", "gzip"),)),
        f"deflate: {len(deflated):,} B -> 2 GiB": Reply(
            200, deflated, (("Content-Encoding", "deflate"),)
        ),
        "headers trickled, 1 byte / 0.5 s": Reply(trickle=0.5, trickled="head"),
        "body trickled, 1 byte / 0.5 s": Reply(200, tweet, trickle=0.5, trickled="body"),
        "endless chunked body, 1 byte / 0.5 s": Reply(trickle=0.5, trickled="chunks"),
    }


def lookup(url: str, **settings: float) -> str:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    try:
        with TwitterExtractor([url], 0.0, **settings) as client:
            result = client.fetch_tweet("42")
    except Exception as error:  # noqa: BLE001 - the before figures end in library errors
        return f"raised {type(error).__name__}"
    failed = dict(client.stats.failed_requests)
    return f"{result.status.value} ({result.reason}), failed requests {failed}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--trickle-for", type=float, default=60.0)
    parser.add_argument("--only", help="run the cases whose name holds this text")
    args = parser.parse_args()
    nitter_server.TRICKLE_FOR = args.trickle_for
    runs = [
        (name, reply, {"timeout_seconds": 5.0, "time_budget_seconds": 30.0})
        for name, reply in cases().items()
    ]
    runs.append(
        (
            "body trickled, timeout 20 s, budget 3 s",
            Reply(200, page("single_tweet.html"), trickle=0.5, trickled="body"),
            {"timeout_seconds": 20.0, "time_budget_seconds": 3.0},
        )
    )
    print(f"one lookup per case, 2 GiB address-space limit, trickles last {args.trickle_for} s")
    for name, reply, settings in runs:
        if args.only and args.only not in name:
            continue
        with serving(NitterServer(default=reply)) as server:
            seconds, peak_mib, outcome = measure(partial(lookup, server.url, **settings))
        print(f"  {name:<42} {seconds:6.1f} s, peak RSS {peak_mib:6.0f} MiB: {outcome}")


if __name__ == "__main__":
    main()
