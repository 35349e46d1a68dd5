"""[evaluation] Held-out perplexity of the base model vs each LoRA stage, as a report."""

import dagster as dg
import pandas as pd

from astrabot_pipeline.dataset import held_out_sample, records_from_frame
from astrabot_pipeline.defs.errors import redact_failures
from astrabot_pipeline.defs.resources import AstrabotPathsResource
from astrabot_pipeline.defs.training import STAGES
from astrabot_pipeline.evaluation import ModelEvaluator, evaluate_stages, write_report
from astrabot_pipeline.training import get_model_profile, model_profile_from_env


class EvalConfig(dg.Config):
    max_examples: int | None = None  # None: the model profile's `eval_examples`


@dg.asset(
    group_name="evaluation",
    ins={"mixed_dataset": dg.AssetIn("mixed_dataset")}
    | {name: dg.AssetIn(name) for name, _, _ in STAGES},
    kinds={"pytorch", "markdown"},
    check_specs=[dg.AssetCheckSpec("report_covers_every_stage", asset="eval_report")],
)
@redact_failures
def eval_report(
    context: dg.AssetExecutionContext,
    config: EvalConfig,
    paths: AstrabotPathsResource,
    mixed_dataset: pd.DataFrame,
    lora_stage_1_conversational: dict,
    lora_stage_2_adaptive: dict,
    lora_stage_3_burst: dict,
):
    """Markdown + JSON report: loss and perplexity on the dataset's test slice (every family
    in proportion), base vs every stage."""
    stages = [lora_stage_1_conversational, lora_stage_2_adaptive, lora_stage_3_burst]
    profile = get_model_profile(stages[0].get("model_profile") or model_profile_from_env().name)
    held_out = held_out_sample(mixed_dataset, config.max_examples or profile.eval_examples)
    evaluator = ModelEvaluator(stages[0]["base_model"])
    results = evaluate_stages(evaluator, records_from_frame(held_out), stages)
    report = write_report(results, paths.sub("reports"))
    rows = {row.name: row for row in results.rows}
    context.log.info(f"eval report written: {report.markdown}")
    yield dg.Output(
        {"markdown": str(report.markdown), "json": str(report.json)},
        metadata={
            "report": dg.MetadataValue.path(str(report.markdown)),
            "held_out_examples": len(held_out),
            **{f"held_out_{kind}": int(n) for kind, n in held_out.groupby("kind").size().items()},
            **{f"perplexity_{name}": row.perplexity for name, row in rows.items()},
        },
    )
    expected = {"base", *(name for name, _, _ in STAGES)}
    yield dg.AssetCheckResult(
        check_name="report_covers_every_stage",
        passed=expected <= set(rows) and report.markdown.exists(),
        metadata={"models_reported": len(rows)},
    )
