"""The contact-level audit: were my friend's chats used to train this model?

For third parties the unit that matters is the contact, not the message (user inference,
Kandpal et al. 2023, "User Inference Attacks on Large Language Models"): an attacker who
holds a few of a person's messages asks whether that person's data was in the training
set. Only the owner's replies are trained, so a contact's signal is the owner's replies in
their one-to-one chat. The dataset stage (with `privacy_audit`) holds every window of a
random sample of contacts out of training (dataset/split.py `ContactAudit`); here each
one-to-one contact is scored by the mean, over up to `examples` of the owner's replies to
them that no stage trained on (fitted to `max_tokens` as the membership audit fits them), of the tuned model's mean log-probability of the reply
minus the base model's (the likelihood ratio, in log space). Contacts the final adapter's
chain trained on (some of their chat's examples were consumed, training/members.py) are
the members, held-out contacts the non-members; the figure is the AUC over contacts with a
stratified bootstrap interval, and how many contacts it rests on. Group chats stay in
training and are not scored. Only numbers leave this module.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from astrabot_pipeline.evaluation.defaults import DEFAULT_AUDIT_MAX_TOKENS
from astrabot_pipeline.evaluation.privacy.membership import Estimate, auc_estimate
from astrabot_pipeline.evaluation.privacy.membership_audit import (
    chain_members,
    score_with_base_and_final,
)
from astrabot_pipeline.evaluation.quality.perplexity import ModelEvaluator
from astrabot_pipeline.evaluation.report.model import (
    ChartSpec,
    Column,
    ReferenceLine,
    ReportSection,
)
from astrabot_pipeline.training.stage_result import StageResult

SECTION_KEY = "contact_inference"
DEFAULT_CONTACT_EXAMPLES = 4


@dataclass(frozen=True)
class Contact:
    """One one-to-one chat: whether the dataset held all of it out, the ids of its
    training examples, and records of the owner's replies in it (each with its
    `example_id`) from which the not-trained ones are scored."""

    held_out: bool
    training_ids: frozenset[str]
    records: list[dict] = field(repr=False)


@dataclass(frozen=True)
class ContactOutcome:
    """The AUC over contacts, how many of each kind it rests on, or why there is none."""

    auc: Estimate | None
    trained_contacts: int
    held_out_contacts: int
    reason: str | None
    seconds: float = 0.0


def run_contact_audit(
    evaluator: ModelEvaluator,
    stages: Sequence[StageResult],
    contacts: Mapping[Any, Contact],
    *,
    examples: int = DEFAULT_CONTACT_EXAMPLES,
    max_tokens: int = DEFAULT_AUDIT_MAX_TOKENS,
    resamples: int,
    seed: int,
    progress: Callable[[str], None] = lambda line: None,
) -> ContactOutcome:
    started = time.perf_counter()
    if not any(contact.held_out for contact in contacts.values()):
        return ContactOutcome(
            None,
            0,
            0,
            "no contact was held out of training (privacy_audit is off, or too few "
            "contacts have a one-to-one chat long enough: the dataset card says which)",
        )
    trained = chain_members(stages)
    chosen: list[tuple[bool, list[dict]]] = []
    for thread, contact in sorted(contacts.items(), key=lambda item: str(item[0])):
        member = not contact.held_out and bool(contact.training_ids & trained)
        if not contact.held_out and not member:
            continue  # in the training split, but none of its examples was trained on
        unseen = [r for r in contact.records if r["example_id"] not in trained]
        if unseen:
            rng = random.Random(f"{seed}:{thread}")
            chosen.append(
                (member, unseen if len(unseen) <= examples else rng.sample(unseen, examples))
            )
    members = sum(member for member, _ in chosen)
    if members == 0 or members == len(chosen):
        return ContactOutcome(
            None,
            members,
            len(chosen) - members,
            "contacts trained on and contacts held out, each with replies no stage trained "
            "on, are both needed",
        )
    fitted, base_scores, tuned_scores = score_with_base_and_final(
        evaluator,
        stages[-1],
        [
            {"messages": r["messages"], "contact": i}
            for i, (_, records) in enumerate(chosen)
            for r in records
        ],
        max_tokens,
    )
    ratios: dict[int, list[float]] = {}
    for record, base, tuned in zip(fitted, base_scores, tuned_scores, strict=True):
        if base.prefix_tokens and tuned.prefix_tokens:
            ratios.setdefault(record["contact"], []).append(
                tuned.prefix / tuned.prefix_tokens - base.prefix / base.prefix_tokens
            )
    scored = sorted(ratios)
    labels = [chosen[i][0] for i in scored]
    if all(labels) or not any(labels):
        return ContactOutcome(
            None, sum(labels), len(labels) - sum(labels), "no reply was left within max_length"
        )
    auc = auc_estimate(
        [sum(ratios[i]) / len(ratios[i]) for i in scored], labels, resamples=resamples, seed=seed
    )
    seconds = time.perf_counter() - started
    progress(f"contact-level audit: {len(scored)} contacts, {seconds:.0f} s")
    return ContactOutcome(auc, sum(labels), len(labels) - sum(labels), None, seconds)


NOTES = (
    "Contact-level inference asks whether an attacker holding a few of a person's messages "
    "can tell that this person's chats were trained on (Kandpal et al. 2023). Each contact "
    "with a one-to-one chat is scored by how much likelier the final adapter finds the "
    "owner's replies to them than the base model does, on replies no stage trained on; "
    "contacts trained on are compared with contacts the dataset held out entirely. An AUC "
    "of 0.5 is chance.",
    "With few contacts the interval is wide: it rests on the number of contacts shown, not "
    "on the number of messages. Holding contacts out keeps their chats out of the adapter "
    "you use, so it runs on the generated demo and, for your own backup, only with "
    "privacy_audit set.",
)


def contact_section(outcome: ContactOutcome, final: str, examples: int) -> ReportSection:
    notes = list(NOTES)
    if outcome.auc is None:
        notes.insert(0, f"No contact-level audit was run: {outcome.reason}.")
    auc = outcome.auc
    return ReportSection(
        title="Privacy audit: contact-level inference",
        key=SECTION_KEY,
        columns=[
            Column("contact_auc", "contact-level AUC", ".3f", "lower"),
            Column("contact_auc_low", "95 % low", ".3f"),
            Column("contact_auc_high", "95 % high", ".3f"),
            Column("contacts_trained", "contacts trained on", "d"),
            Column("contacts_held_out", "contacts held out", "d"),
        ],
        rows={
            final: {
                "contact_auc": None if auc is None else auc.value,
                "contact_auc_low": None if auc is None else auc.low,
                "contact_auc_high": None if auc is None else auc.high,
                "contacts_trained": outcome.trained_contacts,
                "contacts_held_out": outcome.held_out_contacts,
            }
        },
        notes=notes,
        chart=ChartSpec(
            columns=("contact_auc",),
            references=(ReferenceLine("contact_auc", 0.5, "chance"),),
            caption="Contact-level AUC of the final adapter against chance.",
        ),
        settings={"replies_per_contact": examples, "seconds": round(outcome.seconds, 1)},
    )


__all__ = ["Contact", "ContactOutcome", "contact_section", "run_contact_audit"]
