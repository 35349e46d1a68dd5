"""Quality metric functions on hand-computable cases: JS distance, ranking, bits per character,
BLEU/chrF, style features, candidate sets and prompt splitting. No model involved."""

from __future__ import annotations

import math

import pytest

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation import (
    STYLE_FEATURES,
    CandidateSet,
    EvaluationError,
    QualitySettings,
    bits_per_character,
    build_candidate_sets,
    jensen_shannon_distance,
    rank_of_true,
    ranking_metrics,
    rankings,
    split_last_reply,
    style_match,
    text_overlap,
    trim_prompt_left,
)
from astrabot_pipeline.evaluation.generation import prompt_budget
from astrabot_pipeline.evaluation.quality.ranking import ReplyPool, throttled
from astrabot_pipeline.evaluation.quality.style import (
    burst_bin,
    emoji_bin,
    length_bin,
    line_end_bin,
    line_start_bin,
)
from astrabot_pipeline_tests.conftest import thinnest_history_examples


def record(window: str, reply: str, question: str = "lunch?") -> dict:
    return {
        "window_id": window,
        "messages": [
            {"role": "system", "content": "be brief"},
            {"role": "user", "content": question},
            {"role": "assistant", "content": "earlier reply"},
            {"role": "user", "content": "and?"},
            {"role": "assistant", "content": reply},
        ],
    }


# -- Jensen-Shannon distance -------------------------------------------------------------


def test_js_distance_of_identical_histograms_is_zero_whatever_their_scale():
    assert jensen_shannon_distance([3, 1, 0, 6], [3, 1, 0, 6]) == 0.0
    assert jensen_shannon_distance([3, 1, 0, 6], [30, 10, 0, 60]) == pytest.approx(0.0, abs=1e-12)


def test_js_distance_of_disjoint_histograms_is_one():
    assert jensen_shannon_distance([5, 0, 0], [0, 2, 7]) == pytest.approx(1.0)


def test_js_distance_matches_a_hand_computed_value_and_is_symmetric():
    # p = (1, 0), q = (1/2, 1/2), m = (3/4, 1/4):
    # JS = 1/2 log2(4/3) + 1/2 (1/2 log2(2/3) + 1/2 log2 2) = 0.31128...; distance = sqrt.
    expected = math.sqrt(0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25)
    assert jensen_shannon_distance([4, 0], [1, 1]) == pytest.approx(expected)
    assert jensen_shannon_distance([1, 1], [4, 0]) == pytest.approx(expected)
    assert expected == pytest.approx(0.5579, abs=1e-4)


def test_js_distance_of_an_empty_histogram_is_one_against_anything_and_zero_against_empty():
    assert jensen_shannon_distance([0, 0], [1, 0]) == 1.0
    assert jensen_shannon_distance([0, 0], [0, 0]) == 0.0
    with pytest.raises(ValueError):
        jensen_shannon_distance([1, 2], [1])


# -- ranking ------------------------------------------------------------------------------


def sets_of(count: int, candidates: int = 10) -> list[CandidateSet]:
    return [
        CandidateSet(
            context=({"role": "user", "content": f"q{i}"},),
            candidates=tuple(f"reply {i}.{j}" for j in range(candidates)),
        )
        for i in range(count)
    ]


def no_prior(context, candidates) -> list[float]:
    """A model that finds every reply equally likely without the conversation."""
    return [0.0] * len(candidates)


def rank(sets, given, without=no_prior):
    """`rankings` of what a model scoring each set by `given` (with the conversation) and
    `without` (the conversation taken out) would give."""
    return rankings(
        sets,
        [given(s.context, s.candidates) for s in sets],
        [without(s.context, s.candidates) for s in sets],
        0.0,
    )


def test_a_scorer_that_prefers_the_true_reply_gets_accuracy_and_mrr_one():
    ranked = rank(sets_of(5), lambda context, cands: [10.0] + [0.0] * (len(cands) - 1))
    result = ranked.context_gain
    assert ranked.likelihood == result
    assert (result.accuracy, result.mean_reciprocal_rank, result.mean_rank) == (1.0, 1.0, 1.0)
    assert result.examples == 5 and result.candidates == 10
    assert result.chance_accuracy == pytest.approx(0.10)


def test_a_scorer_that_ranks_the_true_reply_last_gets_mrr_one_tenth():
    result = rank(sets_of(4), lambda context, cands: list(range(len(cands)))).context_gain
    assert result.accuracy == 0.0
    assert result.mean_reciprocal_rank == pytest.approx(0.1)
    assert result.mean_rank == 10


def test_a_long_ranking_says_how_far_it_is_in_counts_and_times_only():
    lines: list[str] = []
    report = throttled(lines.append, "ranking", "examples", 0.0)
    for done in (1, 2, 3):
        report(done, 3)
    # One line after each example but the last (the caller reports the end).
    assert [line.split(",")[0] for line in lines] == [
        "ranking 1/3 examples",
        "ranking 2/3 examples",
    ]
    assert all(" s each, ETA " in line and "reply" not in line for line in lines)
    quiet: list[str] = []
    report = throttled(quiet.append, "ranking", "examples")
    for done in (1, 2, 3):
        report(done, 3)
    assert quiet == []  # the default: at most one line a minute


def test_ties_count_against_the_true_reply_so_a_constant_scorer_is_not_rewarded():
    assert rank_of_true([1.0, 1.0, 1.0]) == 3
    result = rank(sets_of(3), lambda context, cands: [0.5] * len(cands))
    assert result.context_gain.accuracy == result.likelihood.accuracy == 0.0


def test_a_model_that_ignores_the_conversation_gains_nothing_from_preferring_the_true_reply():
    # It finds the true reply likeliest with or without the conversation (say, the owner's
    # most frequent reply): the likelihood ranks it first, the context gain gives it nothing.
    def blind(context, cands):
        return [-1.0] + [-3.0] * (len(cands) - 1)

    ranked = rank(sets_of(4), blind, blind)
    assert ranked.likelihood.accuracy == 1.0
    assert ranked.context_gain.accuracy == 0.0


def test_the_reply_the_conversation_makes_likelier_wins_over_the_owners_usual_one():
    # Candidate 1 is the owner's usual reply: likeliest given the conversation too, but
    # the conversation lifts the true reply (candidate 0) most.
    def given(context, cands):
        return [-2.0, -1.0] + [-5.0] * (len(cands) - 2)

    def without(context, cands):
        return [-4.0, -1.2] + [-5.5] * (len(cands) - 2)

    ranked = rank(sets_of(3), given, without)
    assert ranked.likelihood.mean_rank == 2
    assert ranked.context_gain.accuracy == 1.0


def test_chance_mrr_is_the_mean_reciprocal_of_a_uniform_rank():
    result = ranking_metrics([1, 2, 4], candidates=10)
    assert result.mean_reciprocal_rank == pytest.approx((1 + 1 / 2 + 1 / 4) / 3)
    assert result.accuracy == pytest.approx(1 / 3)
    assert result.chance_mean_reciprocal_rank == pytest.approx(
        sum(1 / k for k in range(1, 11)) / 10
    )
    nothing = ranking_metrics([], candidates=[])
    assert nothing.examples == 0 and nothing.accuracy is None


def test_examples_with_fewer_candidates_have_their_own_chance_level():
    result = ranking_metrics([1, 1], candidates=[2, 10])
    assert result.chance_accuracy == pytest.approx((1 / 2 + 1 / 10) / 2)
    assert result.chance_mean_reciprocal_rank == pytest.approx(
        ((1 + 1 / 2) / 2 + sum(1 / k for k in range(1, 11)) / 10) / 2
    )


def test_distractors_come_from_other_windows_are_distinct_and_seeded():
    records = [record(f"w{i % 6}", f"reply number {i}") for i in range(24)]
    window_of = {f"reply number {i}": f"w{i % 6}" for i in range(24)}
    sets = build_candidate_sets(records, distractors=9, max_examples=8, seed=3)
    assert len(sets) == 8
    for candidate_set in sets:
        true_reply, *others = candidate_set.candidates
        assert len(others) == 9 and len(set(others)) == 9 and true_reply not in others
        assert all(window_of[other] != window_of[true_reply] for other in others)
        assert candidate_set.context[-1] == {"role": "user", "content": "and?"}
    again = build_candidate_sets(records, distractors=9, max_examples=8, seed=3)
    assert [s.candidates for s in again] == [s.candidates for s in sets]
    other_seed = build_candidate_sets(records, distractors=9, max_examples=8, seed=4)
    assert [s.candidates for s in other_seed] != [s.candidates for s in sets]


def test_too_few_replies_from_other_windows_rank_fewer_candidates_instead_of_raising():
    # "example 0 has only 0 distinct replies from other windows" ended long runs before.
    records = [record("same", f"reply {i}") for i in range(5)] + [record("other", "x")]
    sets = build_candidate_sets(records, distractors=3, max_examples=None)
    assert [len(s.candidates) for s in sets] == [2, 2, 2, 2, 2, 4]
    alone = build_candidate_sets([record("only", "a"), record("only", "b")], distractors=9)
    assert alone == []
    assert rank(alone, no_prior).context_gain.accuracy is None


def test_one_test_window_draws_from_validation_first_then_training_and_counts_them():
    test = [record("test", f"test reply {i}") for i in range(6)]
    validation = [record("validation", f"validation reply {i}") for i in range(3)]
    train = [record(f"train-{i % 4}", f"train reply {i}") for i in range(20)]
    pool = ReplyPool.from_records([*test, *validation], train)
    sets = build_candidate_sets(test, distractors=9, max_examples=None, pool=pool, seed=1)
    assert len(sets) == 6
    for candidate_set in sets:
        true_reply, *others = candidate_set.candidates
        assert len(others) == 9 and candidate_set.from_train == 6
        assert {o for o in others if o.startswith("validation")} == {
            f"validation reply {i}" for i in range(3)
        }
        assert not any(o.startswith("test") for o in others)
    result = rank(sets, lambda context, cands: [1.0] + [0.0] * (len(cands) - 1)).context_gain
    assert (result.distractors_held_out, result.distractors_train) == (18, 36)


def test_the_thinnest_history_the_dataset_accepts_is_ranked_without_raising():
    from astrabot_pipeline.dataset import records_from_frame
    from astrabot_pipeline.dataset.builder import MIN_TRAINING_EXAMPLES

    examples = thinnest_history_examples(
        [record("", f"reply {i} here")["messages"] for i in range(MIN_TRAINING_EXAMPLES)]
    )
    assert sorted(examples["split"].unique()) == ["test", "train", "validation"]
    test = records_from_frame(examples[examples["split"] == "test"], with_window=True)
    held_out = records_from_frame(examples[examples["split"] != "train"], with_window=True)
    train = records_from_frame(examples[examples["split"] == "train"], with_window=True)
    sets = build_candidate_sets(test, pool=ReplyPool.from_records(held_out, train))
    assert len(sets) == len(test) == 1
    assert len(sets[0].candidates) == 10 and sets[0].from_train == 8


def test_records_without_a_window_id_are_each_their_own_window():
    records = [{"messages": record("", f"reply {i}")["messages"]} for i in range(4)]
    sets = build_candidate_sets(records, distractors=3, max_examples=None)
    assert [len(s.candidates) for s in sets] == [4, 4, 4, 4]


# -- bits per character, BLEU / chrF --------------------------------------------------------


def test_bits_per_character_of_a_uniform_four_way_distribution():
    # 10 tokens each drawn from 4 equally likely ones: 2 bits each, spread over 20 characters.
    assert bits_per_character(10 * math.log(4), 20) == pytest.approx(1.0)
    with pytest.raises(EvaluationError):
        bits_per_character(1.0, 0)


def test_identical_text_scores_100_in_bleu_and_chrf_and_the_signature_is_recorded():
    replies = ["see you at the lighthouse tomorrow then", "sure thing, bring the bagels please"]
    result = text_overlap(replies, replies)
    assert result.bleu == pytest.approx(100.0)
    assert result.chrf == pytest.approx(100.0)
    assert "tok:13a" in result.bleu_signature and "version:" in result.bleu_signature
    assert "nc:6" in result.chrf_signature
    unrelated = text_overlap(["qqq zzz www vvv"], ["see you at the lighthouse"])
    assert unrelated.bleu < 1.0 and unrelated.chrf < 5.0
    with pytest.raises(EvaluationError):
        text_overlap(["a"], ["a", "b"])


# -- style ----------------------------------------------------------------------------------


def test_style_features_of_hand_written_replies():
    assert [length_bin(r) for r in ["", "ok", "hello", "x" * 20, "x" * 200]] == [
        "0",
        "1-4",
        "5-9",
        "20-39",
        "160+",
    ]
    assert [emoji_bin(r) for r in ["no", "yes 😀", "😀😀", "❤️👍🏽😀😀"]] == ["0", "1", "2", "3+"]
    assert [burst_bin(r) for r in ["", "one", "one\ntwo", "a\n\nb\nc"]] == ["0", "1", "2", "3"]
    assert [line_start_bin(x) for x in ["hey", "Hey", "3 pm", "😀 hi"]] == [
        "lower",
        "upper",
        "other",
        "other",
    ]
    assert [
        line_end_bin(x) for x in ["ok", "ok.", "ok!", "ok?", "ok...", "ok…", "ok 👍🏽", "ok,"]
    ] == [
        "none",
        "period",
        "exclamation",
        "question",
        "ellipsis",
        "ellipsis",
        "emoji",
        "other",
    ]


def test_style_match_is_zero_for_the_same_replies_and_far_for_the_opposite_habits():
    owner = ["lol yes\nomw 😀", "ok", "sure thing"]
    same = style_match(owner, owner)
    assert same.mean_distance == 0.0
    assert set(same.distances) == {feature.name for feature in STYLE_FEATURES}
    shouting = ["ABSOLUTELY NOT, THAT IS A TERRIBLE IDEA AND I WILL NOT DO IT!!!"] * 3
    far = style_match(shouting, owner)
    assert far.distances["line_start"] == pytest.approx(1.0)
    assert far.distances["exclamations"] == pytest.approx(1.0)
    assert far.generated["lower_case_start_rate"] == 0.0
    assert far.owner["lower_case_start_rate"] == 1.0
    assert far.owner["lines_per_reply"] == pytest.approx(4 / 3)
    assert 0.0 < far.mean_distance <= 1.0


def test_results_hold_numbers_only():
    result = style_match(["secret words here"], ["private text there"]).to_dict()
    overlap = text_overlap(["secret words here"], ["private text there"]).to_dict()

    def leaves(value):
        if isinstance(value, dict):
            for key, inner in value.items():
                yield key, inner
                yield from leaves(inner)

    for key, value in [*leaves(result), *leaves(overlap)]:
        if not isinstance(value, dict) and not key.endswith("_signature"):
            assert isinstance(value, int | float), key
    assert "secret" not in repr(overlap) + repr(result)


# -- prompts and settings ---------------------------------------------------------------------


def test_the_prompt_is_everything_before_the_last_assistant_turn():
    prompt = split_last_reply(record("w", "the real reply"))
    assert prompt.reference == "the real reply"
    assert [m["role"] for m in prompt.messages] == ["system", "user", "assistant", "user"]
    assert "the real reply" not in repr(prompt)


def test_prompts_are_trimmed_from_the_left():
    assert trim_prompt_left([1, 2, 3, 4, 5], 3) == ([3, 4, 5], True)
    assert trim_prompt_left([1, 2], 3) == ([1, 2], False)


def test_settings_refuse_what_cannot_work():
    with pytest.raises(SettingError):
        prompt_budget(max_length=64, max_new_tokens=64)
    with pytest.raises(SettingError):
        QualitySettings(max_length=32, max_reply_tokens=48)
    with pytest.raises(SettingError):
        QualitySettings(max_length=64, max_new_tokens=64, max_reply_tokens=16)
    assert prompt_budget(max_length=256, max_new_tokens=40) == 216
