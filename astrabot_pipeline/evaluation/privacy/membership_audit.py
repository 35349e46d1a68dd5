"""The membership audit in the evaluation: which records it compares, scoring them with the
base model and the final adapter, and the report section and check it yields.

Members are training examples the stages actually trained on (each adapter folder records
them, training/members.py; the final adapter's members are those of every stage of its
chain); non-members are the dataset's audit slice, windows drawn at random from the
training period that no stage trained on (dataset/split.py). At most `examples` of each
are drawn (seeded), fitted to the stages' token budget as training fitted them, and scored
once per model by the packed scorer with per-token detail (evaluation/lm_batches.py). The
attacks and their statistics are in membership.py. Only numbers leave this module.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from astrabot_pipeline.evaluation.defaults import (
    DEFAULT_AUDIT_MAX_TOKENS,
    DEFAULT_MEMBERSHIP_EXAMPLES,
    DEFAULT_NEAR_CHANCE_AUC,
    MEMBERSHIP_CHECK,
)
from astrabot_pipeline.evaluation.lm_batches import GroupScores, score_groups
from astrabot_pipeline.evaluation.privacy.membership import (
    ATTACKS,
    DEFAULT_MIN_K,
    AttackResult,
    Estimate,
    MembershipAudit,
    RecordScore,
    attack_scores,
    audit_membership,
    compressed_size,
)
from astrabot_pipeline.evaluation.quality.perplexity import ModelEvaluator
from astrabot_pipeline.evaluation.report.model import (
    ChartSpec,
    Check,
    Column,
    Difference,
    ReferenceLine,
    ReportSection,
)
from astrabot_pipeline.training.members import member_ids
from astrabot_pipeline.training.stage_result import StageResult
from astrabot_pipeline.training.token_budget import fit_to_token_budget

SECTION_KEY = "membership"
TPR_SECTION_KEY = "membership_tpr"
ATTACK_LABELS = {
    "loss": "loss",
    "reference": "reference",
    "zlib": "zlib",
    "min_k_pp": "Min-K%++",
}
FPR_KEYS = {0.01: "1pct", 0.001: "0_1pct"}


@dataclass(frozen=True)
class MembershipSettings:
    """At most `examples` members and as many non-members; Min-K%++'s `min_k`; the AUC at
    or below which the upper end of the reference attack's interval passes the check; the
    tokens each scored record is fitted to (`score_with_base_and_final`)."""

    examples: int = DEFAULT_MEMBERSHIP_EXAMPLES
    min_k: float = DEFAULT_MIN_K
    near_chance_auc: float = DEFAULT_NEAR_CHANCE_AUC
    max_tokens: int = DEFAULT_AUDIT_MAX_TOKENS


@dataclass(frozen=True)
class AuditCandidates:
    """The dataset's records the audit draws from: every training record (with its
    `example_id`) and the audit slice's records."""

    train_records: list[dict]
    audit_records: list[dict]


@dataclass(frozen=True)
class MembershipOutcome:
    """The audit, or why there is none; how long it took."""

    audit: MembershipAudit | None
    reason: str | None
    seconds: float = 0.0


def chain_members(stages: Sequence[StageResult]) -> set[str]:
    """The example ids the final adapter's chain trained on: every stage's record."""
    return set().union(*(member_ids(stage.adapter_dir) for stage in stages))


def _draw(records: list[dict], count: int, seed: int) -> list[dict]:
    return records if len(records) <= count else random.Random(seed).sample(records, count)


def score_with_base_and_final(
    evaluator: ModelEvaluator,
    final: StageResult,
    records: Sequence[Mapping[str, Any]],
    max_tokens: int,
    *,
    token_detail: bool = False,
) -> tuple[list[dict], list[GroupScores], list[GroupScores]]:
    """The records fitted to `max_tokens` (or the stages' max_length if smaller) as
    training fits them (a record whose reply alone is over it is dropped; every other key
    of a record is kept), and each one's scores under the base model and the final
    adapter, in the fitted records' order."""
    budget = min(max_tokens, final.max_length)
    fitted = fit_to_token_budget(records, evaluator.tokenizer, budget).records
    groups, _ = evaluator.perplexity_groups(fitted, budget)
    scored = []
    for adapter in (None, final.adapter_dir):
        with evaluator.attached(adapter) as model:
            scored.append(score_groups(model, groups, token_detail=token_detail))
    return fitted, scored[0], scored[1]


def _reply_text(record: Mapping[str, Any]) -> str:
    """The text the scored tokens stand for: the owner's turns."""
    return "\n".join(m["content"] for m in record["messages"] if m["role"] == "assistant")


def run_membership_audit(
    evaluator: ModelEvaluator,
    stages: Sequence[StageResult],
    candidates: AuditCandidates | None,
    settings: MembershipSettings,
    *,
    resamples: int,
    seed: int,
    progress: Callable[[str], None] = lambda line: None,
) -> MembershipOutcome:
    """Score members and non-members with the base model and the final adapter, and audit."""
    started = time.perf_counter()
    if candidates is None or not candidates.audit_records:
        return MembershipOutcome(
            None,
            "the dataset holds no audit slice (the dataset card says why: a history too "
            "small to hold windows out, or audit_fraction 0)",
        )
    trained = chain_members(stages)
    members = [r for r in candidates.train_records if r.get("example_id") in trained]
    if not members:
        return MembershipOutcome(
            None,
            "the adapters hold no record of the examples they trained on (trained before "
            "the record existed): train them again to audit them",
        )
    drawn = [{**r, "member": True} for r in _draw(members, settings.examples, seed)] + [
        {**r, "member": False} for r in _draw(candidates.audit_records, settings.examples, seed + 1)
    ]
    fitted, base, tuned = score_with_base_and_final(
        evaluator, stages[-1], drawn, settings.max_tokens, token_detail=True
    )
    scored = {"base": base, "tuned": tuned}
    keep = [
        i
        for i, (b, t) in enumerate(zip(base, tuned, strict=True))
        if b.prefix_token_scores and t.prefix_token_scores
    ]
    kept_labels = [bool(fitted[i]["member"]) for i in keep]
    if all(kept_labels) or not any(kept_labels):
        return MembershipOutcome(
            None, "no member or no non-member had a reply token left within max_length"
        )

    def record_scores(name: str) -> list[RecordScore]:
        return [
            RecordScore(
                tuple(t.log_prob for t in scored[name][i].prefix_token_scores),
                tuple(t.standardized for t in scored[name][i].prefix_token_scores),
            )
            for i in keep
        ]

    sizes = [compressed_size(_reply_text(fitted[i])) for i in keep]
    base_scores = record_scores("base")
    audit = audit_membership(
        attack_scores(base_scores, sizes, k=settings.min_k),
        attack_scores(record_scores("tuned"), sizes, base=base_scores, k=settings.min_k),
        kept_labels,
        resamples=resamples,
        seed=seed,
    )
    seconds = time.perf_counter() - started
    progress(
        f"membership audit: {audit.members} members, {audit.non_members} non-members, "
        f"{seconds:.0f} s"
    )
    return MembershipOutcome(audit, None, seconds)


def _interval_columns(key: str, label: str) -> list[Column]:
    """A figure (lower: harder for an attacker) and the ends of its 95 % interval."""
    return [
        Column(key, label, ".3f", "lower"),
        Column(f"{key}_low", "95 % low", ".3f"),
        Column(f"{key}_high", "95 % high", ".3f"),
    ]


def _row(results: Mapping[str, AttackResult], tpr: bool) -> dict[str, float | None]:
    row: dict[str, float | None] = {}

    def put(key: str, found: Estimate | None) -> None:
        row[key] = None if found is None else found.value
        row[f"{key}_low"] = None if found is None else found.low
        row[f"{key}_high"] = None if found is None else found.high

    for attack in ATTACKS:
        result = results.get(attack)
        if not tpr:
            put(f"mia_{attack}_auc", None if result is None else result.auc)
            continue
        for fpr, key in FPR_KEYS.items():
            put(f"mia_{attack}_tpr_at_{key}", None if result is None else result.tpr_at_fpr[fpr])
    return row


AUC_NOTES = (
    "Membership inference asks whether an attacker holding the model can tell the examples "
    "it was trained on (members: the training examples the stages actually consumed) from "
    "examples it never saw (non-members: the audit slice, windows drawn at random from the "
    "training period that no stage trained on). An AUC of 0.5 is chance; the interval is a "
    "seeded percentile bootstrap, members and non-members resampled apart.",
    "The reference attack scores a record by the base model's loss over the tuned model's: "
    "what the fine-tune learned beyond what the base already knew. It is the strongest of "
    "the four on a fine-tune and undefined for the base model itself. The base model's rows "
    "show what the other attacks find without any training (a tokenizer built from the "
    "training split, as the tiny test model's is, already favours members).",
    "A figure near chance says these attacks on this sample could not tell members apart; "
    "it bounds no stronger attack, and a single remembered secret can still be found by "
    "other means.",
)
TPR_NOTE = (
    "TPR at a low FPR is the share of members an attacker finds when at most that share of "
    "non-members may be wrongly accused (Carlini et al. 2022: an attack that is sure of a "
    "few members matters more than its average). With fewer than 100 non-members not one "
    "may be exceeded, so TPR at 1 % FPR is then the TPR at no false positive; TPR at 0.1 % "
    "FPR needs 1,000 non-members and is left blank with fewer. Raise membership_examples "
    "(and the dataset's audit_fraction) for more."
)


def membership_sections(
    outcome: MembershipOutcome,
    final: str,
    base: str,
    settings: MembershipSettings,
    max_length: int,
) -> list[ReportSection]:
    """The AUC of each attack, and its true-positive rate at low false-positive rates, for
    the base model and the final adapter (blank, with the reason, when not measured)."""
    audit = outcome.audit
    auc_notes = list(AUC_NOTES)
    if audit is None:
        auc_notes.insert(0, f"No membership audit was run: {outcome.reason}.")
    results = {base: audit.base if audit else {}, final: audit.tuned if audit else {}}
    auc = ReportSection(
        title="Privacy audit: membership inference",
        key=SECTION_KEY,
        columns=[
            column
            for attack in ATTACKS
            for column in _interval_columns(f"mia_{attack}_auc", f"{ATTACK_LABELS[attack]} AUC")
        ],
        rows={model: _row(found, tpr=False) for model, found in results.items()},
        notes=auc_notes,
        chart=ChartSpec(
            columns=tuple(f"mia_{attack}_auc" for attack in ATTACKS),
            references=tuple(
                ReferenceLine(f"mia_{attack}_auc", 0.5, "chance") for attack in ATTACKS
            ),
            caption="Membership AUC of each attack, the base model and the final adapter.",
        ),
        settings={
            "members": audit.members if audit else 0,
            "non_members": audit.non_members if audit else 0,
            "max_examples_each": settings.examples,
            "min_k": settings.min_k,
            "max_tokens": min(settings.max_tokens, max_length),
            "seconds": round(outcome.seconds, 1),
        },
    )
    tpr = ReportSection(
        title="Privacy audit: members found at a low false-positive rate",
        key=TPR_SECTION_KEY,
        columns=[
            column
            for attack in ATTACKS
            for fpr, key in FPR_KEYS.items()
            for column in _interval_columns(
                f"mia_{attack}_tpr_at_{key}", f"{ATTACK_LABELS[attack]} TPR at {fpr:.1%} FPR"
            )
        ],
        rows={model: _row(found, tpr=True) for model, found in results.items()},
        notes=[TPR_NOTE],
        chart=ChartSpec(
            columns=tuple(f"mia_{attack}_tpr_at_1pct" for attack in ATTACKS),
            caption="Members found at 1 % false positives, per attack.",
        ),
    )
    return [auc, tpr]


def membership_differences(outcome: MembershipOutcome, final: str) -> list[Difference]:
    if outcome.audit is None:
        return []
    return [
        Difference(final, f"membership AUC, {ATTACK_LABELS[attack]} attack", comparison)
        for attack, comparison in outcome.audit.auc_differences.items()
    ]


def membership_check(outcome: MembershipOutcome, settings: MembershipSettings) -> Check:
    """Passed when the reference attack's AUC interval on the final adapter ends at or
    below the threshold; a warning otherwise, never a failure of the run."""
    threshold = settings.near_chance_auc
    if outcome.audit is None:
        return Check(
            name=MEMBERSHIP_CHECK,
            passed=False,
            value=None,
            threshold=threshold,
            severity="warning",
            description=f"not measured: {outcome.reason}",
        )
    auc = outcome.audit.tuned["reference"].auc
    n = outcome.audit.members + outcome.audit.non_members
    if auc.high <= threshold:
        verdict = "near chance"
    elif auc.low <= threshold:
        verdict = f"inconclusive (n = {n}): the interval reaches past {threshold}"
    else:
        verdict = "members are told apart from non-members better than the threshold allows"
    return Check(
        name=MEMBERSHIP_CHECK,
        passed=auc.high <= threshold,
        value=auc.high,
        threshold=threshold,
        severity="warning",
        description=f"Upper end of the 95 % interval of the reference attack's membership "
        f"AUC on the final adapter (AUC {auc.value:.3f} [{auc.low:.3f}, {auc.high:.3f}]): "
        f"{verdict}.",
        metric="mia_reference_auc_high",
    )


__all__ = [
    "AuditCandidates",
    "MembershipOutcome",
    "MembershipSettings",
    "chain_members",
    "membership_check",
    "membership_differences",
    "membership_sections",
    "run_membership_audit",
    "score_with_base_and_final",
]
