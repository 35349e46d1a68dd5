"""The quality half of the evaluation on the tiny model: generation, ranking and style, with and
without an adapter, and the fast paths (batched generation, shared-context ranking) proven
equal to the one-at-a-time loops they replace."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from astrabot_pipeline.settings import harden_process

harden_process()

from astrabot_pipeline.evaluation import (  # noqa: E402
    AdapterInUseError,
    ConversationQualityAssessor,
    ModelEvaluator,
    QualitySettings,
    generate_replies,
)
from astrabot_pipeline.evaluation.generation import prompt_token_ids  # noqa: E402
from astrabot_pipeline.evaluation.lm_batches import (  # noqa: E402
    continuation_log_likelihoods,
    score_groups,
)
from astrabot_pipeline.evaluation.quality import ranking  # noqa: E402
from astrabot_pipeline.evaluation.quality.perplexity import perplexity_result  # noqa: E402
from astrabot_pipeline.generation import GenerationSettings  # noqa: E402
from astrabot_pipeline.generation.decoding import generate  # noqa: E402
from astrabot_pipeline.training import build_tiny_base_model  # noqa: E402

pytestmark = pytest.mark.slow

FOODS = ["pizza", "tacos", "ramen", "curry", "dumplings", "bagels", "soup", "pie"]


def chat(i: int) -> dict:
    food = FOODS[i % len(FOODS)]
    reply = f"yes! {food} at {i % 12 + 1} sounds great"
    if i % 3 == 0:
        reply += "\nsee you there 😀"
    return {
        "window_id": f"window-{i}",
        "messages": [
            {"role": "system", "content": "You are chatting with a friend."},
            {"role": "user", "content": f"want to get {food} later?"},
            {"role": "assistant", "content": "maybe, where?"},
            {"role": "user", "content": f"the place on {food} street, around {i % 12 + 1}"},
            {"role": "assistant", "content": reply},
        ],
    }


RECORDS = [chat(i) for i in range(8)]
SETTINGS = QualitySettings(
    max_length=128, max_new_tokens=12, ranking_examples=None, distractors=7, max_reply_tokens=24
)


@pytest.fixture(scope="module")
def evaluator(tmp_path_factory) -> ModelEvaluator:
    root = tmp_path_factory.mktemp("quality")
    texts = [m["content"] for record in RECORDS for m in record["messages"]] * 4
    base = build_tiny_base_model(texts, root / "tiny", vocab_size=400)
    return ModelEvaluator(base)


@pytest.fixture(scope="module")
def adapter_dir(evaluator, tmp_path_factory) -> Path:
    """A LoRA adapter with random (non-zero) weights: it changes the model's outputs."""
    import torch
    from peft import LoraConfig, get_peft_model

    out = tmp_path_factory.mktemp("adapter") / "lora"
    torch.manual_seed(0)
    config = LoraConfig(
        r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False, task_type="CAUSAL_LM"
    )
    peft_model = get_peft_model(evaluator.model, config)
    peft_model.save_pretrained(out)
    evaluator.model = peft_model.unload()
    evaluator.model.eval()
    return out


def test_assessment_of_base_and_adapter_gives_bounded_numbers_and_no_text(evaluator, adapter_dir):
    assessor = ConversationQualityAssessor(evaluator, SETTINGS)
    sets = assessor.candidate_sets(RECORDS)
    base = assessor.assess(RECORDS, candidate_sets=sets)
    tuned = assessor.assess(RECORDS, adapter_dir, candidate_sets=sets)
    for assessment in (base, tuned):
        result = assessment.result
        assert result.generation.prompts == len(RECORDS) == len(assessment.generations.texts)
        assert list(assessment.generations.references) == [
            r["messages"][-1]["content"] for r in RECORDS
        ]
        assert result.ranking.examples == 8 and result.ranking.candidates == 8
        assert 0.0 <= result.ranking.accuracy <= 1.0
        assert 1 / 8 <= result.ranking.mean_reciprocal_rank <= 1.0
        assert result.ranking_likelihood.examples == 8
        assert 0.0 <= result.text_overlap.chrf <= 100.0
        assert all(0.0 <= d <= 1.0 for d in result.style.distances.values())
        # Token-weighted perplexity and bits per character describe the same total.
        ppl = result.perplexity
        assert ppl.bits_per_character == pytest.approx(
            ppl.loss * ppl.tokens / math.log(2) / ppl.characters
        )
        payload = repr(result.to_dict()) + repr(assessment)
        assert not any(food in payload for food in FOODS)
    # The adapter changes what the model says and how it scores.
    assert tuned.result.perplexity.loss != pytest.approx(base.result.perplexity.loss)


def test_scored_characters_are_the_characters_of_the_owners_turns(evaluator):
    result = evaluator.perplexity(RECORDS, max_length=512)
    owner_chars = sum(
        len(m["content"]) for r in RECORDS for m in r["messages"] if m["role"] == "assistant"
    )
    assert result.characters == owner_chars


def test_packed_ranking_scores_equal_one_forward_per_candidate(evaluator, adapter_dir):
    assessor = ConversationQualityAssessor(evaluator, SETTINGS)
    sets = assessor.candidate_sets(RECORDS)
    for adapter in (None, adapter_dir):
        with evaluator.attached(adapter) as model:
            packed, separate = assessor.scorer(model), assessor.scorer(model, shared_context=False)
            for candidate_set in sets[:2]:
                context, candidates = candidate_set.context, candidate_set.candidates
                assert packed.score(context, candidates) == pytest.approx(
                    separate.score(context, candidates), abs=1e-4
                )
                # Both scores from one forward equal each scored on its own.
                both = packed.score_sets([candidate_set])
                given, without = both.given[0], both.without[0]
                assert given == pytest.approx(separate.score(context, candidates), abs=1e-4)
                assert without == pytest.approx(separate.prior(context, candidates), abs=1e-4)
            ctx, _ = packed.encode(sets[0].context, sets[0].candidates[0])
            # Replies of one token, of mixed lengths, and rows too short for a whole group
            # (its continuations spread over several rows, each with the context again).
            for replies, row_tokens in (
                ([[5], [7], [9]], 512),
                ([[5, 6, 7, 8], [9], [10, 11]], 512),
                ([[5, 6, 7, 8], [9], [10, 11]], 1),
            ):
                sums = continuation_log_likelihoods(model, ctx, replies, row_tokens=row_tokens)
                slow = [separate.score_one(ctx, reply) * len(reply) for reply in replies]
                assert sums == pytest.approx(slow, abs=1e-4)
            # The canary exposure's use: summed log-likelihoods, over several rows.
            secrets = [[20 + i, 30 + i, 40 + i][: 1 + i % 3] for i in range(7)]
            sums = continuation_log_likelihoods(model, ctx[-12:], secrets, row_tokens=4)
            slow = [separate.score_one(ctx[-12:], s) * len(s) for s in secrets]
            assert sums == pytest.approx(slow, abs=1e-4)


def test_packed_perplexity_equals_one_plain_forward_per_example(evaluator, adapter_dir):
    packed = evaluator.perplexity(RECORDS, adapter_dir)
    assert packed.example_nll == pytest.approx(
        evaluator.perplexity(RECORDS, adapter_dir, row_tokens=1).example_nll, abs=1e-3
    )
    # The reference: each record alone, a plain causal forward, its owner's tokens scored.
    nll, tokens = [], []
    with evaluator.attached(adapter_dir) as model, torch.no_grad():
        for record in RECORDS:
            encoded = evaluator.tokenizer.apply_chat_template(
                record["messages"],
                chat_template=evaluator.chat_template,
                tokenize=True,
                return_dict=True,
                return_assistant_tokens_mask=True,
            )
            ids = torch.tensor([list(encoded["input_ids"])[:256]])
            scored = torch.tensor(list(encoded["assistant_masks"])[:256][1:], dtype=torch.bool)
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
            token_logp = logp.gather(1, ids[0, 1:, None])[:, 0]
            nll.append(-float(token_logp[scored].sum()))
            tokens.append(int(scored.sum()))
    assert list(packed.example_tokens) == tokens
    assert list(packed.example_nll) == pytest.approx(nll, abs=1e-3)


def test_packed_token_detail_equals_each_tokens_log_prob_and_min_k_pp_score_alone(
    evaluator, adapter_dir
):
    groups, _ = evaluator.perplexity_groups(RECORDS, 256)
    with evaluator.attached(adapter_dir) as model, torch.no_grad():
        packed = score_groups(model, groups, token_detail=True)
        for group, scores in zip(groups, packed, strict=True):
            ids = torch.tensor([list(group.prefix)])
            logp = torch.log_softmax(model(input_ids=ids).logits[0, :-1].float(), dim=-1)
            scored = torch.tensor(list(group.prefix_scored)[1:], dtype=torch.bool)
            token_logp = logp.gather(1, ids[0, 1:, None])[:, 0][scored]
            probs = logp.exp()[scored]
            mean = (probs * logp[scored]).sum(-1)
            std = ((probs * logp[scored] ** 2).sum(-1) - mean**2).sqrt()
            assert len(scores.prefix_token_scores) == scores.prefix_tokens == int(scored.sum())
            assert [t.log_prob for t in scores.prefix_token_scores] == pytest.approx(
                token_logp.tolist(), abs=1e-3
            )
            assert [t.standardized for t in scores.prefix_token_scores] == pytest.approx(
                ((token_logp - mean) / std).tolist(), abs=1e-3
            )
            assert sum(t.log_prob for t in scores.prefix_token_scores) == pytest.approx(
                scores.prefix, abs=1e-3
            )
    # Without the detail nothing per token is kept.
    assert all(not s.prefix_token_scores for s in score_groups(evaluator.model, groups))


def test_a_replys_prior_is_its_likelihood_with_the_conversation_taken_out_scored_once(
    evaluator, adapter_dir, monkeypatch
):
    assessor = ConversationQualityAssessor(evaluator, SETTINGS)
    sets = assessor.candidate_sets(RECORDS)
    system = [m for m in sets[0].context if m["role"] == "system"]
    empty = [*system, {"role": "user", "content": ""}]
    scored: list[int] = []

    def counting(model, groups, **settings):
        scored.append(sum(len(group.continuations) for group in groups))
        return score_groups(model, groups, **settings)

    monkeypatch.setattr(ranking, "score_groups", counting)
    with evaluator.attached(adapter_dir) as model:
        scorer = assessor.scorer(model)
        priors = [scorer.prior(s.context, s.candidates) for s in sets]
        # Every candidate set draws from the same 8 replies: each is scored once.
        assert sum(scored) == len({c for s in sets for c in s.candidates}) == 8
        for candidate_set, prior in zip(sets, priors, strict=True):
            assert prior == pytest.approx(scorer.score(empty, candidate_set.candidates), abs=1e-5)
        # The conversation changes the likelihood: the gain is not zero.
        given = scorer.score(sets[0].context, sets[0].candidates)
        assert given != pytest.approx(priors[0], abs=1e-3)


def test_the_test_slices_one_pass_equals_perplexity_and_ranking_scored_apart(
    evaluator, adapter_dir, monkeypatch
):
    # Ranked candidates ride on their example's perplexity row; the numbers do not change.
    assessor = ConversationQualityAssessor(evaluator, SETTINGS)
    sets = assessor.candidate_sets(RECORDS)
    passed: list[list] = []

    def capturing(model, groups, **settings):
        passed.append(list(groups))
        return score_groups(model, groups, **settings)

    monkeypatch.setattr(ranking, "score_groups", capturing)
    with evaluator.attached(adapter_dir) as model:
        groups, characters = evaluator.perplexity_groups(RECORDS, SETTINGS.max_length)
        together = assessor.scorer(model).score_sets(sets, groups)
        apart = assessor.scorer(model, shared_context=False)
        for candidate_set, given, without in zip(
            sets, together.given, together.without, strict=True
        ):
            context, candidates = candidate_set.context, candidate_set.candidates
            assert given == pytest.approx(apart.score(context, candidates), abs=1e-4)
            assert without == pytest.approx(apart.prior(context, candidates), abs=1e-4)
    alone = evaluator.perplexity(RECORDS, adapter_dir, max_length=SETTINGS.max_length)
    assert perplexity_result(together.hosts, characters).example_nll == pytest.approx(
        alone.example_nll, abs=1e-3
    )
    # The candidates did ride: every ranked example's own record carried them, and no
    # conversation was scored a second time on its own.
    riding = [g for g in passed[0] if g.prefix_scored and g.continuations]
    assert len(riding) == len(sets)
    assert len(passed[0]) == len(RECORDS) + 1  # the records, and one system prompt's priors


def test_a_batch_decoded_from_joined_prompt_chunks_equals_one_prompt_at_a_time(evaluator):
    # Prompts of different lengths, their prompt pass in chunks of 2 joined into one cache
    # (padded on the left), a greedy and two sampled rows each.
    tokenizer = evaluator.tokenizer
    prompts = [
        prompt_token_ids(tokenizer, record["messages"][:-1], evaluator.chat_template)[3 * i :]
        for i, record in enumerate(RECORDS)
    ]
    settings = GenerationSettings(max_new_tokens=10, temperature=0.8, seed=5)
    with evaluator.attached() as model:
        joined, alone = (
            generate(
                model,
                tokenizer,
                prompts,
                settings,
                samples=2,
                with_greedy=True,
                batch_size=batch_size,
                prefill_size=2,
            )
            for batch_size in (len(prompts), 1)
        )
    assert [[c.token_ids for c in row] for row in joined] == [
        [c.token_ids for c in row] for row in alone
    ]


@pytest.mark.parametrize("temperature", [0.0, 0.7])
def test_batched_left_padded_generation_equals_one_prompt_at_a_time(evaluator, temperature):
    # Sampled too: each completion draws from its own seeded generator, whatever its batch.
    settings = GenerationSettings(max_new_tokens=12, temperature=temperature, seed=3)
    with evaluator.attached() as model:
        batched, single = (
            generate_replies(
                model,
                evaluator.tokenizer,
                RECORDS,
                settings,
                batch_size=batch_size,
                max_length=128,
                chat_template=evaluator.chat_template,
            )
            for batch_size in (8, 1)
        )
    assert batched.texts == single.texts
    assert batched.stats.mean_new_tokens > 0


def test_long_prompts_are_trimmed_to_the_budget_and_still_answered(evaluator):
    tight = GenerationSettings(max_new_tokens=8)
    with evaluator.attached() as model:
        result = generate_replies(
            model,
            evaluator.tokenizer,
            RECORDS,
            tight,
            max_length=24,
            chat_template=evaluator.chat_template,
        )
    assert result.stats.trimmed_prompts == len(RECORDS)
    assert result.stats.completions == len(RECORDS)


def test_sampled_generations_are_seeded_and_come_num_samples_per_prompt(evaluator):
    sampled = GenerationSettings(max_new_tokens=8, temperature=1.0, seed=7)
    with evaluator.attached() as model:
        first, again = (
            generate_replies(
                model, evaluator.tokenizer, RECORDS[:4], sampled, num_samples=3, max_length=128
            )
            for _ in range(2)
        )
    assert first.stats.completions == 12
    assert [len(group) for group in first.per_prompt()] == [3, 3, 3, 3]
    assert first.texts == again.texts


def test_one_attach_serves_nested_measurements_and_the_base_comes_back(evaluator, adapter_dir):
    before = evaluator.perplexity(RECORDS)
    with evaluator.attached(adapter_dir) as model:
        assert evaluator.perplexity(RECORDS, adapter_dir).loss != pytest.approx(before.loss)
        with evaluator.attached(adapter_dir) as same:
            assert same is model
        with pytest.raises(AdapterInUseError), evaluator.attached(None):
            pass
    assert evaluator.perplexity(RECORDS).loss == pytest.approx(before.loss, abs=1e-6)


def test_a_folded_adapter_scores_as_the_unfolded_one_and_the_base_comes_back_bit_for_bit(
    evaluator, adapter_dir
):
    from peft import PeftModel

    from astrabot_pipeline.evaluation.quality.folded_adapter import folded

    weights = {name: p.detach().clone() for name, p in evaluator.model.named_parameters()}
    with evaluator.attached(adapter_dir):
        folded_loss = evaluator.perplexity(RECORDS, adapter_dir).loss
    assert all(torch.equal(p, weights[name]) for name, p in evaluator.model.named_parameters()), (
        "the base's weights changed after a folded adapter was measured"
    )
    # The same adapter unfolded (the LoRA products computed at every forward).
    unfolded = PeftModel.from_pretrained(evaluator.model, str(adapter_dir))
    unfolded.eval()
    ids = torch.tensor([list(range(3, 40))])
    with torch.no_grad():
        plain = unfolded(input_ids=ids).logits
        with folded(unfolded, evaluator.model):
            assert all(layer.merged for layer in _lora_layers(unfolded))
            merged = unfolded(input_ids=ids).logits
        evaluator.model = unfolded.unload()
        evaluator.model.eval()
        bare = evaluator.model(input_ids=ids).logits
    assert torch.allclose(plain, merged, atol=1e-4)  # float32 rounding only
    assert not torch.allclose(plain, bare, atol=1e-3)  # the adapter does change the model
    assert folded_loss != pytest.approx(evaluator.perplexity(RECORDS).loss)


def _lora_layers(model) -> list:
    from peft.tuners.tuners_utils import BaseTunerLayer

    return [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
