"""decoded_backup: decode throughput, attachment overhead and memory against bare crypto.

0. End to end: `astrabot decode` (a new process: imports, key derivation, decryption,
   replay, normalization, Parquet) on the 200,000-message demo backup, alternating with
   the same command run from a checkout of commit 835d3bd (the decoder before issue 24's
   speed-ups, unpacked with `git archive` into a temporary folder), median of 5 each, and
   the two outputs compared table by table and row by row.
1. Message-heavy: a generated demo backup of >= 200,000 frames; frames/s and MB/s.
2. Attachment-heavy (>= 1 GB): decode time vs a bare AES-256-CTR + HMAC-SHA256 pass
   over the same bytes in the same run (the floor any decoder must pay).
3. Peak RSS decoding a ~200 MB and a ~2 GB backup: streaming means it stays flat.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.parquet as pq
from _harness import measure, report
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from astrabot_pipeline.signal import SignalProcessor
from astrabot_pipeline.signal.legacy.encoder import BackupWriter
from astrabot_pipeline.synthetic import DEMO_PASSPHRASE, write_demo_backup

MESSAGE_HEAVY_MESSAGES = 200_000
BLOB_BYTES = 8 << 20
CHUNK = 1 << 20
SCHEMA = (
    "CREATE TABLE recipient (_id INTEGER PRIMARY KEY, type INTEGER, e164 TEXT, aci TEXT)",
    "CREATE TABLE thread (_id INTEGER PRIMARY KEY, recipient_id INTEGER)",
    "CREATE TABLE message (_id INTEGER PRIMARY KEY, thread_id INTEGER, date_sent INTEGER, "
    "date_received INTEGER, type INTEGER, body TEXT, from_recipient_id INTEGER, "
    "to_recipient_id INTEGER)",
    "CREATE TABLE attachment (_id INTEGER PRIMARY KEY, message_id INTEGER, "
    "content_type TEXT, file_name TEXT, data_size INTEGER)",
)
OUTGOING = 10485783
BASELINE_COMMIT = "835d3bd"
END_TO_END_RUNS = 5
REPO = Path(__file__).resolve().parents[1]


def bare_crypto_pass(path: Path, sink: Path | None = None) -> int:
    """Decrypt and MAC every byte once, with no parsing or SQLite; with `sink`, also write
    the plaintext there (the floor for a decode that extracts attachments)."""
    cipher = Cipher(algorithms.AES(os.urandom(32)), modes.CTR(os.urandom(16))).decryptor()
    mac = hmac.new(os.urandom(32), digestmod=hashlib.sha256)
    total = 0
    with open(path, "rb") as handle, open(sink or os.devnull, "wb") as out:
        while chunk := handle.read(CHUNK):
            mac.update(chunk)
            plain = cipher.update(chunk)
            if sink is not None:
                out.write(plain)
            total += len(chunk)
    return total


def write_attachment_backup(path: Path, total_bytes: int) -> int:
    """A backup of `total_bytes` of 8 MiB random attachment blobs (one in memory at a time)."""
    blobs = max(1, total_bytes // BLOB_BYTES)
    with BackupWriter(path, DEMO_PASSPHRASE) as writer:
        writer.write_database_version(230)
        for statement in SCHEMA:
            writer.write_statement(statement)
        writer.write_statement("INSERT INTO recipient VALUES (?,?,?,?)", (1, 0, "+15550100", "a"))
        writer.write_statement("INSERT INTO recipient VALUES (?,?,?,?)", (2, 0, "+15550101", "b"))
        writer.write_statement("INSERT INTO thread VALUES (?,?)", (1, 2))
        writer.write_key_value("account.aci", "a")
        for row_id in range(1, blobs + 1):
            sent = 1_700_000_000_000 + row_id
            writer.write_statement(
                "INSERT INTO message VALUES (?,?,?,?,?,?,?,?)",
                (row_id, 1, sent, sent, OUTGOING, None, 1, 2),
            )
            writer.write_statement(
                "INSERT INTO attachment VALUES (?,?,?,?,?)",
                (row_id, row_id, "application/octet-stream", f"blob{row_id}.bin", BLOB_BYTES),
            )
            writer.write_attachment(row_id, os.urandom(BLOB_BYTES))
        writer.end()
    return blobs


def decode_into(path: Path, out: Path, *, extract: bool = True) -> int:
    return SignalProcessor(DEMO_PASSPHRASE, extract_attachments=extract).decode(path, out).frames


def baseline_tree(tmp: Path) -> Path | None:
    """The package as of BASELINE_COMMIT, unpacked into `tmp` (None without git history)."""
    archive = subprocess.run(
        ["git", "-C", str(REPO), "archive", BASELINE_COMMIT, "astrabot_pipeline"],
        capture_output=True,
        check=False,
    )
    if archive.returncode != 0:
        return None
    tmp.mkdir()
    subprocess.run(["tar", "-x", "-C", str(tmp)], input=archive.stdout, check=True)
    return tmp


def run_cli_decode(tree: Path, backup: Path, out: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of `astrabot decode` run from `tree` in a new process."""
    env = {**os.environ, "PYTHONPATH": str(tree), "SIGNAL_BACKUP_PASSPHRASE": DEMO_PASSPHRASE}
    command = [sys.executable, "-m", "astrabot_pipeline.cli", "decode", str(backup)]
    start = time.perf_counter()
    # Run in `tree`: `python -m` puts the working folder ahead of PYTHONPATH.
    child = subprocess.Popen(
        [*command, "--out", str(out), "--force"], cwd=tree, env=env, stdout=subprocess.DEVNULL
    )
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - start
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        raise RuntimeError(f"astrabot decode from {tree} failed ({child.returncode})")
    return seconds, usage.ru_maxrss / 1024


def output_digest(out: Path) -> str:
    """A digest of a decode output: every contract table (schema and rows) and every row
    of every table of the replayed database, in rowid order."""
    digest = hashlib.sha256()
    for path in sorted((out / "tables").glob("*.parquet")):
        table = pq.read_table(path)
        digest.update(f"{path.name}\n{table.schema}\n{table.to_pylist()!r}".encode())
    with sqlite3.connect(out / "signal.sqlite") as connection:
        digest.update(repr(connection.execute("PRAGMA user_version").fetchall()).encode())
        tables = connection.execute("SELECT name, sql FROM sqlite_master ORDER BY name")
        for name, sql in tables.fetchall():
            digest.update(repr((name, sql)).encode())
            if (sql or "").startswith("CREATE TABLE"):
                quoted = '"' + name.replace('"', '""') + '"'
                for row in connection.execute(f"SELECT * FROM {quoted} ORDER BY rowid"):
                    digest.update(repr(row).encode())
    return digest.hexdigest()


def end_to_end(tmp: Path, backup: Path) -> None:
    baseline = baseline_tree(tmp / "baseline")
    if baseline is None:
        print(f"0. end to end: skipped (no git history holding {BASELINE_COMMIT})")
        return
    print(
        f"0. end to end: astrabot decode, this tree vs commit {BASELINE_COMMIT} "
        f"(git archive), alternating, median of {END_TO_END_RUNS}"
    )
    trees = {"today (835d3bd)": baseline, "this tree": REPO}
    runs: dict[str, list[tuple[float, float]]] = {label: [] for label in trees}
    for _ in range(END_TO_END_RUNS):
        for label, tree in trees.items():
            runs[label].append(run_cli_decode(tree, backup, tmp / f"e2e-{tree.name}"))
    medians = {}
    for label, results in runs.items():
        seconds = statistics.median(run[0] for run in results)
        peak = statistics.median(run[1] for run in results)
        medians[label] = seconds
        spread = ", ".join(f"{run[0]:.2f}" for run in results)
        print(f"  {label:<38} {seconds:7.2f} s (runs {spread}), peak RSS {peak:5.0f} MiB")
    speedup = medians["today (835d3bd)"] / medians["this tree"]
    print(f"  {'':<38} {speedup:.2f}x faster (goal >= 2.5x, <= 400 MB peak RSS)")
    same = output_digest(tmp / f"e2e-{baseline.name}") == output_digest(tmp / f"e2e-{REPO.name}")
    print(f"  {'':<38} outputs identical (tables and database rows): {'yes' if same else 'NO'}")


def message_heavy(tmp: Path) -> None:
    demo = write_demo_backup(tmp / "msgs", n_messages=MESSAGE_HEAVY_MESSAGES, seed=2)
    end_to_end(tmp, demo.path)
    size = demo.path.stat().st_size
    print(f"1. message-heavy: {size / 1e6:.1f} MB demo backup, {MESSAGE_HEAVY_MESSAGES:,} messages")
    seconds, peak, frames = measure(lambda: decode_into(demo.path, tmp / "msgs-out"))
    report("SignalProcessor.decode (full)", frames, "frames", seconds, peak)
    print(f"  {'':<38} {size / seconds / 1e6:9.1f} MB/s (goal: 50,000 frames/s)")
    base_seconds, base_peak, _ = measure(lambda: bare_crypto_pass(demo.path))
    report("baseline: bare AES-CTR + HMAC pass", size, "bytes", base_seconds, base_peak)


def attachment_heavy(tmp: Path, gigabytes: float) -> tuple[float, float]:
    path = tmp / f"blobs-{gigabytes}.backup"
    write_attachment_backup(path, int(gigabytes * (1 << 30)))
    size = path.stat().st_size
    print(f"  {size / 1e9:.2f} GB backup")
    verify, verify_peak, _ = measure(lambda: decode_into(path, tmp / "v", extract=False))
    report("decode --no-attachments (MAC-checked)", size, "bytes", verify, verify_peak)
    bare, bare_peak, _ = measure(lambda: bare_crypto_pass(path))
    report("baseline: bare AES-CTR + HMAC pass", size, "bytes", bare, bare_peak)
    print(f"  {'':<38} ratio {verify / bare:.2f}x (goal <= 1.3x)")
    extract, extract_peak, _ = measure(lambda: decode_into(path, tmp / "x"))
    report("decode, blobs written to disk", size, "bytes", extract, extract_peak)
    floor, _, _ = measure(lambda: bare_crypto_pass(path, tmp / "plain.bin"))
    report("baseline: bare pass writing plaintext", size, "bytes", floor, bare_peak)
    print(f"  {'':<38} ratio {extract / floor:.2f}x")
    for leftover in (path, tmp / "plain.bin"):
        leftover.unlink()
    return extract, max(verify_peak, extract_peak)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        message_heavy(tmp)
        print("2./3. attachment-heavy backups (8 MiB blobs)")
        sizes = [float(arg) for arg in sys.argv[1:]] or [0.2, 2.0]
        peaks = [attachment_heavy(tmp, gigabytes)[1] for gigabytes in sizes]
        if len(peaks) == 2:
            print(
                f"  peak RSS {sizes[0]} GB -> {sizes[1]} GB: {peaks[0]:.0f} -> {peaks[1]:.0f} MiB "
                f"({(peaks[1] / peaks[0] - 1) * 100:+.1f} %, goal within 10 %)"
            )


if __name__ == "__main__":
    main()
