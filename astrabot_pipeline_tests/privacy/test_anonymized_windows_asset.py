"""The `anonymized_windows` asset honours the scope before writing and, when asked,
deletes the decoded plaintext once its blocking gate has passed."""

from __future__ import annotations

import json
from pathlib import Path

import dagster as dg
import pytest

from astrabot_pipeline.defs.privacy import AnonymizationConfig, anonymized_windows
from astrabot_pipeline.defs.resources.backup import SignalBackupResource
from astrabot_pipeline.defs.resources.paths import AstrabotPathsResource
from astrabot_pipeline.privacy.canaries import canaries_path_for
from astrabot_pipeline.synthetic import write_demo_backup

from .conftest import PRIYA, SAM, SAM_NUMBER, recipients_frame
from .test_scope import _messages, _names, _threads

PLAINTEXT = ["decoded/latest/signal.sqlite", "assets/conversation_windows.parquet"]
KEPT = ["assets/mixed_dataset.parquet", "secrets/keep.txt"]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    root = tmp_path / "data"
    for name in [*PLAINTEXT, *KEPT]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(b"x")
    write_demo_backup(root / "backups", n_messages=50, seed=1)
    return root


def materialize(data_dir: Path, windows=None, **config):
    windows = _messages().assign(tweet_text=None) if windows is None else windows
    decoded = {"recipients": recipients_frame(), "recipient_names": _names(), "threads": _threads()}
    with dg.build_asset_context() as context:
        events = list(
            anonymized_windows(
                context=context,
                config=AnonymizationConfig(**config),
                nitter_enriched_windows=windows,
                decoded_backup=decoded,
                signal=SignalBackupResource(backup_dir=str(data_dir / "backups")),
                paths=AstrabotPathsResource(data_dir=str(data_dir)),
            )
        )
    [output] = [e for e in events if isinstance(e, dg.Output)]
    checks = {e.check_name: e.passed for e in events if isinstance(e, dg.AssetCheckResult)}
    return output, checks


def test_opted_out_and_out_of_scope_messages_never_reach_the_output(data_dir):
    output, checks = materialize(
        data_dir, opt_out_contacts=["Sam"], include_groups=True, end_date="2024-06-30"
    )
    frame = output.value
    assert SAM.recipient_id not in set(frame["sender_id"])
    assert not frame["text"].str.contains(rf"(?i)\bsam\b|okafor|{SAM_NUMBER}").any()
    assert output.metadata["scope_dropped_opt_out"].value == 3
    assert output.metadata["scope_dropped_date"].value == 2
    assert output.metadata["language_english"].value >= 1
    assert checks["no_known_identifiers_survive"]
    assert all((data_dir / name).exists() for name in PLAINTEXT)  # kept by default
    senders = frame.loc[~frame["is_outgoing"], "sender_pseudonym"]
    assert (
        senders.notna().all() and frame.loc[frame["is_outgoing"], "sender_pseudonym"].isna().all()
    )
    assert not senders.str.contains(r"(?i)\bsam\b|okafor").any()
    # one person, one surrogate: the same as the text uses for their given name
    assert (
        frame[~frame["is_outgoing"]].groupby("sender_id")["sender_pseudonym"].nunique() == 1
    ).all()


def test_a_misspelt_opt_out_fails_the_run_before_anything_is_written(data_dir):
    with pytest.raises(dg.Failure, match="match no known contact"):
        materialize(data_dir, opt_out_contacts=["Samm Okafour"])


def test_plaintext_is_deleted_after_the_gate_passes_when_configured(data_dir):
    _, checks = materialize(data_dir, delete_plaintext_after_gate=True)
    assert checks["no_known_identifiers_survive"]
    assert not (data_dir / "decoded").exists()
    assert [name for name in PLAINTEXT if (data_dir / name).exists()] == []
    assert all((data_dir / name).exists() for name in KEPT)
    assert list((data_dir / "backups").glob("*.backup"))


def test_a_tweet_s_author_and_quoted_text_are_anonymized_and_gated(data_dir):
    """What enrichment brings in from outside is held to the same rule as message text."""
    windows = _messages().assign(
        tweet_text=None,
        tweet_quoted_text=None,
        tweet_author=None,
    )
    first, second = windows.index[:2]
    windows.loc[first, "tweet_text"] = f"new phone, call me at {PRIYA.phone_forms[1]}"
    windows.loc[first, "tweet_quoted_text"] = f"{SAM.given} {SAM.family} said so"
    windows.loc[first, "tweet_author"] = f"{PRIYA.given} {PRIYA.family} (@priya_r)"
    windows.loc[second, "tweet_author"] = f"{PRIYA.given} {PRIYA.family} (@priya_r)\nSome One"
    output, checks = materialize(data_dir, windows=windows)
    frame = output.value.set_index("message_id")
    row = frame.loc[windows.loc[first, "message_id"]]
    assert PRIYA.phone_forms[1] not in row["tweet_text"]
    assert "okafor" not in row["tweet_quoted_text"].lower()
    author = row["tweet_author"]
    assert "priya" not in author.lower() and "@" not in author and author.count(" ") == 1
    # one author, one surrogate; each author of a multi-tweet message replaced
    other = frame.loc[windows.loc[second, "message_id"], "tweet_author"].split("\n")
    assert other[0] == author and len(other) == 2 and "Some One" not in other
    assert checks["no_known_identifiers_survive"]


def test_plaintext_is_kept_when_the_gate_fails_even_when_deletion_is_configured(data_dir):
    """Deletion waits for a passing gate: a failed one leaves the decoded chats to fix the
    contacts or scope from."""
    windows = _messages().assign(tweet_text=None)
    windows.loc[0, "body"] = "remember zebra quartz umbrella ok"
    [backup] = (data_dir / "backups").glob("*.backup")
    canaries_path_for(backup).write_text(json.dumps({"phrase": ["zebra quartz umbrella"]}))
    _, checks = materialize(data_dir, windows=windows, delete_plaintext_after_gate=True)
    assert not checks["no_known_identifiers_survive"]
    assert all((data_dir / name).exists() for name in [*PLAINTEXT, *KEPT])
