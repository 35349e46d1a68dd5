"""`PrivacyTester`: could the model leak the owner's or their friends' data?

Four measurements of one model (base, or base + an adapter), each deterministic for a
seed, each returned as counts and rates only (docs/evaluation-privacy.md says what each
can and cannot show):

- PII leakage: generations on held-out prompts (greedy, plus N sampled completions per
  prompt) scanned against the keyed digests the privacy stage stored (leakage_scan.py);
  `pii_leakage_score` = generations holding a real identifier / generations scanned.
  Extraction recall (Lukas et al. 2023, "Analyzing Leakage of Personally Identifiable
  Information in Language Models"): of the real identifiers the training windows held
  before anonymization, the fraction reproduced in any generation of this evaluation.
- Probing: PROBE_PROMPTS (prompts.py), fixed questions asking for private facts, answered
  greedily and with N samples, scanned the same way, with their own leakage rate.
- Re-identification: the pseudonyms the training data holds most often (found with the
  digests, as surrogates the privacy stage emitted), each named in questions asking for
  that person's real name, number or e-mail (REIDENTIFICATION_QUESTIONS), answered and
  scanned the same way, with their own rate.
- Canary exposure (Carlini et al. 2019) of the memorization canaries the dataset stage
  planted (memorization.py).
- Extractable memorization on a sample of training examples (memorization.py).

Its settings are `PrivacyTestSettings` (settings.py), its findings `PrivacyResult`
(results.py). Nothing here logs; nothing it returns holds a generation's text or an
identifier.
"""

from __future__ import annotations

import random
import time
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from astrabot_pipeline.dataset.canaries import PlantedCanary
from astrabot_pipeline.evaluation.lm_batches import ScoringGroup, score_groups
from astrabot_pipeline.evaluation.privacy.leakage_scan import (
    LeakageResult,
    LeakageScanner,
    PresidioFinder,
    TextScan,
    summarize,
)
from astrabot_pipeline.evaluation.privacy.memorization import (
    SECRET_SPACE_DIGITS,
    CanaryExposure,
    ExposureResult,
    MemorizationResult,
    exact_match_rate,
    extrapolated_exposure,
    near_match_count,
    random_secrets,
    sampled_exposure,
)
from astrabot_pipeline.evaluation.privacy.prompts import (
    PROBE_PROMPTS,
    REIDENTIFICATION_QUESTIONS,
    prompt_messages,
)
from astrabot_pipeline.evaluation.privacy.results import ExtractionRecall, PrivacyResult
from astrabot_pipeline.evaluation.privacy.settings import PrivacyTestSettings
from astrabot_pipeline.generation import GenerationSettings
from astrabot_pipeline.generation.decoding import generate
from astrabot_pipeline.privacy.identifier_digests import KINDS, IdentifierDigests
from astrabot_pipeline.training.chat_template import stop_token_ids

# Training records read (a seeded sample) to find the pseudonyms used most.
PSEUDONYM_SEARCH_RECORDS = 2000


def _training_template(tokenizer) -> str | None:
    """The chat template with generation markers (the tokenizer's, or TRL's patched one)."""
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(tokenizer.chat_template or ""):
        return None
    return get_training_chat_template(tokenizer)


def _token_ids(encoded) -> list[int]:
    ids = encoded["input_ids"] if not isinstance(encoded, list) else encoded
    return [int(i) for i in ids]


class PrivacyTester:
    """Leakage, probing, exposure and memorization of a model, against what the privacy
    stage (`digests`) and the dataset stage (`canaries`) recorded.

    `train_window_ids`: the windows of the training split (mixed_dataset), for the
    extraction recall. `generic_finder`: anything with `find_entities(texts)` (default:
    the project's Presidio analyzer with no address book, built on first use, when
    `config.generic_recognizers`).
    """

    def __init__(
        self,
        digests: IdentifierDigests,
        canaries: Sequence[PlantedCanary] = (),
        *,
        train_window_ids: Iterable[object] = (),
        config: PrivacyTestSettings | None = None,
        generic_finder: Any | None = None,
    ) -> None:
        self.config = config or PrivacyTestSettings()
        self.digests = digests
        self.canaries = tuple(canaries)
        self.training_identifiers = digests.identifiers_in_windows(train_window_ids)
        if generic_finder is None and self.config.generic_recognizers:
            generic_finder = PresidioFinder()
        self.scanner = LeakageScanner(
            digests,
            canary_secrets=[canary.secret for canary in self.canaries],
            generic_finder=generic_finder,
        )
        self._pseudonym_names: list[str] | None = None  # found on the first evaluation

    # -- scanning ------------------------------------------------------------------------

    def scan(self, texts: Sequence[str]) -> list[TextScan]:
        """One scan per text: kinds, counts and offsets, never text."""
        return self.scanner.scan(texts)

    def summarize(self, scans: Sequence[TextScan]) -> LeakageResult:
        return summarize(scans, self.digests)

    def extraction_recall(self, scans: Iterable[TextScan]) -> ExtractionRecall:
        reproduced: set[int] = set()
        for scan in scans:
            reproduced |= scan.real_identifiers
        training = self.training_identifiers
        hit = reproduced & training

        def by_kind(ids: Iterable[int]) -> dict[str, int]:
            counts = dict.fromkeys(KINDS, 0)
            for identifier in ids:
                counts[self.digests.identifiers[identifier][0]] += 1
            return counts

        return ExtractionRecall(
            training_identifiers=len(training),
            reproduced=len(hit),
            recall=len(hit) / len(training) if training else None,
            training_identifiers_by_kind=by_kind(training),
            reproduced_by_kind=by_kind(hit),
        )

    # -- generation ----------------------------------------------------------------------

    def _encode_prompt(self, tokenizer, messages: list[dict[str, str]]) -> list[int]:
        encoded = tokenizer.apply_chat_template(
            messages, add_generation_prompt=True, tokenize=True, return_dict=True
        )
        return _token_ids(encoded)[-self.config.max_prompt_tokens :]

    def _generate_texts(
        self, model, tokenizer, prompts: Sequence[list[int]], *, seed_offset: int
    ) -> tuple[list[str], list[str]]:
        """(greedy texts, sampled texts) for `prompts`: the model's own distribution,
        without the repetition control and line rules chat uses (`unshaped`), which the
        leakage scan is defined on."""
        config = self.config
        sampled = config.samples_per_prompt
        settings = replace(
            GenerationSettings.unshaped(
                config.max_new_tokens,
                temperature=config.temperature if sampled else 0.0,
                top_p=config.top_p,
            ),
            seed=config.seed + seed_offset,
        )
        completions = generate(
            model,
            tokenizer,
            prompts,
            settings,
            samples=max(sampled, 1),
            with_greedy=True,
            batch_size=config.batch_size,
        )

        def decode(tokens: list[int]) -> str:
            return tokenizer.decode(tokens, skip_special_tokens=True)

        return (
            [decode(each[0].reply_token_ids) for each in completions],
            [decode(c.reply_token_ids) for each in completions for c in each[1:]],
        )

    def leakage_prompts(self, records: Sequence[Mapping[str, Any]]) -> list[list[dict[str, str]]]:
        """The first `leakage_prompts` records' turns before the reply (a fixed sample)."""
        prompts = [prompt_messages(record) for record in records]
        return [p for p in prompts if p][: self.config.leakage_prompts]

    def leakage(
        self,
        model,
        tokenizer,
        test_records: Sequence[Mapping[str, Any]],
    ) -> tuple[LeakageResult, list[TextScan]]:
        """Scan greedy and sampled completions of held-out prompts."""
        prompts = [
            self._encode_prompt(tokenizer, messages)
            for messages in self.leakage_prompts(test_records)
        ]
        greedy, sampled = self._generate_texts(model, tokenizer, prompts, seed_offset=0)
        scans = self.scan(greedy + sampled)
        return self.summarize(scans), scans

    def probe(self, model, tokenizer) -> tuple[LeakageResult, list[TextScan]]:
        """PROBE_PROMPTS answered greedily and with N samples, scanned."""
        prompts = [
            self._encode_prompt(tokenizer, [{"role": "user", "content": question}])
            for _, question in PROBE_PROMPTS
        ]
        greedy, sampled = self._generate_texts(model, tokenizer, prompts, seed_offset=100)
        scans = self.scan(greedy + sampled)
        return self.summarize(scans), scans

    def pseudonym_names(self, train_records: Sequence[Mapping[str, Any]]) -> list[str]:
        """The `reidentification_pseudonyms` name pseudonyms used most in a seeded sample
        of the training records (ties: the first found)."""
        order = list(range(len(train_records)))
        random.Random(f"astrabot-pseudonyms:{self.config.seed}").shuffle(order)
        counts: Counter[str] = Counter()
        for index in order[:PSEUDONYM_SEARCH_RECORDS]:
            for message in train_records[index]["messages"]:
                counts.update(self.scanner.name_pseudonyms(message["content"]))
        return [name for name, _ in counts.most_common(self.config.reidentification_pseudonyms)]

    def reidentify(
        self, model, tokenizer, names: Sequence[str]
    ) -> tuple[LeakageResult | None, list[TextScan]]:
        """REIDENTIFICATION_QUESTIONS about each of `names`, answered greedily and with N
        samples, scanned; None when there is no name to ask about."""
        if not names:
            return None, []
        prompts = [
            self._encode_prompt(
                tokenizer, [{"role": "user", "content": question.format(name=name)}]
            )
            for name in names
            for _, question in REIDENTIFICATION_QUESTIONS
        ]
        greedy, sampled = self._generate_texts(model, tokenizer, prompts, seed_offset=200)
        scans = self.scan(greedy + sampled)
        return self.summarize(scans), scans

    # -- memorization --------------------------------------------------------------------

    def _assistant_opening(self, tokenizer) -> list[int]:
        """The tokens that open an assistant turn (where a canary line starts in training)."""
        marker = "\u2063"
        rendered = tokenizer.apply_chat_template(
            [{"role": "assistant", "content": marker}],
            chat_template=_training_template(tokenizer),
            tokenize=False,
        )
        opening = rendered.split(marker, 1)[0]
        return _token_ids(tokenizer(opening, add_special_tokens=False))

    def canary_exposure(self, model, tokenizer) -> ExposureResult | None:
        """Exposure of each planted canary among `exposure_candidates` random secrets
        (None when none was planted)."""
        if not self.canaries:
            return None
        config = self.config
        opening = self._assistant_opening(tokenizer)
        groups = []
        for number, canary in enumerate(self.canaries):
            context = opening + _token_ids(tokenizer(canary.prefix, add_special_tokens=False))
            candidates = random_secrets(
                config.exposure_candidates,
                exclude=[c.secret for c in self.canaries],
                seed=config.seed * 1_000 + number,
            )
            continuations = [
                _token_ids(tokenizer(" " + secret, add_special_tokens=False))
                for secret in [canary.secret, *candidates]
            ]
            groups.append(ScoringGroup(context, continuations))
        # Every canary's secret and candidates, packed in one pass.
        scored = score_groups(model, groups, row_tokens=config.row_tokens)
        results = []
        for canary, scores in zip(self.canaries, scored, strict=True):
            losses = [-value for value in scores.continuations]
            secret_loss, references = losses[0], losses[1:]
            sampled, rank = sampled_exposure(secret_loss, references)
            results.append(
                CanaryExposure(
                    repeats=canary.repeats,
                    exposure=extrapolated_exposure(
                        secret_loss, references, 10**SECRET_SPACE_DIGITS
                    ),
                    sampled_exposure=sampled,
                    rank_in_sample=rank,
                )
            )
        return ExposureResult(
            canaries=tuple(results),
            candidates_sampled=config.exposure_candidates,
            space_size=10**SECRET_SPACE_DIGITS,
        )

    def memorization_items(
        self,
        tokenizer,
        train_records: Sequence[Mapping[str, Any]],
        k: int | None = None,
        m: int | None = None,
    ) -> tuple[list[list[int]], list[list[int]], int, int]:
        """(prompts, targets, too short, truncated) for extractable memorization.

        Training records are examined in a seeded random order until
        `memorization_examples` have a last reply of at least k + m tokens that training
        saw whole (within `max_length`); the others examined are counted. `k` and `m`
        default to the config's.
        """
        config = self.config
        k = config.k if k is None else k
        m = config.m if m is None else m
        template = _training_template(tokenizer)
        stops = set(stop_token_ids(tokenizer))
        order = list(range(len(train_records)))
        random.Random(f"astrabot-memorization:{config.seed}").shuffle(order)
        prompts: list[list[int]] = []
        targets: list[list[int]] = []
        short = truncated = 0
        for index in order:
            if len(prompts) >= config.memorization_examples:
                break
            messages = [
                {"role": m["role"], "content": m["content"]}
                for m in train_records[index]["messages"]
            ]
            encoded = tokenizer.apply_chat_template(
                messages,
                chat_template=template,
                tokenize=True,
                return_dict=True,
                return_assistant_tokens_mask=True,
            )
            ids, mask = _token_ids(encoded), list(encoded["assistant_masks"])
            if 1 not in mask:
                short += 1
                continue
            end = len(mask) - mask[::-1].index(1)
            start = end
            while start > 0 and mask[start - 1]:
                start -= 1
            while end > start and ids[end - 1] in stops:
                end -= 1
            if end - start < k + m:
                short += 1
                continue
            if start + k + m > config.max_length:
                truncated += 1
                continue
            prompts.append(ids[: start + k])
            targets.append(ids[start + k : start + k + m])
        return prompts, targets, short, truncated

    def extractable_memorization(
        self,
        model,
        tokenizer,
        train_records: Sequence[Mapping[str, Any]],
        k: int | None = None,
        m: int | None = None,
    ) -> tuple[MemorizationResult, list[str]]:
        """The memorization score (exact and near-verbatim) at (k, m), the config's by
        default, and the decoded continuations (to scan, never shown)."""
        config = self.config
        k = config.k if k is None else k
        m = config.m if m is None else m
        prompts, targets, short, truncated = self.memorization_items(tokenizer, train_records, k, m)
        continuations = [
            completions[0].reply_token_ids
            for completions in generate(
                model,
                tokenizer,
                prompts,
                replace(GenerationSettings.unshaped(m), seed=config.seed),
                batch_size=config.batch_size,
            )
        ]
        matches, rate = exact_match_rate(continuations, targets) if targets else (0, 0.0)
        result = MemorizationResult(
            k=k,
            m=m,
            examples_scored=len(targets),
            memorized=matches,
            memorization_score=rate,
            excluded_short=short,
            excluded_truncated=truncated,
            near_memorized=near_match_count(continuations, targets),
        )
        texts = [tokenizer.decode(tokens, skip_special_tokens=True) for tokens in continuations]
        return result, texts

    # -- everything ----------------------------------------------------------------------

    def evaluate(
        self,
        model,
        tokenizer,
        *,
        test_records: Sequence[Mapping[str, Any]],
        train_records: Sequence[Mapping[str, Any]],
    ) -> PrivacyResult:
        """Every privacy measurement of `model` (eval mode is set here)."""
        model.eval()
        seconds: dict[str, float] = {}

        def timed(name: str, started: float) -> None:
            seconds[name] = round(time.perf_counter() - started, 3)

        started = time.perf_counter()
        leakage, leakage_scans = self.leakage(model, tokenizer, test_records)
        timed("leakage", started)
        started = time.perf_counter()
        probes, probe_scans = self.probe(model, tokenizer)
        timed("probes", started)
        started = time.perf_counter()
        if self._pseudonym_names is None:  # the same names for every model evaluated
            self._pseudonym_names = self.pseudonym_names(train_records)
        reidentification, reidentification_scans = self.reidentify(
            model, tokenizer, self._pseudonym_names
        )
        timed("reidentification", started)
        started = time.perf_counter()
        exposure = self.canary_exposure(model, tokenizer)
        timed("exposure", started)
        started = time.perf_counter()
        memorization, continuations = self.extractable_memorization(model, tokenizer, train_records)
        short: list[MemorizationResult | None] = []
        for k, m in self.config.short_settings:
            found, texts = self.extractable_memorization(model, tokenizer, train_records, k, m)
            short.append(found if found.examples_scored else None)
            continuations += texts
        memorization_scans = self.scan(continuations)
        timed("memorization", started)
        extraction = self.extraction_recall(
            [*leakage_scans, *probe_scans, *reidentification_scans, *memorization_scans]
        )
        settings = self.config.to_dict() | {
            "probe_prompts": len(PROBE_PROMPTS),
            "reidentification_prompts": len(self._pseudonym_names)
            * len(REIDENTIFICATION_QUESTIONS),
            "canaries": len(self.canaries),
        }
        seconds["total"] = round(sum(seconds.values()), 3)
        return PrivacyResult(
            leakage=leakage,
            probes=probes,
            extraction=extraction,
            exposure=exposure,
            memorization=memorization if memorization.examples_scored else None,
            settings=settings,
            seconds=seconds,
            short_memorization=tuple(short),
            reidentification=reidentification,
        )

    def evaluate_models(
        self,
        base_model_path: str | Path,
        adapters: Mapping[str, str | Path | None],
        *,
        test_records: Sequence[Mapping[str, Any]],
        train_records: Sequence[Mapping[str, Any]],
        quantize_4bit: bool | None = None,
    ) -> dict[str, PrivacyResult]:
        """Each named model (None: the base alone; else base + that adapter), the base
        loaded once and each adapter attached for its measurement and removed again."""
        from peft import PeftModel

        from astrabot_pipeline.training import load_base_model, require_adapter_dir

        model, tokenizer = load_base_model(base_model_path, quantize_4bit=quantize_4bit)
        results: dict[str, PrivacyResult] = {}
        for name, adapter in adapters.items():
            if adapter is None:
                results[name] = self.evaluate(
                    model,
                    tokenizer,
                    test_records=test_records,
                    train_records=train_records,
                )
                continue
            adapted = PeftModel.from_pretrained(model, str(require_adapter_dir(adapter)))
            try:
                results[name] = self.evaluate(
                    adapted,
                    tokenizer,
                    test_records=test_records,
                    train_records=train_records,
                )
            finally:
                model = adapted.unload()
        return results


__all__ = ["PSEUDONYM_SEARCH_RECORDS", "PrivacyTester"]
