"""Conversation quality of one model (the base, or base + one stage's adapter) on the test slice.

`ConversationQualityAssessor` (the roadmap's name) measures, with one adapter attach:
- perplexity on the owner's tokens, token-weighted, and bits per character
  (`ModelEvaluator.perplexity_groups`, scored in one packed pass with the ranking);
- BLEU and chrF (sacrebleu, corpus level, signatures recorded) of generations against the
  owner's real replies (`evaluation/generation.py`: chat's own settings, seeded);
- coherence as next-reply ranking by context gain and by likelihood, accuracy and mean
  reciprocal rank (`ranking.py`);
- style match of the generations against the owner's real replies (`style.py`);
- degeneration of the generations: distinct-n, repeated lines, one reply for all
  (`degeneration.py`).

Results are numbers only. The generations themselves go back to the caller in memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from sacrebleu.metrics import BLEU, CHRF

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.generation import (
    DEFAULT_GENERATION_BATCH_SIZE,
    DEFAULT_MAX_LENGTH,
    DEFAULT_MAX_NEW_TOKENS,
    Generations,
    GenerationStats,
    generate_replies,
    prompt_budget,
)
from astrabot_pipeline.evaluation.lm_batches import ROW_TOKENS
from astrabot_pipeline.evaluation.quality.degeneration import DegenerationResult, degeneration
from astrabot_pipeline.evaluation.quality.perplexity import (
    EvaluationError,
    ModelEvaluator,
    PerplexityResult,
    perplexity_result,
)
from astrabot_pipeline.evaluation.quality.ranking import (
    DEFAULT_DISTRACTORS,
    DEFAULT_MAX_REPLY_TOKENS,
    DEFAULT_RANKING_EXAMPLES,
    CandidateSet,
    LikelihoodScorer,
    RankingResult,
    ReplyPool,
    build_candidate_sets,
    rankings,
    throttled,
)
from astrabot_pipeline.evaluation.quality.style import StyleMatchResult, style_match
from astrabot_pipeline.generation import GenerationSettings

# For the report, next to the BLEU figure.
BLEU_NOTE = (
    "BLEU and chrF count the words and characters a generated reply shares with the owner's "
    "real one. In open dialogue many different replies are good, and BLEU correlates only "
    "weakly with human judgement there (Liu et al. 2016, 'How NOT To Evaluate Your Dialogue "
    "System'); chat replies are also short, so corpus BLEU is often near 0. Read them as a "
    "trend across stages, not as a grade."
)


@dataclass(frozen=True)
class TextOverlapResult:
    """Corpus BLEU and chrF (0-100) of generations vs references, with sacrebleu's signature
    strings (its settings and version, never any text)."""

    bleu: float
    chrf: float
    bleu_signature: str
    chrf_signature: str
    segments: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def text_overlap(hypotheses: Sequence[str], references: Sequence[str]) -> TextOverlapResult:
    """Corpus-level BLEU and chrF with sacrebleu's defaults (13a tokens, exp smoothing)."""
    if len(hypotheses) != len(references):
        raise EvaluationError("BLEU needs exactly one generated reply per reference")
    if not hypotheses:
        raise EvaluationError("no generated replies to score")
    bleu, chrf = BLEU(), CHRF()
    hypotheses, refs = list(hypotheses), [list(references)]
    return TextOverlapResult(
        bleu=float(bleu.corpus_score(hypotheses, refs).score),
        chrf=float(chrf.corpus_score(hypotheses, refs).score),
        bleu_signature=str(bleu.get_signature()),
        chrf_signature=str(chrf.get_signature()),
        segments=len(hypotheses),
    )


@dataclass(frozen=True)
class QualitySettings:
    """Sample sizes and bounds of one quality assessment; the defaults keep base + three
    stages of the `small` profile within a few minutes on a 2-core CPU."""

    max_length: int = DEFAULT_MAX_LENGTH
    batch_size: int = DEFAULT_GENERATION_BATCH_SIZE  # generation
    row_tokens: int = ROW_TOKENS  # perplexity and ranking: tokens per packed forward
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    ranking_examples: int | None = DEFAULT_RANKING_EXAMPLES
    distractors: int = DEFAULT_DISTRACTORS
    max_reply_tokens: int = DEFAULT_MAX_REPLY_TOKENS
    seed: int = 0

    def __post_init__(self) -> None:
        if self.max_length <= max(self.max_new_tokens, self.max_reply_tokens):
            raise SettingError("max_length must exceed max_new_tokens and max_reply_tokens")
        if self.batch_size < 1:
            raise SettingError("batch_size must be at least 1")
        # Checks the remaining bounds the same way generation does.
        prompt_budget(self.max_length, self.max_new_tokens)
        self.generation()

    def generation(self, max_lines: int | None = None) -> GenerationSettings:
        """What chat and serve use by default (sampling, repetition control, line rules),
        seeded so a run is reproducible, capped at `max_lines` lines."""
        return GenerationSettings(
            max_new_tokens=self.max_new_tokens, seed=self.seed, max_lines=max_lines
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class QualityResult:
    """Every quality number of one model. Numbers only (plus sacrebleu's signatures)."""

    perplexity: PerplexityResult
    text_overlap: TextOverlapResult
    ranking: RankingResult  # by context gain (the primary score)
    ranking_likelihood: RankingResult  # the same sets by mean log-likelihood
    style: StyleMatchResult
    degeneration: DegenerationResult
    generation: GenerationStats
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "perplexity": self.perplexity.to_dict(),
            "text_overlap": self.text_overlap.to_dict(),
            "ranking": self.ranking.to_dict(),
            "ranking_likelihood": self.ranking_likelihood.to_dict(),
            "style": self.style.to_dict(),
            "degeneration": self.degeneration.to_dict(),
            "generation": self.generation.to_dict(),
            "seconds": self.seconds,
        }


@dataclass(frozen=True)
class QualityAssessment:
    """The numbers, and the greedy generations they came from (in memory; never logged)."""

    result: QualityResult
    generations: Generations


class ConversationQualityAssessor:
    """Measures the quality of the evaluator's base model, or base + an adapter, on held-out
    chat records. Every model is ranked on the same candidate sets (same seed)."""

    def __init__(self, evaluator: ModelEvaluator, settings: QualitySettings | None = None):
        self.evaluator = evaluator
        self.settings = settings or QualitySettings()

    def candidate_sets(
        self,
        records: Sequence[Mapping[str, Any]],
        window_ids: Sequence[Any] | None = None,
        pool: ReplyPool | None = None,
    ) -> list[CandidateSet]:
        """The ranking's candidate sets; build them once and pass them to every `assess`.
        Distractors come from `pool` (default: the records' own replies)."""
        return build_candidate_sets(
            records,
            window_ids=window_ids,
            distractors=self.settings.distractors,
            max_examples=self.settings.ranking_examples,
            seed=self.settings.seed,
            pool=pool,
        )

    def scorer(self, model, *, shared_context: bool = True) -> LikelihoodScorer:
        return LikelihoodScorer(
            model,
            self.evaluator.tokenizer,
            chat_template=self.evaluator.chat_template,
            max_length=self.settings.max_length,
            max_reply_tokens=self.settings.max_reply_tokens,
            shared_context=shared_context,
            row_tokens=self.settings.row_tokens,
        )

    def assess(
        self,
        records: Sequence[Mapping[str, Any]],
        adapter_dir: str | Path | None = None,
        *,
        candidate_sets: Sequence[CandidateSet] | None = None,
        window_ids: Sequence[Any] | None = None,
        max_lines: int | None = None,
        progress: Callable[[str], None] = lambda line: None,
    ) -> QualityAssessment:
        """All quality numbers of the base (`adapter_dir=None`) or base + `adapter_dir`.

        `window_ids` (default: each record's `window_id`) keep ranking distractors from the
        example's own window; ignored when `candidate_sets` are given. `max_lines` caps the
        generated replies' lines (the owner's burst length the adapters store). `progress`
        gets a line per phase and the ranking's (counts and seconds only)."""
        started = time.perf_counter()
        settings = self.settings
        if candidate_sets is None:
            candidate_sets = self.candidate_sets(records, window_ids)
        evaluator = self.evaluator
        with evaluator.attached(adapter_dir) as model:
            # One packed pass: each test example's perplexity, with its ranked candidates
            # scored after the same copy of its conversation, and the replies' priors.
            groups, characters = evaluator.perplexity_groups(records, settings.max_length)
            scored = self.scorer(model).score_sets(
                candidate_sets,
                groups,
                throttled(progress, "scoring", "rows"),
            )
            perplexity = perplexity_result(scored.hosts, characters)
            phase = time.perf_counter()
            ranked = rankings(candidate_sets, scored.given, scored.without, phase - started)
            progress(
                f"perplexity on {len(records)} examples and {len(candidate_sets)} ranked "
                f"in {phase - started:.0f} s"
            )
            generations = generate_replies(
                model,
                evaluator.tokenizer,
                records,
                settings.generation(max_lines),
                batch_size=settings.batch_size,
                max_length=settings.max_length,
                chat_template=evaluator.chat_template,
            )
            progress(
                f"{len(generations.texts)} replies generated in {time.perf_counter() - phase:.0f} s"
            )
        result = QualityResult(
            perplexity=perplexity,
            text_overlap=text_overlap(generations.texts, generations.references),
            ranking=ranked.context_gain,
            ranking_likelihood=ranked.likelihood,
            style=style_match(generations.texts, generations.references),
            degeneration=degeneration(generations.texts),
            generation=generations.stats,
            seconds=time.perf_counter() - started,
        )
        return QualityAssessment(result=result, generations=generations)
