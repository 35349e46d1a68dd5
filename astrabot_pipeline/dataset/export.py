"""The dataset as JSON lines for other tools, and its card (counts and lengths, no text).

Layout, readable by `datasets.load_dataset("json", data_files=...)`::

    <folder>/<family>/train.jsonl
    <folder>/<family>/validation.jsonl
    <folder>/test.jsonl                 every family's test examples together

Each record is `{"messages": [...], "kind": ..., "window_id": ...}`. The folder is
replaced whole and atomically (0700 / 0600): a re-run never leaves a mix of two datasets.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from astrabot_pipeline.dataset.filters import trivial_shares
from astrabot_pipeline.storage import atomic_output, private_dir

TEST_FILE = "test.jsonl"


def _jsonl(frame: pd.DataFrame) -> str:
    lines = []
    for row in frame.itertuples(index=False):
        record = {
            "messages": [{"role": m["role"], "content": m["content"]} for m in row.messages],
            "kind": row.kind,
            "window_id": row.window_id,
        }
        lines.append(json.dumps(record, ensure_ascii=False))
    return "\n".join(lines) + ("\n" if lines else "")


def export_jsonl(examples: pd.DataFrame, folder: str | Path) -> dict[str, Path]:
    """Write the train/validation files per family and one test file; return their paths."""
    folder = Path(folder)
    written: dict[str, Path] = {}
    ordered = examples.sort_values(["kind", "window_id", "example_id"], kind="stable")
    with atomic_output(folder, directory=True) as temp:
        for kind, family in ordered.groupby("kind", sort=True):
            private_dir(temp / str(kind))
            for split in ("train", "validation"):
                name = f"{kind}/{split}.jsonl"
                (temp / name).write_text(_jsonl(family[family["split"] == split]), "utf-8")
                written[name] = folder / name
        (temp / TEST_FILE).write_text(_jsonl(ordered[ordered["split"] == "test"]), "utf-8")
        written[TEST_FILE] = folder / TEST_FILE
    return written


def _quantiles(values: pd.Series) -> str:
    if values.empty:
        return "-"
    return f"{int(values.median())} / {int(values.quantile(0.9))} / {int(values.max())}"


def dataset_card(
    examples: pd.DataFrame,
    skipped: dict[str, str] | None = None,
    no_audit_reason: str | None = None,
    no_contact_audit_reason: str | None = None,
) -> str:
    """Markdown: examples per family and split (the audit slice: held out of training for
    the membership audit, or why there is none; the contacts the contact-level audit holds
    out), reply and context lengths, and the shares
    of trivial replies, of replies opening with a trivial word ("ok …") and of the most
    common first word (filters.py `trivial_shares`). Never text."""
    lines = [
        "| family | train | validation | test | audit | reply chars (median / p90 / max) "
        "| context turns (median / p90 / max) | trivial | opens trivially | top first word |",
        "| --- | ---: | ---: | ---: | ---: | --- | --- | ---: | ---: | ---: |",
    ]
    shares = trivial_shares(examples)
    for kind, family in examples.groupby("kind", sort=True):
        per_split = family.groupby("split").size()
        reply_chars = family["messages"].map(lambda m: len(list(m)[-1]["content"]))
        context_turns = family["messages"].map(
            lambda m: sum(1 for turn in list(m)[:-1] if turn["role"] != "system")
        )
        lines.append(
            f"| {kind} | {int(per_split.get('train', 0))} | {int(per_split.get('validation', 0))} "
            f"| {int(per_split.get('test', 0))} | {int(per_split.get('audit', 0))} "
            f"| {_quantiles(reply_chars)} "
            f"| {_quantiles(context_turns)} | {shares[str(kind)]['trivial']:.1%} "
            f"| {shares[str(kind)]['opens_trivially']:.1%} "
            f"| {shares[str(kind)]['top_first_word']:.1%} |"
        )
    for kind, reason in sorted((skipped or {}).items()):
        lines.append(f"| {kind} | skipped: {reason} | | | | | | | | |")
    audit = examples[examples["split"] == "audit"]
    if no_audit_reason is not None:
        lines.append(f"\nNo membership audit slice: {no_audit_reason}.")
    elif len(audit):
        lines.append(
            f"\nAudit slice: {audit['window_id'].nunique()} windows drawn at random from the "
            f"training windows ({len(audit)} examples), trained on by no stage: the "
            "membership audit's non-members."
        )
    held = examples[examples["split"] == "contact_audit"]
    if len(held):
        lines.append(
            f"\nContact-level audit: every window of {held['thread_id'].nunique()} contacts' "
            f"one-to-one chats ({len(held)} examples) is trained on by no stage."
        )
    elif no_contact_audit_reason is not None:
        lines.append(f"\nNo contact-level audit: {no_contact_audit_reason}.")
    return "\n".join(lines) + "\n"


__all__ = ["TEST_FILE", "dataset_card", "export_jsonl"]
