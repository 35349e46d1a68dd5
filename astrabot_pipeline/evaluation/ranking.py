"""Coherence as next-reply ranking: does the model prefer the owner's real reply?

For each held-out example the owner's true reply is put among distractor replies drawn
(seeded) from the owner's replies in *other* conversation windows, so no distractor is a
plausible continuation of the same conversation by construction. Distractors come from
validation and test windows first and from training windows only when those run short
(`ReplyPool`); an example with too few gets fewer candidates and its own chance level, so
the ranking never fails on a history the dataset stage accepted. The model ranks the candidates by
the mean per-token log-likelihood of the reply (its end-of-turn token included) given the
shared context, and by that likelihood *minus* the reply's mean log-likelihood with the
conversation taken out (the same system prompt, then an empty turn of the other person):
the context gain, a per-token pointwise mutual information between reply and context.
Accuracy (true reply ranked first; chance 1/candidates) and mean reciprocal rank summarise
each. Ties count against the true reply, so a model that scores every candidate the same
gets rank "last", not "first".

The context gain is the primary score, the one the `writes_like_owner` check judges.
Every candidate is one of the owner's own replies, so a model that has learned the owner's
habits finds all of them more likely, his short and frequent ones most: ranked by plain
likelihood, the reply he writes most often wins over the one that fits. That is the
generic-reply bias Li et al. (2016, "A Diversity-Promoting Objective Function for Neural
Conversation Models") correct with the same subtraction, and the "surface form
competition" Holtzman et al. (2021) remove from multiple-choice scoring with
domain-conditional PMI. The context gain asks what the ranking means to ask, whether the
model knows which of the owner's replies answers *this* conversation, and a model that
ignores the context gains nothing from it. The plain-likelihood ranking is still measured
and reported beside it.

The context is the same for all candidates of an example, so `LikelihoodScorer` runs it
once, with the candidates packed after it, and the same forward holds the candidates
after the conversation-less context (`lm_batches.score_groups`, which the perplexity and
the canary exposure use too). A reply's no-context likelihood depends on the reply and
the system prompt only, so each such pair is scored once per model and kept.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import torch

from astrabot_pipeline.durations import minutes_seconds
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.generation import ChatPrompt, chat_prompts, trim_prompt_left
from astrabot_pipeline.evaluation.lm_batches import ROW_TOKENS, ScoringGroup, score_groups
from astrabot_pipeline.evaluation.perplexity import EvaluationError

DEFAULT_DISTRACTORS = 9
# Ranking costs about 0.75 s of CPU per example (10 candidates) with the small profile on
# one thread, so 32 examples per model keep base + three stages near 1.5 CPU-minutes;
# accuracy's standard error at chance is then about 0.05.
DEFAULT_RANKING_EXAMPLES = 32
# Candidates are scored on at most this many tokens (their start): chat replies are short,
# and one very long candidate would dominate the candidates' forward.
DEFAULT_MAX_REPLY_TOKENS = 48
PROGRESS_SECONDS = 60.0  # how often a long ranking says how far it is


@dataclass(frozen=True)
class CandidateSet:
    """One example's context and its candidate replies; the true reply is `candidates[0]`.
    `from_train` of the distractors are replies from training windows."""

    context: tuple[Mapping[str, str], ...] = field(repr=False)
    candidates: tuple[str, ...] = field(repr=False)
    from_train: int = 0


Window = tuple[str, Any]


def _window_keys(window_ids: Sequence[Any], prefix: str) -> list[Window]:
    """Window keys to compare; a record without a window id is its own window."""
    return [
        (f"{prefix}record", index) if window is None else ("window", str(window))
        for index, window in enumerate(window_ids)
    ]


@dataclass(frozen=True)
class ReplyPool:
    """The owner's replies distractors are drawn from, each with its window: those of
    held-out (validation and test) windows first, training windows' only when those run
    short (a tuned model has seen those, so the report counts them apart)."""

    held_out: tuple[tuple[Window, str], ...] = field(repr=False)
    train: tuple[tuple[Window, str], ...] = field(default=(), repr=False)

    @classmethod
    def from_records(
        cls,
        held_out: Sequence[Mapping[str, Any]],
        train: Sequence[Mapping[str, Any]] = (),
    ) -> ReplyPool:
        """From chat records (each with its `window_id`): the final owner reply of each."""

        def replies(records: Sequence[Mapping[str, Any]], prefix: str):
            prompts = chat_prompts(records)
            windows = _window_keys([r.get("window_id") for r in records], prefix)
            return tuple(
                (window, prompt.reference)
                for window, prompt in zip(windows, prompts, strict=True)
                if prompt.reference.strip()
            )

        return cls(replies(held_out, "held-out "), replies(train, "train "))


def _distinct_from_other_windows(
    pool: Sequence[tuple[Window, str]], window: Window, exclude: set[str]
) -> list[str]:
    return list(
        dict.fromkeys(reply for other, reply in pool if other != window and reply not in exclude)
    )


def build_candidate_sets(
    records: Sequence[Mapping[str, Any]],
    *,
    window_ids: Sequence[Any] | None = None,
    distractors: int = DEFAULT_DISTRACTORS,
    max_examples: int | None = DEFAULT_RANKING_EXAMPLES,
    seed: int = 0,
    pool: ReplyPool | None = None,
) -> list[CandidateSet]:
    """For a seeded sample of `max_examples` records (all when None or fewer), the true
    reply and up to `distractors` distinct replies of other windows.

    Distractors come from `pool` (default: the records' own replies): its held-out replies
    first, its training replies only for what they lack. An example with fewer replies to
    draw from gets fewer distractors (chance is adjusted per example); one with none is
    left out. `window_ids` defaults to each record's `window_id`; a record without one
    counts as its own window."""
    if distractors < 1:
        raise SettingError("distractors must be at least 1")
    if max_examples is not None and max_examples < 1:
        raise SettingError("max_examples must be at least 1 (or None for all)")
    prompts: list[ChatPrompt] = chat_prompts(records)
    if window_ids is None:
        window_ids = [record.get("window_id") for record in records]
    if len(window_ids) != len(prompts):
        raise SettingError("window_ids must give one window per record")
    windows = _window_keys(window_ids, "held-out ")
    if pool is None:
        pool = ReplyPool(tuple((w, p.reference) for w, p in zip(windows, prompts, strict=True)))
    rng = random.Random(seed)
    chosen = list(range(len(prompts)))
    if max_examples is not None and max_examples < len(chosen):
        chosen = sorted(rng.sample(chosen, max_examples))

    sets = []
    for index in chosen:
        true_reply = prompts[index].reference
        held_out = _distinct_from_other_windows(pool.held_out, windows[index], {true_reply})
        drawn = rng.sample(held_out, min(distractors, len(held_out)))
        from_train: list[str] = []
        if len(drawn) < distractors:
            train = _distinct_from_other_windows(
                pool.train, windows[index], {true_reply, *held_out}
            )
            from_train = rng.sample(train, min(distractors - len(drawn), len(train)))
        if not drawn and not from_train:
            continue
        sets.append(
            CandidateSet(
                context=prompts[index].messages,
                candidates=(true_reply, *drawn, *from_train),
                from_train=len(from_train),
            )
        )
    return sets


def rank_of_true(scores: Sequence[float]) -> int:
    """1-based rank of `scores[0]` (the true reply) among all; ties rank it lower."""
    return 1 + sum(score >= scores[0] for score in scores[1:])


@dataclass(frozen=True)
class RankingResult:
    """Next-reply ranking over `examples` candidate sets of up to `candidates` replies each
    (None for the figures when no example could be ranked). Chance levels are the means of
    each example's own (it may have fewer candidates); `ranks` are per example, in order."""

    examples: int
    candidates: int
    accuracy: float | None
    mean_reciprocal_rank: float | None
    mean_rank: float | None
    chance_accuracy: float | None
    chance_mean_reciprocal_rank: float | None
    seconds: float
    ranks: tuple[int, ...] = ()
    # Where the distractors came from: held-out (validation and test) or training windows.
    distractors_held_out: int = 0
    distractors_train: int = 0

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.pop("ranks")
        return payload

    def correct(self) -> list[float]:
        """1.0 where the true reply ranked first, per example (for the paired bootstrap)."""
        return [float(rank == 1) for rank in self.ranks]


def ranking_metrics(
    ranks: Sequence[int], candidates: int | Sequence[int], seconds: float = 0.0
) -> RankingResult:
    """Accuracy (rank 1), mean reciprocal rank and mean rank, next to their chance values;
    `candidates` is one count for all examples or one per example."""
    sizes = [candidates] * len(ranks) if isinstance(candidates, int) else list(candidates)
    if len(sizes) != len(ranks):
        raise EvaluationError("ranking needs one candidate count per ranked example")
    if not ranks:
        return RankingResult(0, 0, None, None, None, None, None, seconds)
    count = len(ranks)
    return RankingResult(
        examples=count,
        candidates=max(sizes),
        accuracy=sum(rank == 1 for rank in ranks) / count,
        mean_reciprocal_rank=sum(1 / rank for rank in ranks) / count,
        mean_rank=sum(ranks) / count,
        chance_accuracy=sum(1 / size for size in sizes) / count,
        # A random ranking puts the true reply at each rank with probability 1/size.
        chance_mean_reciprocal_rank=sum(
            sum(1 / k for k in range(1, size + 1)) / size for size in sizes
        )
        / count,
        seconds=seconds,
        ranks=tuple(ranks),
    )


# (context messages, candidate replies) -> two scores per candidate, higher = more likely:
# given the conversation, and with the conversation taken out.
PairScorer = Callable[
    [Sequence[Mapping[str, str]], Sequence[str]], tuple[Sequence[float], Sequence[float]]
]


@dataclass(frozen=True)
class Rankings:
    """One ranking of the same candidate sets, two scores: `context_gain` (likelihood given
    the context minus likelihood without it; the primary figure) and `likelihood` (mean
    log-likelihood given the context)."""

    context_gain: RankingResult
    likelihood: RankingResult


def _summarise(sets: Sequence[CandidateSet], ranks: Sequence[int], seconds: float) -> RankingResult:
    result = ranking_metrics(ranks, [len(s.candidates) for s in sets], seconds)
    train = sum(s.from_train for s in sets)
    return replace(
        result,
        distractors_held_out=sum(len(s.candidates) - 1 for s in sets) - train,
        distractors_train=train,
    )


def rank_replies(
    sets: Sequence[CandidateSet],
    scorer: PairScorer,
    progress: Callable[[str], None] | None = None,
    every_seconds: float = PROGRESS_SECONDS,
) -> Rankings:
    """Score every candidate set with `scorer` (each candidate given its context, and with
    the conversation taken out), and summarise where the true reply landed by context gain
    and by likelihood. `progress` gets a line (counts and times only) at most every
    `every_seconds`: on a user's history the ranking is most of the evaluation's time."""
    started = last = time.perf_counter()
    gain_ranks, likelihood_ranks = [], []
    for done, candidate_set in enumerate(sets, 1):
        given, without = scorer(candidate_set.context, candidate_set.candidates)
        likelihood_ranks.append(rank_of_true(list(given)))
        gain_ranks.append(rank_of_true([g - w for g, w in zip(given, without, strict=True)]))
        now = time.perf_counter()
        if progress is not None and now - last >= every_seconds and done < len(sets):
            last = now
            each = (now - started) / done
            progress(
                f"ranking {done}/{len(sets)} examples, {each:.1f} s each, "
                f"ETA {minutes_seconds(each * (len(sets) - done))}"
            )
    seconds = time.perf_counter() - started
    return Rankings(
        context_gain=_summarise(sets, gain_ranks, seconds),
        likelihood=_summarise(sets, likelihood_ranks, seconds),
    )


class LikelihoodScorer:
    """Mean per-token log-likelihood of each candidate reply given the context, under `model`
    (what `ModelEvaluator.attached` yields). The tokens scored are those the training loss
    sees for a reply: its `{% generation %}` span, end-of-turn token included.

    Called with a candidate set, it gives both of the ranking's scores from one packed
    forward: given the conversation, and with it taken out (`prior`, each reply once).
    `shared_context=True` packs the candidates after one copy of their context; False
    runs one full forward per candidate (the reference the fast path is tested against).
    """

    def __init__(
        self,
        model,
        tokenizer,
        *,
        chat_template: str | None = None,
        max_length: int = 256,
        max_reply_tokens: int = DEFAULT_MAX_REPLY_TOKENS,
        shared_context: bool = True,
        row_tokens: int = ROW_TOKENS,
    ):
        if max_reply_tokens < 1 or max_length <= max_reply_tokens:
            raise SettingError("max_length must exceed max_reply_tokens, which must be positive")
        self.model = model
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.max_length = max_length
        self.max_reply_tokens = max_reply_tokens
        self.shared_context = shared_context
        self.row_tokens = row_tokens
        self._priors: dict[tuple[tuple[str, ...], str], float] = {}

    def __call__(
        self, context: Sequence[Mapping[str, str]], candidates: Sequence[str]
    ) -> tuple[list[float], list[float]]:
        """Each candidate's score given `context`, and its `prior`, in one forward."""
        system, missing = self._unscored_priors(context, candidates)
        plans = [self._plan(context, candidates)]
        if missing:
            plans.append(self._plan(_without_conversation(system), missing))
        scores = self._score_plans(plans)
        if missing:
            self._keep_priors(system, missing, scores[1])
        return scores[0], [self._priors[(system, reply)] for reply in candidates]

    def encode(
        self, context: Sequence[Mapping[str, str]], reply: str
    ) -> tuple[list[int], list[int]]:
        """(context ids, reply ids) of the context followed by `reply` as the owner's turn."""
        output = self.tokenizer.apply_chat_template(
            [*context, {"role": "assistant", "content": reply}],
            chat_template=self.chat_template,
            tokenize=True,
            return_dict=True,
            return_assistant_tokens_mask=True,
        )
        ids, mask = list(output["input_ids"]), list(output["assistant_masks"])
        if not any(mask):
            raise EvaluationError("the chat template marks no assistant tokens to score")
        end = len(mask) - mask[::-1].index(1)
        start = end
        while start > 0 and mask[start - 1]:
            start -= 1
        return ids[:start], ids[start:end][: self.max_reply_tokens]

    def score(self, context: Sequence[Mapping[str, str]], candidates: Sequence[str]) -> list[float]:
        """Each candidate's mean log-likelihood given `context`."""
        return self._score_plans([self._plan(context, candidates)])[0]

    def prior(self, context: Sequence[Mapping[str, str]], candidates: Sequence[str]) -> list[float]:
        """Each candidate's mean log-likelihood with the conversation taken out: the
        context's system messages (the window's description the stages trained with),
        then an empty turn of the other person. It depends on the reply and the system
        prompt only, so each such pair is scored once and kept."""
        system, missing = self._unscored_priors(context, candidates)
        if missing:
            self._keep_priors(system, missing, self.score(_without_conversation(system), missing))
        return [self._priors[(system, reply)] for reply in candidates]

    def _unscored_priors(
        self, context: Sequence[Mapping[str, str]], candidates: Sequence[str]
    ) -> tuple[tuple[str, ...], list[str]]:
        system = tuple(m["content"] for m in context if m["role"] == "system")
        missing = list(dict.fromkeys(r for r in candidates if (system, r) not in self._priors))
        return system, missing

    def _keep_priors(
        self, system: tuple[str, ...], replies: Sequence[str], values: Sequence[float]
    ) -> None:
        for reply, value in zip(replies, values, strict=True):
            self._priors[(system, reply)] = value

    def _plan(
        self, context: Sequence[Mapping[str, str]], candidates: Sequence[str]
    ) -> tuple[list[list[int]], list[list[int]]]:
        """Each candidate's (context ids, reply ids), contexts trimmed from the left so the
        longest candidate fits `max_length`."""
        encoded = [self.encode(context, reply) for reply in candidates]
        longest = max(len(reply) for _, reply in encoded)
        contexts = [trim_prompt_left(ctx, self.max_length - longest)[0] for ctx, _ in encoded]
        return contexts, [reply for _, reply in encoded]

    def _score_plans(
        self, plans: Sequence[tuple[list[list[int]], list[list[int]]]]
    ) -> list[list[float]]:
        """Mean log-likelihoods of each plan's replies. The plans whose candidates share
        their context tokens go into one `score_groups` call; a plan whose context differs
        between candidates (a reply's first characters merged with the template's tokens
        before it) is scored one candidate at a time."""
        shared = [
            self.shared_context and all(ctx == contexts[0] for ctx in contexts)
            for contexts, _ in plans
        ]
        groups = [
            ScoringGroup(contexts[0], replies)
            for (contexts, replies), one in zip(plans, shared, strict=True)
            if one
        ]
        packed = iter(score_groups(self.model, groups, row_tokens=self.row_tokens))
        scores = []
        for (contexts, replies), one in zip(plans, shared, strict=True):
            if one:
                sums = next(packed).continuations
                scores.append([v / len(r) for v, r in zip(sums, replies, strict=True)])
            else:
                scores.append(
                    [self.score_one(c, r) for c, r in zip(contexts, replies, strict=True)]
                )
        return scores

    @torch.no_grad()
    def score_one(self, context: list[int], reply: list[int]) -> float:
        """Mean log-likelihood of `reply` after `context`, from one full forward."""
        device = next(self.model.parameters()).device
        ids = torch.tensor([context + reply], device=device)
        logits = self.model(input_ids=ids).logits[0, len(context) - 1 : -1]
        logp = torch.log_softmax(logits.float(), dim=-1)
        targets = torch.tensor(reply, device=device)
        return float(logp.gather(1, targets[:, None]).sum()) / len(reply)


def _without_conversation(system: Sequence[str]) -> list[dict[str, str]]:
    """The context a reply's prior is scored after: the system messages, then an empty turn
    of the other person."""
    return [
        *({"role": "system", "content": content} for content in system),
        {"role": "user", "content": ""},
    ]
