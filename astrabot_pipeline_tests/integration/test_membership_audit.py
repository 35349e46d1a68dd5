"""The membership audit's positive and negative controls on the tiny model: an adapter that
overfits a few examples is caught by the reference attack, the untouched base is not, and
the report carries the figures with their intervals."""

from __future__ import annotations

import random

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

from astrabot_pipeline.evaluation.privacy.membership_audit import (  # noqa: E402
    AuditCandidates,
    MembershipSettings,
    membership_check,
    membership_sections,
    run_membership_audit,
)
from astrabot_pipeline.evaluation.quality.perplexity import ModelEvaluator  # noqa: E402
from astrabot_pipeline.training import (  # noqa: E402
    StageConfig,
    build_tiny_base_model,
    train_lora_stage,
)

pytestmark = pytest.mark.slow

WORDS = [f"w{i}" for i in range(40)]


def chats(count: int, seed: int | str, prefix: str, words: list[str] = WORDS) -> list[dict]:
    """Replies of random `words`: nothing to learn but the examples themselves."""
    rng = random.Random(seed)
    return [
        {
            "example_id": f"{prefix}-{i}",
            "messages": [
                {"role": "user", "content": "say something"},
                {"role": "assistant", "content": " ".join(rng.choices(words, k=8))},
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
    auc, tpr = membership_sections(
        outcome, stage.stage, "base", MembershipSettings(), stage.max_length
    )
    assert auc.value(stage.stage, "mia_reference_auc") == audit.tuned["reference"].auc.value
    assert auc.value("base", "mia_reference_auc") is None
    # 40 non-members: TPR at 1 % FPR is the TPR above every non-member; 0.1 % needs 1,000.
    at_1pct = audit.tuned["loss"].tpr_at_fpr[0.01]
    assert at_1pct is not None
    assert tpr.value(stage.stage, "mia_loss_tpr_at_1pct") == at_1pct.value
    assert tpr.value(stage.stage, "mia_loss_tpr_at_0_1pct") is None


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
    auc, _ = membership_sections(nothing, stage.stage, "base", settings, 256)
    assert auc.notes[0].startswith("No membership audit was run")
    assert auc.value(stage.stage, "mia_reference_auc") is None


def contact_chats(contact: int, count: int, part: str) -> list[dict]:
    """A contact's chat: the owner answers them in words of their own (contact-specific)."""
    words = [f"c{contact}x{i}" for i in range(6)]
    return chats(count, f"{contact}:{part}", f"c{contact}-{part}", words)


def test_contacts_whose_chats_were_trained_on_are_told_from_contacts_held_out(tmp_path):
    from astrabot_pipeline.evaluation.privacy.contact_audit import Contact, run_contact_audit

    trained, held = range(3), range(3, 6)
    training = [r for c in trained for r in contact_chats(c, 16, "train")]
    texts = [
        m["content"]
        for c in range(6)
        for r in contact_chats(c, 16, "train") + contact_chats(c, 6, "later")
        for m in r["messages"]
    ]
    base = build_tiny_base_model(texts, tmp_path / "tiny")
    stage = train_lora_stage(
        base,
        training,
        VALIDATION,
        tmp_path / "stage",
        StageConfig("conversational", max_steps=60, batch_size=4, learning_rate=1e-2),
    )
    contacts = {
        c: Contact(
            held_out=c in held,
            training_ids=frozenset(r["example_id"] for r in contact_chats(c, 16, "train"))
            if c in trained
            else frozenset(),
            records=contact_chats(c, 6, "later")
            + (contact_chats(c, 16, "train") if c in held else []),
        )
        for c in range(6)
    }
    outcome = run_contact_audit(
        ModelEvaluator(base), [stage], contacts, examples=5, resamples=1000, seed=0
    )
    assert outcome.reason is None and outcome.auc is not None
    assert (outcome.trained_contacts, outcome.held_out_contacts) == (3, 3)
    # The owner's later replies to trained contacts are what the adapter learned to write.
    assert outcome.auc.value == 1.0
    # Nothing held out: nothing to compare, said rather than failed.
    unheld = {
        c: Contact(False, contact.training_ids, contact.records) for c, contact in contacts.items()
    }
    none = run_contact_audit(ModelEvaluator(base), [stage], unheld, resamples=1000, seed=0)
    assert none.auc is None and "no contact was held out" in (none.reason or "")
