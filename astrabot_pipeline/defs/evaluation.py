"""[evaluation] Test-slice perplexity of the base model vs each LoRA stage, as a report
(report.html, report.md, metrics.json)."""

from typing import TYPE_CHECKING

import dagster as dg
import pandas as pd

from astrabot_pipeline.conversations import one_to_one_threads
from astrabot_pipeline.data_layout import (
    CANARIES,
    CANARY_RECORD,
    MODELS,
    REPORTS,
    SAMPLES,
    SAMPLES_FILE,
    SECRETS,
)
from astrabot_pipeline.dataset import read_canaries
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources.paths import ACCELERATOR_POOL, AstrabotPathsResource
from astrabot_pipeline.evaluation.defaults import (
    DEFAULT_MEMBERSHIP_EXAMPLES,
    DEFAULT_MEMORIZATION_THRESHOLD,
    DEFAULT_NEAR_CHANCE_AUC,
    DEFAULT_PII_LEAKAGE_THRESHOLD,
    DEFAULT_SAMPLES,
    DEFAULT_SAMPLES_PER_PROMPT,
    DEFAULT_TEMPERATURE,
    MEMBERSHIP_CHECK,
    MEMORIZATION_CHECK,
    PERPLEXITY_CHECK,
    PII_CHECK,
)
from astrabot_pipeline.evaluation.generation import DEFAULT_MAX_NEW_TOKENS
from astrabot_pipeline.evaluation.quality.bootstrap import DEFAULT_RESAMPLES
from astrabot_pipeline.evaluation.quality.voice import VOICE_CHECK
from astrabot_pipeline.history_origin import is_generated_demo_history
from astrabot_pipeline.storage import write_text
from astrabot_pipeline.training import CURRICULUM, STAGE_NAMES, StageResult
from astrabot_pipeline.training.stage_plan import stage_profile

# The scoring code (torch, and spaCy through the identifier digests) loads when the asset
# runs, not with the definitions that every Dagster process start loads (lazy_exports.py).
if TYPE_CHECKING:
    from astrabot_pipeline.evaluation.quality.sample_sizes import SampleSizes
    from astrabot_pipeline.evaluation.run import EvaluationSettings

REPORT_COVERS_CHECK = "report_covers_every_stage"


# What a run of `eval_report` may set in the launchpad; `_settings` turns it into the
# domain's `EvaluationSettings` (with its `QualitySettings` and `PrivacyTestSettings`).
class EvaluationConfig(dg.Config):
    # Test examples scored per model, and how many of them are ranked. None: the model
    # profile's `eval_examples` and 32 ranked on the generated demo; on your own history at
    # least 200 (when the test slice holds them), every one ranked
    # (evaluation/quality/sample_sizes.py).
    max_examples: int | None = None
    pii_leakage_threshold: float = DEFAULT_PII_LEAKAGE_THRESHOLD
    memorization_threshold: float = DEFAULT_MEMORIZATION_THRESHOLD
    # Sampled completions per leakage and probe prompt, and their temperature.
    samples_per_prompt: int = DEFAULT_SAMPLES_PER_PROMPT
    temperature: float = DEFAULT_TEMPERATURE
    max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS
    ranking_examples: int | None = None
    # Paired bootstrap resamples behind each tuned-minus-base interval (at least 1,000).
    bootstrap_resamples: int = DEFAULT_RESAMPLES
    # Redacted side-by-side generations written to samples/samples.md (0 writes none).
    samples: int = DEFAULT_SAMPLES
    # The membership audit: at most this many members and as many non-members (the
    # dataset's audit slice), and the AUC the reference attack's interval must end at or
    # below for membership_inference_near_chance to pass (a warning otherwise, never a block).
    membership_examples: int = DEFAULT_MEMBERSHIP_EXAMPLES
    membership_near_chance_auc: float = DEFAULT_NEAR_CHANCE_AUC
    seed: int = 0


def _settings(config: EvaluationConfig, sizes: "SampleSizes") -> "EvaluationSettings":
    from astrabot_pipeline.evaluation import PrivacyTestSettings, QualitySettings
    from astrabot_pipeline.evaluation.privacy.membership_audit import MembershipSettings
    from astrabot_pipeline.evaluation.run import EvaluationSettings

    return EvaluationSettings(
        quality=QualitySettings(
            max_new_tokens=config.max_new_tokens,
            ranking_examples=sizes.ranking_examples,
            seed=config.seed,
        ),
        privacy=PrivacyTestSettings(
            samples_per_prompt=config.samples_per_prompt,
            temperature=config.temperature,
            seed=config.seed,
        ),
        pii_leakage_threshold=config.pii_leakage_threshold,
        memorization_threshold=config.memorization_threshold,
        samples=config.samples,
        bootstrap_resamples=config.bootstrap_resamples,
        membership=MembershipSettings(
            examples=config.membership_examples,
            near_chance_auc=config.membership_near_chance_auc,
        ),
    )


@dg.asset(
    group_name="evaluation",
    pool=ACCELERATOR_POOL,
    ins={
        "mixed_dataset": dg.AssetIn("mixed_dataset"),
        "relationship_dynamics": dg.AssetIn("relationship_dynamics"),
    }
    | {name: dg.AssetIn(name, dagster_type=StageResult) for name in STAGE_NAMES},
    kinds={"pytorch", "html"},
    check_specs=[
        dg.AssetCheckSpec(REPORT_COVERS_CHECK, asset="eval_report"),
        dg.AssetCheckSpec(VOICE_CHECK, asset="eval_report"),
        dg.AssetCheckSpec(PII_CHECK, asset="eval_report"),
        dg.AssetCheckSpec(MEMORIZATION_CHECK, asset="eval_report"),
        dg.AssetCheckSpec(MEMBERSHIP_CHECK, asset="eval_report"),
        dg.AssetCheckSpec(PERPLEXITY_CHECK, asset="eval_report"),
    ],
)
@redact_failures
def eval_report(
    context: dg.AssetExecutionContext,
    config: EvaluationConfig,
    paths: AstrabotPathsResource,
    mixed_dataset: pd.DataFrame,
    relationship_dynamics: pd.DataFrame,
    **stage_results: StageResult,
):
    """Does it write like the owner, and could it leak their friends' data? Quality of the
    base model and every stage, privacy of the base and the final adapter, on the dataset's
    test slice: report.html, report.md and metrics.json, the verdict beside the final
    adapter, and (private) redacted sample generations."""
    from astrabot_pipeline.evaluation import write_report
    from astrabot_pipeline.evaluation.dataset_inputs import dataset_inputs
    from astrabot_pipeline.evaluation.quality.sample_sizes import sample_sizes
    from astrabot_pipeline.evaluation.report.verdict import record_approval, write_verdict
    from astrabot_pipeline.evaluation.run import run_evaluation
    from astrabot_pipeline.privacy.identifier_digests import IdentifierDigests

    stages = [stage_results[stage.name] for stage in CURRICULUM]
    profile = stage_profile(stages[0].profile)
    sizes = sample_sizes(
        profile.eval_examples,
        generated_demo=is_generated_demo_history(paths.root()),
        max_examples=config.max_examples,
        ranking_examples=config.ranking_examples,
    )
    inputs = dataset_inputs(
        mixed_dataset, sizes.test_examples, one_to_one_threads(relationship_dynamics)
    )
    held_out = inputs.held_out
    reports = paths.sub(REPORTS)
    outcome = run_evaluation(
        stages,
        inputs.test_records,
        inputs.train_records,
        digests=IdentifierDigests.from_data_dir(paths.sub(SECRETS)),
        canaries=read_canaries(paths.sub(CANARIES, CANARY_RECORD)),
        train_window_ids=inputs.train_window_ids,
        reply_pool=inputs.reply_pool,
        attribution_corpus=inputs.attribution_corpus,
        audit_candidates=inputs.audit_candidates,
        contacts=inputs.contacts,
        settings=_settings(config, sizes),
        profile=profile.name,
        report_path=reports,
        progress=context.log.info,
    )
    files = write_report(outcome.report, reports)
    write_verdict(outcome.verdict)
    approved = record_approval(paths.sub(MODELS), outcome.verdict)
    samples = paths.sub(SAMPLES, SAMPLES_FILE)
    if outcome.samples is not None:
        write_text(samples, outcome.samples)
    else:
        samples.unlink(missing_ok=True)  # samples of an earlier run, not of this one
    report = outcome.report
    models = report.models()
    if approved:
        outcome_line = "passed: this adapter set is now the default"
    elif outcome.verdict.passed:
        outcome_line = "privacy passed, but the quality check failed: not approved"
    else:
        outcome_line = "FAILED: not approved"
    context.log.info(f"eval report written: {files.html}; verdict {outcome_line}")
    yield dg.Output(
        {"html": str(files.html), "markdown": str(files.markdown), "metrics": str(files.metrics)},
        metadata={
            "report": dg.MetadataValue.path(str(files.html)),
            "verdict": "passed" if outcome.verdict.passed else "failed",
            "approved": outcome.verdict.approved,
            "held_out_examples": len(held_out),
            **{f"held_out_{kind}": int(n) for kind, n in held_out.groupby("kind").size().items()},
            **report.flat_metrics(),
        },
    )
    for check in report.checks:
        yield dg.AssetCheckResult(
            check_name=check.name,
            passed=check.passed,
            severity=dg.AssetCheckSeverity.ERROR
            if check.severity == "error"
            else dg.AssetCheckSeverity.WARN,
            metadata={"value": check.value, "threshold": check.threshold},
            description=check.description,
        )
    expected = {"base", *STAGE_NAMES}
    yield dg.AssetCheckResult(
        check_name=REPORT_COVERS_CHECK,
        passed=expected <= set(models) and files.html.exists(),
        metadata={"models_reported": len(models)},
    )
