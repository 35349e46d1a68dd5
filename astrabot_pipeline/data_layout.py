"""The data folder's layout: which folder or file under $ASTRABOT_DATA_DIR holds what.

Every name is written here once; the stages, the IO manager, `astrabot purge` and the
settings join these names to the data folder instead of spelling them.
docs/architecture.md §3 draws the same layout as a table. Folders are named relative to
the data folder, files relative to the folder they live in.
"""

from __future__ import annotations

BACKUPS = "backups"  # the inputs: the default backup folder
DECODED = "decoded"  # the decoder's plaintext output
LATEST_DECODE = "latest"  # in decoded/: signal.sqlite, attachments, tables, decode.json
ASSETS = "assets"  # each asset's output, written by the IO manager (below)
CACHE = "cache"
TWEET_CACHE_FILE = "tweets.sqlite"  # in cache/: what is known about each tweet id
BACKUP_HASHES_FILE = "backup-sha256.json"  # in cache/: content hashes of the backups seen
SECRETS = "secrets"  # keys, kept by every purge, and the identifier digests
PSEUDONYM_KEY_FILE = "pseudonym.key"  # in secrets/
DIGEST_KEY_FILE = "identifier_digest.key"  # in secrets/
DIGEST_FILE = "identifier_digests.json"  # in secrets/: keyed digests of what was replaced
CANARIES = "canaries"
CANARY_RECORD = "memorization.json"  # in canaries/: the planted canaries, read by the evaluation
DATASET = "dataset"  # the JSONL export of the examples
MODELS = "models"  # adapters per stage and the approval record
REPORTS = "reports"
SAMPLES = "samples"  # redacted sample generations (private, never in reports/)
SAMPLES_FILE = "samples.md"  # in samples/
EXPORTS = "exports"  # `astrabot export` outputs
HISTORY_ORIGIN_FILE = "history_origin.json"  # whether the decoded history is the demo

# How the IO manager stores an asset's output under assets/, named by its asset key: a
# DataFrame as one Parquet file, a dict of DataFrames as a folder of them (one per table),
# anything else (a manifest, a typed record) as JSON.
FRAME_SUFFIX = ".parquet"
RECORD_SUFFIX = ".json"


def asset_output(*key: str) -> str:
    """The path, relative to the data folder, of an asset's output without its suffix:
    the folder that holds a dict of DataFrames."""
    return "/".join((ASSETS, *key))


def frame_output(*key: str) -> str:
    """Where the IO manager writes an asset's DataFrame."""
    return asset_output(*key) + FRAME_SUFFIX


def record_output(*key: str) -> str:
    """Where the IO manager writes an asset's JSON output."""
    return asset_output(*key) + RECORD_SUFFIX
