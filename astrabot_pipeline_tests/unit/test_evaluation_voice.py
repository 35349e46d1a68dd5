"""Does it write like the owner? Degeneration, the paired bootstrap, authorship
attribution, the `writes_like_owner` truth table and the report parts they make, on
hand-made data (no model)."""

from __future__ import annotations

import random

import numpy as np
import pytest

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.generation import Generations, GenerationStats
from astrabot_pipeline.evaluation.quality.assessor import (
    QualityAssessment,
    QualityResult,
    TextOverlapResult,
)
from astrabot_pipeline.evaluation.quality.attribution import (
    AttributionCorpus,
    OwnerAttributor,
    mask_text,
)
from astrabot_pipeline.evaluation.quality.bootstrap import (
    Comparison,
    distinct_n_difference,
    mean_difference,
    paired_bootstrap,
    perplexity_difference,
)
from astrabot_pipeline.evaluation.quality.degeneration import (
    DegenerationResult,
    degeneration,
    distinct_n,
    word_ngrams,
)
from astrabot_pipeline.evaluation.quality.perplexity import PerplexityResult
from astrabot_pipeline.evaluation.quality.ranking import ranking_metrics
from astrabot_pipeline.evaluation.quality.style import style_distance_difference, style_match
from astrabot_pipeline.evaluation.quality.voice import judge_voice
from astrabot_pipeline.evaluation.report.html_page import render_html
from astrabot_pipeline.evaluation.report.markdown import render_markdown
from astrabot_pipeline.evaluation.report.model import EvaluationReport
from astrabot_pipeline.evaluation.report.voice_sections import (
    attribute,
    attribution_section,
    degeneration_section,
    differences,
    voice_check_and_summary,
)

# -- degeneration ---------------------------------------------------------------------------


def test_degeneration_counts_distinct_ngrams_repeated_lines_and_the_most_common_reply():
    result = degeneration(["ok", "OK ", "see you at 5", "ha\nha", "ok\nfine"])
    # Words: ok, ok, see, you, at, 5, ha, ha, ok, fine -> 7 distinct of 10.
    assert result.distinct_1 == pytest.approx(7 / 10)
    # Pairs: see you, you at, at 5, ha ha, ok fine -> all distinct.
    assert result.distinct_2 == pytest.approx(1.0)
    assert result.repeated_line_share == pytest.approx(1 / 5)  # "ha\nha" only
    assert result.most_common_share == pytest.approx(2 / 5)  # "ok" and "OK " fold together
    empty = degeneration([])
    assert (empty.distinct_1, empty.most_common_share) == (None, 0.0)


# -- paired bootstrap ------------------------------------------------------------------------


def test_a_clear_gain_is_better_a_clear_loss_worse_and_noise_inconclusive_with_its_n():
    base = [0.0] * 60
    gain = paired_bootstrap(
        "ranking_accuracy", 60, mean_difference(base, [1.0] * 40 + [0.0] * 20), better="higher"
    )
    assert gain.difference == pytest.approx(2 / 3) and gain.low > 0 and gain.wording == "better"
    loss = paired_bootstrap("style", 60, mean_difference(base, [0.5] * 60), better="lower")
    assert loss.wording == "worse"
    rng = random.Random(1)
    noisy = [float(rng.random() < 0.5) for _ in range(40)]
    shuffled = noisy[::-1]
    noise = paired_bootstrap("x", 40, mean_difference(noisy, shuffled), better="higher")
    assert noise.low < 0 < noise.high and noise.wording == "inconclusive (n = 40)"
    again = paired_bootstrap("x", 40, mean_difference(noisy, shuffled), better="higher")
    assert (again.low, again.high) == (noise.low, noise.high)  # seeded
    # Too few pairs never decide, and nothing measured says n = 0.
    few = paired_bootstrap("x", 5, mean_difference([0.0] * 5, [1.0] * 5), better="higher")
    assert few.wording == "inconclusive (n = 5)"
    assert paired_bootstrap("x", 0, mean_difference([], []), better="higher").difference is None
    with pytest.raises(SettingError):
        paired_bootstrap("x", 5, mean_difference(base[:5], base[:5]), better="higher", resamples=99)


def test_distinct_2_differences_on_the_full_sample_equal_the_direct_figures_and_resample():
    base = ["ok", "ok", "ok sure", "ok sure thing"]
    tuned = ["ha nice one", "no way man", "ok sure", "well well well"]
    statistic = distinct_n_difference(
        [word_ngrams(t, 2) for t in base], [word_ngrams(t, 2) for t in tuned]
    )
    full = statistic(np.arange(4)[None, :])[0]
    assert full == pytest.approx(distinct_n(tuned, 2) - distinct_n(base, 2))  # 6/7 - 2/3
    # One reply drawn four times: its n-grams count four times, distinct once.
    drawn = statistic(np.array([[3, 3, 3, 3], [0, 1, 0, 1]]))
    assert drawn[0] == pytest.approx(1 / 8 - 2 / 8)
    assert drawn[1] == pytest.approx(4 / 8 - 0.0)  # the base's draw has no bigram: 0
    comparison = paired_bootstrap("distinct_2", 4, statistic, better="higher", resamples=1000)
    assert comparison.low <= comparison.difference <= comparison.high


def test_a_distinct_2_interval_holds_its_own_estimate_where_resampling_shrinks_the_difference():
    # The base's replies are all different, the tuned model's share their words: every
    # resample draws some replies twice, which lowers both distinct-2 figures, the base's
    # more, so the percentile interval of the difference shrinks towards 0 past the
    # estimate; the shifted interval takes the resampling's bias off.
    words = [f"w{i}" for i in range(400)]
    base = [" ".join(words[4 * i : 4 * i + 4]) for i in range(100)]
    tuned = [" ".join(words[(i % 12) * 2 : (i % 12) * 2 + 4]) for i in range(100)]
    statistic = distinct_n_difference(
        [word_ngrams(t, 2) for t in base], [word_ngrams(t, 2) for t in tuned]
    )
    percentile = paired_bootstrap("distinct_2", 100, statistic, better="higher", resamples=1000)
    assert not percentile.low <= percentile.difference <= percentile.high
    shifted = paired_bootstrap(
        "distinct_2", 100, statistic, better="higher", resamples=1000, method="shifted"
    )
    assert shifted.difference == percentile.difference
    assert shifted.low <= shifted.difference <= shifted.high and shifted.outcome == "worse"
    assert shifted.high - shifted.low == pytest.approx(percentile.high - percentile.low)


def test_perplexity_and_style_differences_on_the_full_sample_equal_the_direct_figures():
    statistic = perplexity_difference([4.0, 2.0], [2.0, 1.0], [2, 2])
    assert statistic(np.arange(2)[None, :])[0] == pytest.approx(np.exp(3 / 4) - np.exp(6 / 4))
    owner = ["ha nice", "Sure.", "lol 😂", "no way!!\nreally"]
    base = ["Hello. How can I help?", "Certainly.", "I am an assistant.", "Yes."]
    tuned = ["ha ok", "sure", "lol", "no!!"]
    full = style_distance_difference(base, tuned, owner)(np.arange(4)[None, :])[0]
    direct = style_match(tuned, owner).mean_distance - style_match(base, owner).mean_distance
    assert full == pytest.approx(direct)


# -- authorship attribution ------------------------------------------------------------------


def test_masking_hides_placeholders_pseudonyms_addresses_numbers_and_speaker_prefixes():
    masked = mask_text("Avery Thorne: call <PHONE> or 555-0142, mail a.b@example.org\nok Riley")
    assert masked == "call <P> or <D>, mail <E>\nok <N>"


def _styled(rng: random.Random, words: list[str], count: int) -> list[str]:
    return [" ".join(rng.choice(words) for _ in range(rng.randint(2, 6))) for _ in range(count)]


OWNER_WORDS = ["lol", "ya", "omg", "kk", "hahaha", "sooo", "nah"]
OTHER_WORDS = ["Hello.", "Indeed,", "I think", "that is", "Correct!", "However,", "Yes."]


def test_the_classifier_tells_the_owners_texts_from_others_with_a_cross_validated_threshold():
    rng = random.Random(0)
    owner, others = _styled(rng, OWNER_WORDS, 200), _styled(rng, OTHER_WORDS, 300)
    attributor = OwnerAttributor.fit(owner, others, seed=0)
    assert attributor is not None
    assert attributor.cross_validation.balanced_accuracy > 0.95
    assert attributor.share(_styled(rng, OWNER_WORDS, 50)) > 0.9
    assert attributor.share(_styled(rng, OTHER_WORDS, 50)) < 0.1
    # A pseudonym alone carries no authorship: masked, it scores like any other name.
    same = attributor.scores(["hi Avery", "hi Zelda"])
    assert same[0] == pytest.approx(same[1])
    # Too few texts to cross-validate: no classifier, not an error.
    assert OwnerAttributor.fit(owner[:4], others, seed=0) is None


# -- writes_like_owner truth table -----------------------------------------------------------


def _degenerate(repeated: float = 0.0, common: float = 0.1) -> DegenerationResult:
    return DegenerationResult(50, 0.5, 0.8, repeated, common)


def _said(outcome: str, n: int = 50) -> Comparison:
    low, high = {"better": (0.1, 0.3), "worse": (-0.3, -0.1), "inconclusive": (-0.1, 0.1)}[outcome]
    return Comparison("m", (low + high) / 2, low, high, n, "higher", 2000)


@pytest.mark.parametrize(
    ("final", "ranking", "attribution", "expected"),
    [
        (_degenerate(), "better", "better", ("passed", "ranking and attribution better")),
        (_degenerate(common=0.16), "better", "better", ("failed", "one reply for many")),
        (_degenerate(repeated=0.06), "better", "better", ("failed", "repeated lines")),
        (_degenerate(), "worse", "better", ("failed", "ranking worse")),
        (_degenerate(), "better", "worse", ("failed", "attribution worse")),
        (_degenerate(), "better", "inconclusive", ("warning", "mixed")),
        (_degenerate(), "inconclusive", "inconclusive", ("warning", "inconclusive (n = 50)")),
    ],
)
def test_writes_like_owner_truth_table(final, ranking, attribution, expected):
    owner = _degenerate(repeated=0.0, common=0.1)
    judgement = judge_voice(final, owner, _said(ranking), _said(attribution))
    assert judgement.outcome == expected[0] and expected[1] in judgement.reason


# -- the report parts ------------------------------------------------------------------------


def _assessment(
    texts: list[str],
    references: list[str],
    ranks: list[int],
    likelihood_ranks: list[int] | None = None,
) -> QualityAssessment:
    n = len(texts)
    stats = GenerationStats(
        prompts=n,
        completions=n,
        settings={"max_new_tokens": 16, "temperature": 0.0},
        batch_size=8,
        num_samples=1,
        trimmed_prompts=0,
        hit_token_limit=0,
        ended_by_line_rule=0,
        mean_new_tokens=3.0,
        seconds=0.1,
    )
    nll = tuple(2.0 + 0.1 * i for i in range(n))
    return QualityAssessment(
        result=QualityResult(
            perplexity=PerplexityResult(2.0, 7.4, 2 * n, 10 * n, 1.0, nll, (2,) * n),
            text_overlap=TextOverlapResult(1.0, 10.0, "bleu", "chrf", n),
            ranking=ranking_metrics(ranks, 10),
            ranking_likelihood=ranking_metrics(
                likelihood_ranks or [2 * rank for rank in ranks], 10
            ),
            style=style_match(texts, references),
            degeneration=degeneration(texts),
            generation=stats,
            seconds=1.0,
        ),
        generations=Generations(tuple(texts), tuple(references), stats),
    )


def _corpus(rng: random.Random) -> AttributionCorpus:
    """Training texts in the owner's style against others', and others' test messages."""
    return AttributionCorpus(
        tuple(_styled(rng, OWNER_WORDS, 100)),
        tuple(_styled(rng, OTHER_WORDS, 100)),
        tuple(_styled(rng, OTHER_WORDS, 20)),
    )


def test_the_report_opens_with_a_plain_paragraph_and_shows_each_interval_with_its_word():
    rng = random.Random(2)
    references = _styled(rng, OWNER_WORDS, 30)
    quality = {
        "base": _assessment(_styled(rng, OTHER_WORDS, 30), references, [3] * 30),
        "final": _assessment(["ok"] * 30, references, [1] * 30),  # one reply for all
    }
    attribution = attribute(_corpus(rng), quality, references)
    found = differences(quality, "base", attribution, resamples=1000)
    assert {d.comparison.metric for d in found} == {
        "ranking_accuracy",
        "ranking_accuracy_likelihood",
        "attributed_to_owner",
        "style",
        "perplexity",
        "distinct_2",
        "repeated_line_share",
    }
    owner = degeneration(references)
    check, summary = voice_check_and_summary(quality, "base", "final", owner, attribution, found)
    assert check.name == "writes_like_owner" and not check.passed
    assert check.severity == "error" and check.gate == "quality"
    assert "one reply for many prompts" in check.description
    report = EvaluationReport(
        title="t",
        base_model="m",
        profile="tiny",
        device="cpu",
        sample_sizes={"test_examples": 30},
        sections=[degeneration_section(quality, owner), attribution_section(attribution, quality)],
        checks=[check],
        differences=found,
        summary=summary,
    )
    for section in report.sections:
        section.chart = None  # the charts are tested elsewhere, and slow to draw
    page = render_html(report)
    assert page.index(summary.split("?")[0]) < page.index("<h2>")
    assert "Does the final adapter (final) write like you? no (one reply" in summary
    markdown = render_markdown(report)
    assert "| final | next-reply ranking accuracy ↑ | +1 | \\[+1, +1\\] | 30 | better |" in markdown
    assert "| final | perplexity ↓ | +0 | \\[+0, +0\\] | 30 | inconclusive (n = 30) |" in markdown
    assert report.metrics()["differences"][0]["outcome"] == "better"


def test_the_check_judges_ranking_by_context_gain_and_shows_the_likelihood_ranking_beside():
    # The tuned model ranks the true reply first by context gain and last by likelihood
    # (it finds the owner's usual replies likelier): better, and "worse" is only shown.
    rng = random.Random(5)
    references = _styled(rng, OWNER_WORDS, 40)
    quality = {
        "base": _assessment(_styled(rng, OTHER_WORDS, 40), references, [4] * 40, [1] * 40),
        "final": _assessment(_styled(rng, OWNER_WORDS, 40), references, [1] * 40, [9] * 40),
    }
    attribution = attribute(_corpus(rng), quality, references)
    found = differences(quality, "base", attribution, resamples=1000)
    outcome = {d.comparison.metric: d.comparison.outcome for d in found}
    assert outcome["ranking_accuracy"] == "better"
    assert outcome["ranking_accuracy_likelihood"] == "worse"
    check, summary = voice_check_and_summary(
        quality, "base", "final", degeneration(references), attribution, found
    )
    assert outcome["attributed_to_owner"] == "better"
    assert check.passed, check.description
    assert "ranked first, by how much likelier the conversation made it, 100 %" in summary
