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
once with the candidates packed after it (`lm_batches.score_groups`, which the canary
exposure uses too). In the evaluation that copy is the example's own record, scored whole
for its perplexity in the same pass (`score_sets`), so a conversation runs through the
model once per model for both. A reply's no-context likelihood depends on the reply and
the system prompt only, so each such pair is scored once per model, the replies of one
system prompt packed after a single copy of it, and kept.
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
from astrabot_pipeline.evaluation.lm_batches import (
    ROW_TOKENS,
    GroupScores,
    ScoringGroup,
    score_groups,
)
from astrabot_pipeline.evaluation.quality.perplexity import EvaluationError

DEFAULT_DISTRACTORS = 9
# With the small profile on this project's 2-core machine an example's ten candidates,
# scored given the conversation and without it, take about 0.7 s of a model's scoring
# pass, so 32 examples keep base + three stages near 1.5 minutes of the demo's 5;
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
    example: int | None = None  # its record's index among the records it was built from


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
                example=index,
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


def throttled(
    progress: Callable[[str], None] | None,
    what: str,
    units: str,
    every_seconds: float = PROGRESS_SECONDS,
) -> Callable[[int, int], None]:
    """A (done, total) callback that gives `progress` a line such as "ranking 3/32
    examples, 1.2 s each, ETA 0:34" (counts and times only) at most every `every_seconds`,
    and none for the last (the caller reports the end)."""
    started = last = time.perf_counter()

    def report(done: int, total: int) -> None:
        nonlocal last
        now = time.perf_counter()
        if progress is None or now - last < every_seconds or done >= total:
            return
        last = now
        each = (now - started) / done
        progress(
            f"{what} {done}/{total} {units}, {each:.1f} s each, "
            f"ETA {minutes_seconds(each * (total - done))}"
        )

    return report


def rankings(
    sets: Sequence[CandidateSet],
    given: Sequence[Sequence[float]],
    without: Sequence[Sequence[float]],
    seconds: float,
) -> Rankings:
    """Where each set's true reply landed by context gain (`given` minus `without`) and by
    likelihood (`given`)."""
    gain_ranks = [
        rank_of_true([g - w for g, w in zip(set_given, set_without, strict=True)])
        for set_given, set_without in zip(given, without, strict=True)
    ]
    return Rankings(
        context_gain=_summarise(sets, gain_ranks, seconds),
        likelihood=_summarise(sets, [rank_of_true(list(g)) for g in given], seconds),
    )


# Each candidate's (context ids, reply ids).
Plan = tuple[list[list[int]], list[list[int]]]


@dataclass(frozen=True)
class SetScores:
    """Each candidate set's scores given the conversation and without it, and the scores of
    the host groups (`LikelihoodScorer.score_sets`)."""

    given: list[list[float]]
    without: list[list[float]]
    hosts: list[GroupScores]


class LikelihoodScorer:
    """Mean per-token log-likelihood of each candidate reply given the context, under `model`
    (what `ModelEvaluator.attached` yields). The tokens scored are those the training loss
    sees for a reply: its `{% generation %}` span, end-of-turn token included.

    `score_sets` gives the ranking's two scores for many candidate sets in one packed pass:
    given the conversation, and with it taken out (`prior`, each reply once per system
    prompt). `shared_context=True` packs the candidates after one copy of their context;
    False runs one full forward per candidate (the reference the fast path is tested
    against)."""

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

    def score_sets(
        self,
        sets: Sequence[CandidateSet],
        hosts: Sequence[ScoringGroup] = (),
        progress: Callable[[int, int], None] | None = None,
    ) -> SetScores:
        """Both scores of every set, from one `score_groups` pass that also scores `hosts`
        (the test examples' perplexity groups: `hosts[i]` is example i's whole record).
        A set whose context is the start of its example's host rides on it (the context is
        not run twice); the priors not yet kept are scored once per system prompt."""
        return self._scored(sets, hosts, progress, given=True)

    def _scored(
        self,
        sets: Sequence[CandidateSet],
        hosts: Sequence[ScoringGroup],
        progress: Callable[[int, int], None] | None,
        *,
        given: bool,
    ) -> SetScores:
        """`score_sets`, or (given=False) only the priors `sets` need."""
        groups = list(hosts)
        plans, where = self._given_groups(sets if given else [], groups)
        priors = self._prior_groups(sets, groups)
        scored = score_groups(self.model, groups, row_tokens=self.row_tokens, progress=progress)
        for system, texts, (contexts, replies), at in priors:
            values = self._means(scored, at, contexts, replies)
            self._priors.update(
                ((system, text), value) for text, value in zip(texts, values, strict=True)
            )
        return SetScores(
            given=[
                self._means(scored, at, contexts, replies)
                for (contexts, replies), at in zip(plans, where, strict=True)
            ],
            without=[
                [self._priors[(_system_prompt(s.context), reply)] for reply in s.candidates]
                for s in sets
            ],
            hosts=scored[: len(hosts)],
        )

    def _given_groups(
        self, sets: Sequence[CandidateSet], groups: list[ScoringGroup]
    ) -> tuple[list[Plan], list[int | None]]:
        """Each set's plan, and the index in `groups` its candidates are scored in: on its
        example's host when the set's context is the host's start, else a group appended
        for it; None when its candidates' contexts differ (one forward per candidate)."""
        plans = [self._plan(s.context, s.candidates) for s in sets]
        hosts = len(groups)
        where: list[int | None] = []
        for candidate_set, (contexts, replies) in zip(sets, plans, strict=True):
            host = candidate_set.example
            if not self._shares_context(contexts):
                where.append(None)
            elif host is not None and host < hosts and _rides_on(groups[host], contexts[0]):
                groups[host] = replace(groups[host], continuations=replies, attach=len(contexts[0]))
                where.append(host)
            else:
                where.append(len(groups))
                groups.append(ScoringGroup(contexts[0], replies))
        return plans, where

    def _prior_groups(
        self, sets: Sequence[CandidateSet], groups: list[ScoringGroup]
    ) -> list[tuple[tuple[str, ...], list[str], Plan, int | None]]:
        """The priors `sets` need and are not kept yet, one group appended to `groups` per
        system prompt: (system prompt, reply texts, plan, group index or None)."""
        missing: dict[tuple[str, ...], dict[str, None]] = {}
        for candidate_set in sets:
            system = _system_prompt(candidate_set.context)
            for reply in candidate_set.candidates:
                if (system, reply) not in self._priors:
                    missing.setdefault(system, {})[reply] = None
        priors = []
        for system, replies in missing.items():
            texts = list(replies)
            contexts, ids = plan = self._prior_plan(system, texts)
            at = None
            if self._shares_context(contexts):
                at = len(groups)
                groups.append(ScoringGroup(contexts[0], ids))
            priors.append((system, texts, plan, at))
        return priors

    def _shares_context(self, contexts: Sequence[list[int]]) -> bool:
        """Whether candidates can be packed after one copy of their context: its tokens are
        the same for each (unless a reply's first characters merged with the template's
        tokens before it)."""
        return self.shared_context and all(ctx == contexts[0] for ctx in contexts)

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
        groups: list[ScoringGroup] = []
        [(contexts, replies)], [at] = self._given_groups(
            [CandidateSet(tuple(context), tuple(candidates))], groups
        )
        scored = score_groups(self.model, groups, row_tokens=self.row_tokens)
        return self._means(scored, at, contexts, replies)

    def prior(self, context: Sequence[Mapping[str, str]], candidates: Sequence[str]) -> list[float]:
        """Each candidate's mean log-likelihood with the conversation taken out: the
        context's system messages (the window's description the stages trained with),
        then an empty turn of the other person. It depends on the reply and the system
        prompt only, so each such pair is scored once and kept."""
        only = CandidateSet(tuple(context), tuple(candidates))
        return self._scored([only], (), None, given=False).without[0]

    def _plan(self, context: Sequence[Mapping[str, str]], candidates: Sequence[str]) -> Plan:
        """Each candidate's (context ids, reply ids), contexts trimmed from the left so the
        longest candidate fits `max_length`."""
        encoded = [self.encode(context, reply) for reply in candidates]
        longest = max(len(reply) for _, reply in encoded)
        contexts = [trim_prompt_left(ctx, self.max_length - longest)[0] for ctx, _ in encoded]
        return contexts, [reply for _, reply in encoded]

    def _prior_plan(self, system: Sequence[str], replies: Sequence[str]) -> Plan:
        """As `_plan`, after the conversation-less context, trimmed so the longest reply
        the ranking scores fits: a reply's prior does not depend on the others."""
        encoded = [self.encode(_without_conversation(system), reply) for reply in replies]
        budget = self.max_length - self.max_reply_tokens
        return [trim_prompt_left(ctx, budget)[0] for ctx, _ in encoded], [r for _, r in encoded]

    def _means(
        self,
        scored: Sequence[GroupScores],
        at: int | None,
        contexts: Sequence[list[int]],
        replies: Sequence[list[int]],
    ) -> list[float]:
        """Mean log-likelihood per reply token: from packed group `at`, or (None) one full
        forward per candidate, for candidates whose context tokens differ (a reply's first
        characters merged with the template's tokens before it)."""
        if at is None:
            return [self.score_one(c, r) for c, r in zip(contexts, replies, strict=True)]
        sums = scored[at].continuations
        return [value / len(reply) for value, reply in zip(sums, replies, strict=True)]

    @torch.no_grad()
    def score_one(self, context: list[int], reply: list[int]) -> float:
        """Mean log-likelihood of `reply` after `context`, from one full forward."""
        device = next(self.model.parameters()).device
        ids = torch.tensor([context + reply], device=device)
        logits = self.model(input_ids=ids).logits[0, len(context) - 1 : -1]
        logp = torch.log_softmax(logits.float(), dim=-1)
        targets = torch.tensor(reply, device=device)
        return float(logp.gather(1, targets[:, None]).sum()) / len(reply)


def _system_prompt(context: Sequence[Mapping[str, str]]) -> tuple[str, ...]:
    return tuple(m["content"] for m in context if m["role"] == "system")


def _rides_on(host: ScoringGroup, context: Sequence[int]) -> bool:
    """Whether candidates after `context` can be scored inside `host`: the context is the
    host's start, and the host has no continuations yet."""
    return not host.continuations and list(host.prefix[: len(context)]) == list(context)


def _without_conversation(system: Sequence[str]) -> list[dict[str, str]]:
    """The context a reply's prior is scored after: the system messages, then an empty turn
    of the other person."""
    return [
        *({"role": "system", "content": content} for content in system),
        {"role": "user", "content": ""},
    ]
