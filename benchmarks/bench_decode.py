"""decoded_backup: full decode vs a bare AES-256-CTR + HMAC-SHA256 pass over the same bytes."""

from __future__ import annotations

import hashlib
import hmac
import os
import tempfile
from pathlib import Path

from _harness import measure, report
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup

N_MESSAGES = 100_000
CHUNK = 1 << 20


def bare_crypto_pass(path: Path) -> int:
    """The floor: decrypt and MAC every byte once, with no parsing or SQLite."""
    cipher = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).decryptor()
    mac = hmac.new(os.urandom(32), digestmod=hashlib.sha256)
    total = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(CHUNK):
            mac.update(cipher.update(chunk))
            total += len(chunk)
    return total


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        demo = write_demo_backup(Path(tmp) / "in", n_messages=N_MESSAGES, seed=2)
        size = demo.path.stat().st_size
        print(f"decode of a {size / 1e6:.1f} MB demo backup ({N_MESSAGES:,} chat messages)")
        processor = SignalProcessor(DEMO_PASSPHRASE)

        def decode():
            result = processor.decode(demo.path, Path(tmp) / "out")
            return result.frames

        seconds, peak, frames = measure(decode)
        report("SignalProcessor.decode (full)", frames, "frames", seconds, peak)
        print(f"  {'':<38} {size / seconds / 1e6:9.1f} MB/s")
        base_seconds, base_peak, _ = measure(lambda: bare_crypto_pass(demo.path))
        report("baseline: bare AES-CTR + HMAC pass", size, "bytes", base_seconds, base_peak)
        print(
            f"  decode / bare-crypto time ratio: {seconds / base_seconds:.1f}x "
            "(the decode also parses protobuf, replays SQL and writes Parquet)"
        )


if __name__ == "__main__":
    main()
