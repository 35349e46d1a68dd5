"""[evaluation] Test-slice perplexity of the base model vs each LoRA stage, as a report
(report.html, report.md, metrics.json)."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.dataset import held_out_sample, records_from_frame
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources import AstrabotPathsResource
from astrabot_pipeline.evaluation import (
    ModelEvaluator,
    build_report,
    evaluate_stages,
    write_report,
)
from astrabot_pipeline.training import (
    CURRICULUM,
    STAGE_NAMES,
    StageResult,
    get_model_profile,
    model_profile_from_env,
)


class EvalConfig(dg.Config):
    max_examples: int | None = None  # None: the model profile's `eval_examples`


@dg.asset(
    group_name="evaluation",
    ins={"mixed_dataset": dg.AssetIn("mixed_dataset")}
    | {name: dg.AssetIn(name, dagster_type=StageResult) for name in STAGE_NAMES},
    kinds={"pytorch", "markdown"},
    check_specs=[dg.AssetCheckSpec("report_covers_every_stage", asset="eval_report")],
)
@redact_failures
def eval_report(
    context: dg.AssetExecutionContext,
    config: EvalConfig,
    paths: AstrabotPathsResource,
    mixed_dataset: pd.DataFrame,
    **stage_results: StageResult,
):
    """HTML + Markdown report and metrics.json: loss and perplexity on the dataset's test
    slice (every family in proportion), base vs every stage, and every stage's loss curve."""
    stages = [stage_results[stage.name] for stage in CURRICULUM]
    profile = get_model_profile(stages[0].profile or model_profile_from_env().name)
    held_out = held_out_sample(mixed_dataset, config.max_examples or profile.eval_examples)
    evaluator = ModelEvaluator(stages[0].base_model)
    results = evaluate_stages(evaluator, records_from_frame(held_out), stages)
    report = build_report(
        results, stages, profile=profile.name, settings={"max_examples": len(held_out)}
    )
    files = write_report(report, paths.sub("reports"))
    models = report.models()
    context.log.info(f"eval report written: {files.html}")
    yield dg.Output(
        {"html": str(files.html), "markdown": str(files.markdown), "metrics": str(files.metrics)},
        metadata={
            "report": dg.MetadataValue.path(str(files.html)),
            "held_out_examples": len(held_out),
            **{f"held_out_{kind}": int(n) for kind, n in held_out.groupby("kind").size().items()},
            **report.flat_metrics(),
        },
    )
    expected = {"base", *STAGE_NAMES}
    yield dg.AssetCheckResult(
        check_name="report_covers_every_stage",
        passed=expected <= set(models) and files.markdown.exists(),
        metadata={"models_reported": len(models)},
    )
