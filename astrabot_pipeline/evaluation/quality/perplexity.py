"""Held-out perplexity on the assistant (backup owner) tokens, for the base model and adapters.

The tokens scored are exactly those the training loss sees: the chat template's
`{% generation %}` span of each assistant turn, truncated at `max_length` from the start
as TRL does. Deterministic: eval mode, no dropout, no sampling, fixed order.

Next to the token-weighted perplexity, bits per character (the same total negative
log-likelihood in bits, divided by the characters of the scored reply text) compares
models whose tokenizers cut text differently.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, cast

import torch

from astrabot_pipeline.errors import AstrabotError, SettingError
from astrabot_pipeline.evaluation.lm_batches import (
    ROW_TOKENS,
    GroupScores,
    ScoringGroup,
    score_groups,
)
from astrabot_pipeline.evaluation.quality.folded_adapter import folded
from astrabot_pipeline.settings import harden_process
from astrabot_pipeline.training.base_model import load_base_model
from astrabot_pipeline.training.chat_records import validate_chat_records
from astrabot_pipeline.training.checkpoints import require_adapter_dir


class EvaluationError(AstrabotError, ValueError):
    """The evaluation cannot produce a meaningful number (e.g. no assistant tokens)."""


@dataclass(frozen=True)
class PerplexityResult:
    """Mean negative log-likelihood per assistant token (nats), its exponential, the token
    count, and the same total in bits per character of the scored reply text."""

    loss: float
    perplexity: float
    tokens: int
    characters: int
    bits_per_character: float
    # Per record, in order: summed NLL (nats) and scored tokens (for paired bootstraps).
    example_nll: tuple[float, ...] = field(default=(), repr=False)
    example_tokens: tuple[int, ...] = field(default=(), repr=False)

    def to_dict(self) -> dict[str, Any]:
        payload = asdict(self)
        payload.pop("example_nll")
        payload.pop("example_tokens")
        return payload


def _training_chat_template(tokenizer) -> str | None:
    """The template with generation markers: the tokenizer's own, or TRL's patched one."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template or ""):
        return None
    return get_training_chat_template(tokenizer)


def bits_per_character(total_nll_nats: float, characters: int) -> float:
    """Total negative log-likelihood (natural log) as bits per character of text."""
    if characters <= 0:
        raise EvaluationError("no reply characters were scored, so bits per character is undefined")
    return total_nll_nats / math.log(2) / characters


class AdapterInUseError(AstrabotError, RuntimeError):
    """A second, different adapter was asked for while one is attached."""


class ModelEvaluator:
    """Scores chat records with a base model, alone or with a LoRA adapter on top.

    The base model is loaded once; adapters are attached for one measurement (or one
    `with evaluator.attached(adapter_dir):` block of several) and removed again, so base
    and every stage are scored by the same weights and tokenizer.
    """

    def __init__(self, base_model_path: str | Path, *, quantize_4bit: bool | None = None):
        harden_process()
        self.base_model_path = str(base_model_path)
        self.model, self.tokenizer = load_base_model(
            self.base_model_path, quantize_4bit=quantize_4bit
        )
        self.model.eval()
        self.chat_template = _training_chat_template(self.tokenizer)
        # (adapter location or None, the model in use) while `attached` is entered.
        self._active: tuple[str | None, Any] | None = None

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @contextmanager
    def attached(self, adapter_dir: str | Path | None = None) -> Iterator[Any]:
        """The model to measure with: the bare base (`adapter_dir=None`) or base + that LoRA
        adapter, attached on entry and unloaded on exit so the next measurement sees the
        bare base again. Re-entering with the same adapter reuses the attached one, so
        several measurements share one attach."""
        wanted = None if adapter_dir is None else str(Path(adapter_dir).resolve())
        active = self._active
        if active is not None:
            if active[0] != wanted:
                raise AdapterInUseError(
                    "another adapter is attached: finish its measurements before the next one"
                )
            yield active[1]
            return
        if adapter_dir is None:
            self._active = (None, self.model)
            try:
                yield self.model
            finally:
                self._active = None
            return

        from peft import PeftModel

        adapted = PeftModel.from_pretrained(self.model, str(require_adapter_dir(adapter_dir)))
        adapted.eval()
        self._active = (wanted, adapted)
        try:
            with folded(adapted, self.model):
                yield adapted
        finally:
            self._active = None
            # Take the LoRA layers out again so the next measurement sees the bare base.
            self.model = adapted.unload()
            self.model.eval()

    def _encode(self, records: list[dict], max_length: int) -> list[tuple[list[int], list[int]]]:
        encoded = []
        for record in records:
            # return_dict=True: a BatchEncoding (transformers types every return form).
            output = cast(
                "Mapping[str, list[int]]",
                self.tokenizer.apply_chat_template(
                    record["messages"],
                    chat_template=self.chat_template,
                    tokenize=True,
                    return_dict=True,
                    return_assistant_tokens_mask=True,
                ),
            )
            ids = list(output["input_ids"])[:max_length]
            mask = list(output["assistant_masks"])[:max_length]
            encoded.append((ids, mask))
        return encoded

    def _scored_characters(self, ids: list[int], mask: list[int]) -> int:
        """Characters of the reply text behind the scored tokens: each run of assistant
        tokens decoded without its special tokens (the end-of-turn token scores, but is
        no character)."""
        characters = 0
        run: list[int] = []
        for token, scored in zip([*ids, None], [*mask, 0], strict=True):
            if scored and token is not None:
                run.append(token)
            elif run:
                characters += len(
                    self.tokenizer.decode(
                        run, skip_special_tokens=True, clean_up_tokenization_spaces=False
                    )
                )
                run = []
        return characters

    def perplexity_groups(
        self, records: Sequence[Mapping[str, Any]], max_length: int
    ) -> tuple[list[ScoringGroup], int]:
        """Each record as a scoring group (its first `max_length` tokens, the owner's
        scored), and the characters of the reply text behind the scored tokens."""
        if max_length < 2:
            raise SettingError("max_length must be at least 2")
        encoded = self._encode(validate_chat_records(records, "evaluation"), max_length)
        # The first token is never predicted, so it is never scored (nor counted).
        characters = sum(self._scored_characters(ids[1:], mask[1:]) for ids, mask in encoded)
        groups = [ScoringGroup(ids, prefix_scored=[bool(m) for m in mask]) for ids, mask in encoded]
        return groups, characters

    def perplexity(
        self,
        records: Sequence[Mapping[str, Any]],
        adapter_dir: str | Path | None = None,
        *,
        max_length: int = 256,
        row_tokens: int = ROW_TOKENS,
    ) -> PerplexityResult:
        """Assistant-token loss and perplexity of the base model (or base + `adapter_dir`)."""
        if row_tokens < 1:
            raise SettingError("row_tokens must be at least 1")
        groups, characters = self.perplexity_groups(records, max_length)
        with self.attached(adapter_dir) as model:
            scores = score_groups(model, groups, row_tokens=row_tokens)
        return perplexity_result(scores, characters)


def perplexity_result(scores: Sequence[GroupScores], characters: int) -> PerplexityResult:
    """The perplexity of the records `ModelEvaluator.perplexity_groups` made, from their
    scores."""
    example_nll = [-score.prefix for score in scores]
    example_tokens = [score.prefix_tokens for score in scores]
    nll, tokens = sum(example_nll), sum(example_tokens)
    if tokens == 0:
        raise EvaluationError(
            "no assistant tokens were left to score: raise max_length or check that the "
            "records end with the owner's replies"
        )
    loss = nll / tokens
    return PerplexityResult(
        loss=loss,
        perplexity=math.exp(min(loss, 700.0)),
        tokens=tokens,
        characters=characters,
        bits_per_character=bits_per_character(nll, characters),
        example_nll=tuple(example_nll),
        example_tokens=tuple(example_tokens),
    )
