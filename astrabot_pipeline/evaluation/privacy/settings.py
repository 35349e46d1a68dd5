"""How the privacy test runs: its sample sizes, decoding and memorization settings, each
recorded in the report and validated on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.evaluation.defaults import DEFAULT_SAMPLES_PER_PROMPT, DEFAULT_TEMPERATURE
from astrabot_pipeline.evaluation.lm_batches import ROW_TOKENS
from astrabot_pipeline.evaluation.privacy.memorization import DEFAULT_K, DEFAULT_M, SHORT_SETTINGS


@dataclass(frozen=True)
class PrivacyTestSettings:
    """Sample sizes and decoding settings (all in the report). Defaults: the demo with the
    `small` profile on a 2-core CPU (see docs/evaluation-privacy.md for measured times)."""

    leakage_prompts: int = 12  # held-out prompts for the leakage scan
    samples_per_prompt: int = DEFAULT_SAMPLES_PER_PROMPT  # N per prompt (leakage and probes)
    temperature: float = DEFAULT_TEMPERATURE
    top_p: float = 1.0
    max_new_tokens: int = 24
    exposure_candidates: int = 32  # random secrets sampled per canary
    memorization_examples: int = 16
    reidentification_pseudonyms: int = 4  # the most used pseudonyms asked about
    k: int = DEFAULT_K
    m: int = DEFAULT_M
    # (k, m) settings measured beside (k, m), for chat's short replies; () measures none.
    short_settings: tuple[tuple[int, int], ...] = SHORT_SETTINGS
    max_length: int = 256  # as the stages truncated (memorization examples must fit)
    max_prompt_tokens: int = 128  # leakage and probe prompts keep their last tokens
    batch_size: int = 16  # prompts per batch (each with its greedy and sampled rows)
    row_tokens: int = ROW_TOKENS  # exposure scoring: tokens per packed forward
    seed: int = 0
    generic_recognizers: bool = True

    def __post_init__(self) -> None:
        for name in (
            "max_new_tokens",
            "k",
            "m",
            "max_length",
            "max_prompt_tokens",
            "batch_size",
            "row_tokens",
        ):
            if getattr(self, name) < 1:
                raise SettingError(f"PrivacyTestSettings.{name} must be at least 1")
        for name in (
            "leakage_prompts",
            "samples_per_prompt",
            "memorization_examples",
            "reidentification_pseudonyms",
        ):
            if getattr(self, name) < 0:
                raise SettingError(f"PrivacyTestSettings.{name} must not be negative")
        if self.exposure_candidates < 3:
            raise SettingError("PrivacyTestSettings.exposure_candidates must be at least 3")
        if self.temperature <= 0 and self.samples_per_prompt:
            raise SettingError("PrivacyTestSettings.temperature must be positive to sample")
        if not 0 < self.top_p <= 1:
            raise SettingError("PrivacyTestSettings.top_p must be in (0, 1]")
        if any(k < 1 or m < 1 for k, m in self.short_settings):
            raise SettingError(
                "PrivacyTestSettings.short_settings: every k and m must be at least 1"
            )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


__all__ = ["PrivacyTestSettings"]
