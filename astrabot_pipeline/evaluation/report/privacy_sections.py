"""The report's privacy section (leakage, extraction, memorization and canary exposure of the
base model and the final adapter; counts per kind of identifier, never a value) and the
two blocking privacy checks on the final adapter."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from astrabot_pipeline.evaluation.defaults import MEMORIZATION_CHECK, PII_CHECK
from astrabot_pipeline.evaluation.privacy.results import PrivacyResult
from astrabot_pipeline.evaluation.report.model import ChartSpec, Check, Column, ReportSection
from astrabot_pipeline.evaluation.report.notes import with_standard_notes
from astrabot_pipeline.privacy.identifier_digests import KINDS


def privacy_section(privacy: Mapping[str, PrivacyResult]) -> ReportSection:
    """Leakage, extraction, memorization and canary exposure of every model tested."""

    def row(result: PrivacyResult) -> dict[str, float | int | None]:
        exposure = result.exposure.mean_exposure if result.exposure is not None else None
        return {
            "pii_leakage_score": result.pii_leakage_score,
            "probing_leakage_rate": result.probes.pii_leakage_score,
            "reidentification_rate": None
            if result.reidentification is None
            else result.reidentification.pii_leakage_score,
            "extraction_recall": result.extraction.recall,
            "memorization_score": result.memorization_score,
            "canary_exposure": exposure,
            "near_memorization_score": None
            if result.memorization is None
            else result.memorization.near_memorization_score,
            **_short_memorization(result),
            "pseudonym_rate": result.leakage.pseudonym_rate,
            "generic_hit_rate": result.leakage.generic_hit_rate,
            "generations_scanned": result.leakage.generations + result.probes.generations,
            # Which kind of identifier a leaking generation held (a count, never the value),
            # so a failed check says where to look: names, numbers, e-mails or places etc.
            **{
                f"leaks_{kind}": result.leakage.generations_by_kind.get(kind, 0)
                + result.probes.generations_by_kind.get(kind, 0)
                for kind in KINDS
            },
        }

    settings = next(iter(privacy.values())).settings
    return with_standard_notes(
        ReportSection(
            title="Privacy: leakage, extraction, memorization and canary exposure",
            key="privacy",
            columns=[
                Column("pii_leakage_score", "PII leakage score", ".4f", "lower"),
                Column("probing_leakage_rate", "probing leakage rate", ".4f", "lower"),
                Column(
                    "reidentification_rate",
                    "re-identification rate (questions naming a pseudonym)",
                    ".4f",
                    "lower",
                ),
                Column("extraction_recall", "extraction recall", ".4f", "lower"),
                Column("memorization_score", "memorization score", ".4f", "lower"),
                Column("canary_exposure", "mean canary exposure (bits)", ".2f", "lower"),
                Column(
                    "near_memorization_score",
                    "near-verbatim memorization (within 10 % edit distance)",
                    ".4f",
                    "lower",
                ),
                *_short_memorization_columns(settings),
                Column("pseudonym_rate", "pseudonym reproduction rate", ".4f"),
                Column("generic_hit_rate", "generic recognizer hit rate", ".4f"),
                Column("generations_scanned", "generations scanned", "d"),
                *(
                    Column(f"leaks_{kind}", f"generations leaking: {kind}", "d", "lower")
                    for kind in KINDS
                ),
            ],
            rows={name: row(result) for name, result in privacy.items()},
            chart=ChartSpec(
                columns=("pii_leakage_score", "memorization_score"),
                caption="Leakage and memorization of the base model and the final adapter.",
            ),
            settings={
                key: settings[key]
                for key in (
                    "temperature",
                    "samples_per_prompt",
                    "leakage_prompts",
                    "probe_prompts",
                    "reidentification_prompts",
                    "max_new_tokens",
                    "exposure_candidates",
                    "memorization_examples",
                    "k",
                    "m",
                    "canaries",
                )
                if key in settings
            },
        )
    )


def _short_memorization(result: PrivacyResult) -> dict[str, float | int | None]:
    """Exact and near-verbatim memorization at each short (k, m), and how many training
    replies were long enough to be scored there."""
    row: dict[str, float | int | None] = {}
    for (k, m), found in zip(
        result.settings["short_settings"], result.short_memorization, strict=True
    ):
        key = f"memorization_k{k}_m{m}"
        row[key] = None if found is None else found.memorization_score
        row[f"near_{key}"] = None if found is None else found.near_memorization_score
        row[f"{key}_examples"] = 0 if found is None else found.examples_scored
    return row


def _short_memorization_columns(settings: Mapping[str, Any]) -> list[Column]:
    columns = []
    for k, m in settings["short_settings"]:
        key = f"memorization_k{k}_m{m}"
        columns += [
            Column(key, f"memorization at k = {k}, m = {m}", ".4f", "lower"),
            Column(f"near_{key}", f"near-verbatim at k = {k}, m = {m}", ".4f", "lower"),
            Column(f"{key}_examples", f"replies long enough for k = {k}, m = {m}", "d"),
        ]
    return columns


def privacy_checks(
    final: PrivacyResult, *, pii_leakage_threshold: float, memorization_threshold: float
) -> list[Check]:
    """The blocking checks on the final adapter: PII leakage and extractable memorization."""
    leakage = final.pii_leakage_score
    memorization = final.memorization_score
    return [
        Check(
            name=PII_CHECK,
            passed=leakage < pii_leakage_threshold,
            value=leakage,
            threshold=pii_leakage_threshold,
            severity="error",
            description="Share of the final adapter's generations that contain a real "
            "identifier recorded by the privacy stage.",
            metric="pii_leakage_score",
        ),
        Check(
            name=MEMORIZATION_CHECK,
            # Not measurable when no training reply is long enough: recorded as None.
            passed=memorization is None or memorization < memorization_threshold,
            value=memorization,
            threshold=memorization_threshold,
            severity="error",
            description="Share of sampled training replies whose next tokens the final "
            "adapter reproduces exactly from their start (not measured when no training "
            "reply was long enough).",
            # A check names the result it judges only where that result is in the report.
            metric=None if memorization is None else "memorization_score",
        ),
    ]


__all__ = ["privacy_checks", "privacy_section"]
