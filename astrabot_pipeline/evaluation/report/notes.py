"""What each kind of figure can and cannot show, as notes a report section carries.

A note names the column keys it speaks of (`requires`): `notes_for(section)` gives a
section only the notes whose figures it holds, so no note can refer to a result that is
not in the report. The column keys are the ones `model.TOPICS` recognises.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from astrabot_pipeline.evaluation.report.model import ReportSection

RANKING_CANDIDATES = 10
RANKING_CHANCE_ACCURACY = 1 / RANKING_CANDIDATES
# E[1/rank] for a rank drawn uniformly from 1..10: H_10 / 10.
RANKING_CHANCE_MRR = sum(1 / k for k in range(1, RANKING_CANDIDATES + 1)) / RANKING_CANDIDATES


@dataclass(frozen=True)
class Note:
    text: str
    requires: frozenset[str]  # column keys (any one suffices) the note speaks of


def _note(text: str, *keys: str) -> Note:
    return Note(text, frozenset(keys))


NOTES: tuple[Note, ...] = (
    _note(
        "Perplexity is measured on the owner's (assistant) tokens only, on the dataset's test "
        "slice: conversation windows that no stage trained on, each fitted to the stages' "
        "token budget by trimming its context from the left as training did. Lower is "
        "better: the model finds the owner's real replies less surprising.",
        "perplexity",
    ),
    _note(
        "Perplexity does not show that generated replies are coherent, factual or private, "
        "and it compares only models that share a tokenizer, a test slice and a truncation: "
        "the rows here do; numbers from another base model or another run do not compare "
        "with them.",
        "perplexity",
    ),
    _note(
        "Bits per character divide the same log-likelihood by the replies' characters "
        "instead of tokens, so models with different tokenizers compare on it.",
        "bits_per_char",
    ),
    _note(
        "BLEU measures word n-gram overlap between a model's greedy reply and the owner's "
        "real one. It correlates weakly with human judgement of dialogue replies (Liu et al. "
        "2016, How NOT To Evaluate Your Dialogue System): a fitting reply in other words "
        "scores low. Compare rows with each other only; the sacrebleu signature is in the "
        "settings.",
        "bleu",
    ),
    _note(
        "chrF measures character n-gram overlap with the owner's real reply; it is kinder to "
        "short replies and spelling variants than word overlap, but a fitting reply in other "
        "words still scores low.",
        "chrf",
    ),
    _note(
        f"Next-reply ranking puts the owner's true reply among up to {RANKING_CANDIDATES - 1} "
        "of the owner's replies from other windows (validation and test windows first, "
        "training windows only when those run short: the settings count both) and ranks "
        "them by context gain: the model's mean log-likelihood per token of the reply given "
        "the conversation, minus the same given no conversation. With a full set, by chance, "
        f"accuracy is {RANKING_CHANCE_ACCURACY:.2f} and mean reciprocal rank "
        f"{RANKING_CHANCE_MRR:.2f}; an example with fewer candidates has its own, higher "
        "chance, and the settings give the mean. It shows whether a model prefers the reply "
        "that fits the conversation, not whether it can write one.",
        "ranking_accuracy",
        "mrr",
    ),
    _note(
        "Ranking by likelihood alone scores the same candidates by mean log-likelihood given "
        "the conversation. Every candidate is one of the owner's replies, so a model that "
        "has learned the owner's habits finds them all likelier, his short and frequent "
        "ones most, and can rank worse on it while it knows better which reply fits: the "
        "generic-reply bias of likelihood (Li et al. 2016) that the context gain removes. "
        "It is shown, not judged.",
        "ranking_accuracy_likelihood",
    ),
    _note(
        "Style match compares the model's generations with the owner's real test replies: "
        "reply length, emoji rate, burst length, lower-case and punctuation habits, each as "
        "a Jensen-Shannon distance between the two distributions (0 identical, 1 disjoint). "
        "Lower is closer. It covers surface habits only, not what is said.",
        "style",
        "style_match",
    ),
    _note(
        "Degeneration: distinct-1 and distinct-2 are the distinct words and word pairs over "
        "all words and word pairs of the replies (Li et al. 2016); the other two columns are "
        "the share of replies holding a repeated line and the share equal to the single most "
        "common reply. The owner's real test replies are the reference: a model far above "
        "them on either share is degenerating.",
        "distinct_1",
        "distinct_2",
        "repeated_line_share",
        "most_common_share",
    ),
    _note(
        "Authorship attribution (after 'Catch Me If You Can? Not Yet', arXiv 2509.14543): a "
        "naive Bayes classifier on character n-grams learns the owner's training-split "
        "replies against other people's training-split messages, with placeholders, "
        "pseudonyms, e-mail addresses and numbers masked, and its decision threshold fixed by "
        "cross-validation on the training split. The owner's real test replies give the "
        "ceiling and other people's test messages the floor; a model's share between them "
        "says how often its replies pass for the owner's. It judges habits of writing, not "
        "whether a reply fits.",
        "attributed_to_owner",
    ),
    _note(
        "The PII leakage score is the share of scanned generations that contain a real "
        "identifier the privacy stage knew (contacts' and the owner's names, numbers and "
        "e-mail addresses), found by comparing keyed hashes; pseudonyms and planted test phrases "
        "do not count. An identifier the privacy stage never recognised cannot be found, so "
        "0 means none of the known ones leaked, not none at all.",
        "pii_leakage_score",
    ),
    _note(
        "The probing leakage rate is the same scan on answers to a fixed set of prompts that "
        "ask for private facts; other phrasings may still draw them out.",
        "probing_leakage_rate",
    ),
    _note(
        "The 'generations leaking' columns count the leaking generations (both scans) by "
        "the kind of identifier they held: name, phone, email, or other (places, addresses, "
        "URLs and the like the privacy stage replaced). A common word that is also a "
        "replaced place or name can count, so look at the kind before concluding.",
        "leaks_name",
        "leaks_phone",
        "leaks_email",
        "leaks_other",
    ),
    _note(
        "Extraction recall is the share of the real identifiers that occurred in the "
        "training windows before anonymization that any generation reproduced (Lukas et al. "
        "2023); the goal is 0.",
        "extraction_recall",
    ),
    _note(
        "The memorization score is the rate at which the model, given a training example's "
        "context and the reply's first k tokens, continues with exactly the next m tokens. "
        "It is measured on a sample of training examples long enough for k + m tokens; a "
        "low score does not rule out memorization of others.",
        "memorization_score",
    ),
    _note(
        "Canary exposure (Carlini et al. 2019, The Secret Sharer) is log2 of the candidate "
        "space minus log2 of the planted canary's rank among candidates, extrapolated from a "
        "sample of candidates: near its maximum the canary is memorized, near 1 it is not.",
        "canary_exposure",
    ),
)


def _present(section: ReportSection) -> set[str]:
    return {section.key} | {
        c.key
        for c in section.columns
        if any(section.value(m, c.key) is not None for m in section.rows)
    }


def notes_for(section: ReportSection, notes: Iterable[Note] = NOTES) -> list[str]:
    """The standard notes about the figures `section` holds, in `NOTES` order."""
    present = _present(section)
    return [note.text for note in notes if note.requires & present]


def with_standard_notes(section: ReportSection) -> ReportSection:
    """`section` with the standard notes about its figures before its own notes."""
    section.notes = [*notes_for(section), *section.notes]
    section.validate()
    return section


__all__ = [
    "NOTES",
    "RANKING_CHANCE_ACCURACY",
    "RANKING_CHANCE_MRR",
    "Note",
    "notes_for",
    "with_standard_notes",
]
