"""Coherence as next-reply ranking: does the model prefer the owner's real reply?

For each held-out example the owner's true reply is put among distractor replies drawn
(seeded) from examples of *other* conversation windows, so no distractor is a plausible
continuation of the same conversation by construction. The model ranks the candidates by
the mean per-token log-likelihood of the reply (its end-of-turn token included) given the
shared context. Accuracy (true reply ranked first; chance 1/candidates) and mean
reciprocal rank summarise it. Ties count against the true reply, so a model that scores
every candidate the same gets rank "last", not "first".

The context is the same for all candidates of an example, so `LikelihoodScorer` runs it
through the model once and scores the candidates as one batch on its key/value cache
(`lm_batches.continuation_log_likelihoods`, which the canary exposure uses too).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.generation import ChatPrompt, chat_prompts, trim_prompt_left
from astrabot_pipeline.evaluation.lm_batches import continuation_log_likelihoods
from astrabot_pipeline.evaluation.perplexity import EvaluationError

DEFAULT_DISTRACTORS = 9
# Ranking costs about 0.75 s of CPU per example (10 candidates) with the small profile on
# one thread, so 32 examples per model keep base + three stages near 1.5 CPU-minutes;
# accuracy's standard error at chance is then about 0.05.
DEFAULT_RANKING_EXAMPLES = 32
# Candidates are scored on at most this many tokens (their start): chat replies are short,
# and one very long candidate would dominate the candidates' forward.
DEFAULT_MAX_REPLY_TOKENS = 48


@dataclass(frozen=True)
class CandidateSet:
    """One example's context and its candidate replies; the true reply is `candidates[0]`."""

    context: tuple[Mapping[str, str], ...] = field(repr=False)
    candidates: tuple[str, ...] = field(repr=False)


def build_candidate_sets(
    records: Sequence[Mapping[str, Any]],
    *,
    window_ids: Sequence[Any] | None = None,
    distractors: int = DEFAULT_DISTRACTORS,
    max_examples: int | None = DEFAULT_RANKING_EXAMPLES,
    seed: int = 0,
) -> list[CandidateSet]:
    """For a seeded sample of `max_examples` records (all when None or fewer), the true
    reply and `distractors` distinct replies of records from other windows.

    `window_ids` defaults to each record's `window_id`; a record without one counts as its
    own window."""
    if distractors < 1:
        raise SettingError("distractors must be at least 1")
    if max_examples is not None and max_examples < 1:
        raise SettingError("max_examples must be at least 1 (or None for all)")
    prompts: list[ChatPrompt] = chat_prompts(records)
    if window_ids is None:
        window_ids = [record.get("window_id") for record in records]
    if len(window_ids) != len(prompts):
        raise SettingError("window_ids must give one window per record")
    windows = [
        ("record", index) if window is None else ("window", str(window))
        for index, window in enumerate(window_ids)
    ]
    rng = random.Random(seed)
    chosen = list(range(len(prompts)))
    if max_examples is not None and max_examples < len(chosen):
        chosen = sorted(rng.sample(chosen, max_examples))

    sets = []
    for index in chosen:
        true_reply = prompts[index].reference
        pool = list(
            dict.fromkeys(
                prompt.reference
                for other, prompt in enumerate(prompts)
                if windows[other] != windows[index]
                and prompt.reference.strip()
                and prompt.reference != true_reply
            )
        )
        if len(pool) < distractors:
            raise EvaluationError(
                f"example {index} has only {len(pool)} distinct replies from other windows to "
                f"draw {distractors} distractors from: lower the number of distractors or "
                "evaluate on a larger test split"
            )
        sets.append(
            CandidateSet(
                context=prompts[index].messages,
                candidates=(true_reply, *rng.sample(pool, distractors)),
            )
        )
    return sets


def rank_of_true(scores: Sequence[float]) -> int:
    """1-based rank of `scores[0]` (the true reply) among all; ties rank it lower."""
    return 1 + sum(score >= scores[0] for score in scores[1:])


@dataclass(frozen=True)
class RankingResult:
    """Next-reply ranking over `examples` candidate sets of `candidates` replies each."""

    examples: int
    candidates: int
    accuracy: float
    mean_reciprocal_rank: float
    mean_rank: float
    chance_accuracy: float
    chance_mean_reciprocal_rank: float
    seconds: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def ranking_metrics(ranks: Sequence[int], candidates: int, seconds: float = 0.0) -> RankingResult:
    """Accuracy (rank 1), mean reciprocal rank and mean rank, next to their chance values."""
    if not ranks:
        raise EvaluationError("no example was ranked: the test split is empty")
    return RankingResult(
        examples=len(ranks),
        candidates=candidates,
        accuracy=sum(rank == 1 for rank in ranks) / len(ranks),
        mean_reciprocal_rank=sum(1 / rank for rank in ranks) / len(ranks),
        mean_rank=sum(ranks) / len(ranks),
        chance_accuracy=1 / candidates,
        # A random ranking puts the true reply at each rank with probability 1/candidates.
        chance_mean_reciprocal_rank=sum(1 / k for k in range(1, candidates + 1)) / candidates,
        seconds=seconds,
    )


# (context messages, candidate replies) -> one score per candidate, higher = more likely.
ReplyScorer = Callable[[Sequence[Mapping[str, str]], Sequence[str]], Sequence[float]]


def rank_replies(sets: Sequence[CandidateSet], scorer: ReplyScorer) -> RankingResult:
    """Score every candidate set with `scorer` and summarise where the true reply landed."""
    started = time.perf_counter()
    ranks = [rank_of_true(list(scorer(s.context, s.candidates))) for s in sets]
    sizes = {len(s.candidates) for s in sets}
    if len(sizes) > 1:
        raise EvaluationError("candidate sets differ in size, so chance levels would not apply")
    return ranking_metrics(ranks, sizes.pop() if sizes else 0, time.perf_counter() - started)


class LikelihoodScorer:
    """Mean per-token log-likelihood of each candidate reply given the context, under `model`
    (what `ModelEvaluator.attached` yields). The tokens scored are those the training loss
    sees for a reply: its `{% generation %}` span, end-of-turn token included.

    `shared_context=True` runs the context once and all candidates on its cache; False
    runs one full forward per candidate (the reference the fast path is tested against)."""

    def __init__(
        self,
        model,
        tokenizer,
        *,
        chat_template: str | None = None,
        max_length: int = 256,
        max_reply_tokens: int = DEFAULT_MAX_REPLY_TOKENS,
        shared_context: bool = True,
    ):
        if max_reply_tokens < 1 or max_length <= max_reply_tokens:
            raise SettingError("max_length must exceed max_reply_tokens, which must be positive")
        self.model = model
        self.tokenizer = tokenizer
        self.chat_template = chat_template
        self.max_length = max_length
        self.max_reply_tokens = max_reply_tokens
        self.shared_context = shared_context

    def __call__(
        self, context: Sequence[Mapping[str, str]], candidates: Sequence[str]
    ) -> list[float]:
        return self.score(context, candidates)

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
        encoded = [self.encode(context, reply) for reply in candidates]
        longest = max(len(reply) for _, reply in encoded)
        contexts = [trim_prompt_left(ctx, self.max_length - longest)[0] for ctx, _ in encoded]
        replies = [reply for _, reply in encoded]
        # The context's tokens are the same for every candidate unless a reply's first
        # characters merged with the template's tokens before it; then score one by one.
        if self.shared_context and all(ctx == contexts[0] for ctx in contexts):
            return self.score_shared(contexts[0], replies)
        return [self.score_one(ctx, reply) for ctx, reply in zip(contexts, replies, strict=True)]

    def score_shared(self, context: list[int], replies: Sequence[list[int]]) -> list[float]:
        """Mean log-likelihood of each reply after `context`: the context runs once and the
        replies are scored on its cache (`lm_batches.continuation_log_likelihoods`)."""
        sums = continuation_log_likelihoods(self.model, context, replies)
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
