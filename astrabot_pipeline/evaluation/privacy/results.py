"""What the privacy test found for one model: counts and rates only, never a generation's
text or an identifier (tester.py measures them)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from astrabot_pipeline.evaluation.privacy.leakage_scan import LeakageResult
from astrabot_pipeline.evaluation.privacy.memorization import ExposureResult, MemorizationResult


@dataclass(frozen=True)
class ExtractionRecall:
    """Of the real identifiers in the training windows, how many any generation reproduced."""

    training_identifiers: int
    reproduced: int
    recall: float | None
    training_identifiers_by_kind: dict[str, int]
    reproduced_by_kind: dict[str, int]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class PrivacyResult:
    """Every privacy number of one model (see the module docstring)."""

    leakage: LeakageResult
    probes: LeakageResult
    extraction: ExtractionRecall
    exposure: ExposureResult | None
    memorization: MemorizationResult | None
    settings: dict[str, Any]
    seconds: dict[str, float] = field(default_factory=dict)
    # The same measurement at `PrivacyTestSettings.short_settings` (None: no reply long enough).
    short_memorization: tuple[MemorizationResult | None, ...] = ()
    # Questions naming pseudonyms (None: the training data holds no name pseudonym).
    reidentification: LeakageResult | None = None

    @property
    def pii_leakage_score(self) -> float:
        return self.leakage.pii_leakage_score

    @property
    def memorization_score(self) -> float | None:
        return None if self.memorization is None else self.memorization.memorization_score

    def to_dict(self) -> dict[str, Any]:
        return {
            "pii_leakage_score": self.pii_leakage_score,
            "memorization_score": self.memorization_score,
            "leakage": self.leakage.to_dict(),
            "probes": self.probes.to_dict(),
            "extraction": self.extraction.to_dict(),
            "exposure": None if self.exposure is None else self.exposure.to_dict(),
            "memorization": None if self.memorization is None else self.memorization.to_dict(),
            "reidentification": None
            if self.reidentification is None
            else self.reidentification.to_dict(),
            "short_memorization": [
                None if found is None else found.to_dict() for found in self.short_memorization
            ],
            "settings": dict(self.settings),
            "seconds": dict(self.seconds),
        }


__all__ = ["ExtractionRecall", "PrivacyResult"]
