"""The membership audit's positive and negative controls on the tiny model: an adapter that
overfits a few examples is caught by the reference attack, the untouched base is not, and
the report carries the figures with their intervals."""

from __future__ import annotations

import random

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

from astrabot_pipeline.evaluation.membership_audit import (  # noqa: E402
    AuditCandidates,
    MembershipSettings,
    membership_check,
    membership_sections,
    run_membership_audit,
)
from astrabot_pipeline.evaluation.perplexity import ModelEvaluator  # noqa: E402
from astrabot_pipeline.training import (  # noqa: E402
    StageConfig,
    build_tiny_base_model,
    train_lora_stage,
)

pytestmark = pytest.mark.slow

WORDS = [f"w{i}" for i in range(40)]


def chats(count: int, seed: int, prefix: str) -> list[dict]:
    """Replies of random words: nothing to learn but the examples themselves."""
    rng = random.Random(seed)
    return [
        {
            "example_id": f"{prefix}-{i}",
            "messages": [
                {"role": "user", "content": "say something"},
                {"role": "assistant", "content": " ".join(rng.choices(WORDS, k=8))},
            ],
        }
        for i in range(count)
    ]


MEMBERS = chats(40, seed=1, prefix="member")
NON_MEMBERS = chats(40, seed=2, prefix="audit")
VALIDATION = chats(8, seed=3, prefix="validation")


@pytest.fixture(scope="module")
def overfit(tmp_path_factory):
    root = tmp_path_factory.mktemp("membership")
    # The tokenizer sees members and non-members alike, so the base favours neither.
    texts = [m["content"] for r in MEMBERS + NON_MEMBERS + VALIDATION for m in r["messages"]]
    base = build_tiny_base_model(texts, root / "tiny")
    stage = train_lora_stage(
        base,
        MEMBERS,
        VALIDATION,
        root / "stage",
        StageConfig("conversational", max_steps=240, batch_size=4, learning_rate=1e-2, lora_r=16),
    )
    return ModelEvaluator(base), stage


def test_an_overfit_adapter_is_caught_and_the_untouched_base_sits_at_chance(overfit):
    evaluator, stage = overfit
    outcome = run_membership_audit(
        evaluator,
        [stage],
        AuditCandidates(MEMBERS, NON_MEMBERS),
        MembershipSettings(),
        resamples=1000,
        seed=0,
    )
    audit = outcome.audit
    assert audit is not None and outcome.reason is None
    assert (audit.members, audit.non_members) == (40, 40)
    assert audit.tuned["reference"].auc.value >= 0.9
    base_loss = audit.base["loss"].auc
    assert abs(base_loss.value - 0.5) < 0.15 and base_loss.low < 0.5 < base_loss.high
    assert audit.auc_differences["loss"].outcome == "worse"
    check = membership_check(outcome, MembershipSettings())
    assert not check.passed and check.severity == "warning"
    assert check.value == audit.tuned["reference"].auc.high
    auc, tpr = membership_sections(outcome, stage.stage, "base", MembershipSettings())
    assert auc.value(stage.stage, "mia_reference_auc") == audit.tuned["reference"].auc.value
    assert auc.value("base", "mia_reference_auc") is None
    # 40 non-members: TPR at 1 % FPR needs 100, so it is left blank.
    assert tpr.value(stage.stage, "mia_loss_tpr_at_1pct") is None


def test_an_audit_without_an_audit_slice_or_a_record_says_why_and_does_not_fail(overfit):
    evaluator, stage = overfit
    settings = MembershipSettings()
    none = run_membership_audit(
        evaluator, [stage], AuditCandidates(MEMBERS, []), settings, resamples=1000, seed=0
    )
    assert none.audit is None and "no audit slice" in (none.reason or "")
    check = membership_check(none, settings)
    assert check.severity == "warning" and check.value is None
    assert check.description.startswith("not measured: the dataset holds no audit slice")
    unrecorded = [{**r, "example_id": f"other-{i}"} for i, r in enumerate(MEMBERS)]
    nothing = run_membership_audit(
        evaluator,
        [stage],
        AuditCandidates(unrecorded, NON_MEMBERS),
        settings,
        resamples=1000,
        seed=0,
    )
    assert nothing.audit is None and "no record" in (nothing.reason or "")
    auc, _ = membership_sections(nothing, stage.stage, "base", settings)
    assert auc.notes[0].startswith("No membership audit was run")
    assert auc.value(stage.stage, "mia_reference_auc") is None
