"""Tiny model -> LoRA stage 1 -> stage 2 resuming it -> perplexity -> report, on a CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from astrabot_pipeline.settings import harden_process

harden_process()

from peft import PeftModel  # noqa: E402

from astrabot_pipeline.evaluation import (  # noqa: E402
    EvalResults,
    ModelEvaluator,
    build_report,
    evaluate_stages,
    render_report,
    write_report,
)
from astrabot_pipeline.training import (  # noqa: E402
    AdapterNotFoundError,
    BaseModelNotFoundError,
    EmptyDatasetError,
    InvalidRecordError,
    StageConfig,
    StageResult,
    build_tiny_base_model,
    load_base_model,
    train_lora_stage,
)
from astrabot_pipeline_tests.conftest import thinnest_history_examples  # noqa: E402

pytestmark = pytest.mark.slow

FOODS = ["pizza", "tacos", "ramen", "curry", "dumplings", "bagels"]
PLACES = ["lighthouse", "bakery", "harbour", "museum"]
STEPS = 40


def synthetic_records(count: int, start: int = 0) -> list[dict]:
    """Deterministic, repetitive two-turn chats, so a tiny model learns them in a few steps."""
    records = []
    for i in range(start, start + count):
        food, place = FOODS[i % len(FOODS)], PLACES[(i // len(FOODS)) % len(PLACES)]
        records.append(
            {
                "messages": [
                    {"role": "system", "content": "You are chatting with a friend."},
                    {"role": "user", "content": f"want to get {food} near the {place} later?"},
                    {"role": "assistant", "content": f"yes! {food} at the {place} sounds great"},
                    {"role": "user", "content": "cool, what time?"},
                    {"role": "assistant", "content": f"let's say {i % 12 + 1} o'clock, see you"},
                ]
            }
        )
    return records


TRAIN = synthetic_records(180)
VALIDATION = synthetic_records(20, start=1000)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("training")
    texts = [m["content"] for record in TRAIN for m in record["messages"]]
    base = build_tiny_base_model(texts, root / "tiny_base")
    progress: list[dict] = []
    first = train_lora_stage(
        base,
        TRAIN,
        VALIDATION,
        root / "stage_1",
        StageConfig("conversational", max_steps=STEPS),
        progress=progress.append,
    )
    second = train_lora_stage(
        base,
        TRAIN,
        VALIDATION,
        root / "stage_2",
        StageConfig("adaptive", max_steps=STEPS, seed=1),
        previous_adapter_dir=Path(first.adapter_dir),
    )
    return {"root": root, "base": base, "results": [first, second], "progress": progress}


def test_each_stage_lowers_validation_loss(pipeline):
    for result in pipeline["results"]:
        assert result.steps == STEPS
        assert result.validation_loss_after < result.validation_loss_before
        assert result.train_examples == len(TRAIN)
        assert result.validation_examples == len(VALIDATION)


def test_second_stage_starts_where_the_first_ended(pipeline):
    first, second = pipeline["results"]
    # rel=1e-3: eval batches are length-grouped with the stage seed, so the batch means differ a little.
    assert second.validation_loss_before == pytest.approx(first.validation_loss_after, rel=1e-3)


def test_adapters_are_saved_with_their_result_and_load(pipeline):
    model, _ = load_base_model(pipeline["base"])
    for result in pipeline["results"]:
        adapter_dir = Path(result.adapter_dir)
        assert (adapter_dir / "adapter_model.safetensors").is_file()
        assert (adapter_dir / "tokenizer.json").is_file()
        assert not (adapter_dir / "_trainer").exists()
        assert StageResult.load(adapter_dir) == result
        loaded = PeftModel.from_pretrained(model, adapter_dir)
        assert any("lora_" in name for name, _ in loaded.named_parameters())
        model = loaded.unload()
    leftovers = [p.name for p in pipeline["root"].iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_progress_gets_numbers_only(pipeline):
    assert pipeline["progress"], "no training logs were forwarded"
    assert all(isinstance(v, float) for log in pipeline["progress"] for v in log.values())
    assert any("loss" in log for log in pipeline["progress"])


@pytest.fixture(scope="module")
def evaluated(pipeline) -> EvalResults:
    evaluator = ModelEvaluator(pipeline["base"])
    results = evaluate_stages(evaluator, VALIDATION, pipeline["results"])
    # Adapters are detached after use: the base scores exactly as before.
    again = evaluator.perplexity(VALIDATION)
    assert (again.loss, again.tokens) == (results.rows[0].loss, results.rows[0].tokens)
    return results


def test_final_adapter_has_lower_perplexity_than_base(evaluated):
    base, first, final = evaluated.rows
    assert final.perplexity < first.perplexity < base.perplexity
    assert base.tokens == final.tokens > 0


def test_evaluator_scores_assistant_tokens_like_the_trainer(pipeline, evaluated):
    # Same masked tokens, same model: the evaluator's loss matches SFTTrainer's eval loss
    # up to batch averaging (equal-length assistant spans make the two almost the same).
    final = pipeline["results"][-1]
    assert evaluated.rows[-1].loss == pytest.approx(final.validation_loss_after, rel=0.05)


def test_report_has_every_row_and_no_record_text(pipeline, evaluated, tmp_path):
    report = build_report(evaluated, pipeline["results"])
    rendered = render_report(report)
    paths = write_report(report, tmp_path / "report")
    assert paths.markdown.read_text() == rendered.markdown
    assert paths.html.read_text() == rendered.html
    metrics = json.loads(paths.metrics.read_text())
    assert metrics == json.loads(json.dumps(rendered.metrics))

    assert metrics["models"] == ["base", "conversational", "adaptive"]
    for name in ("base", "conversational", "adaptive"):
        assert f"| {name} |" in rendered.markdown
    perplexity = {model: metrics["metrics"][model]["perplexity"] for model in metrics["models"]}
    assert perplexity["base"]["loss_change_vs_base"] is None
    assert all(perplexity[m]["loss_change_vs_base"] < 0 for m in ("conversational", "adaptive"))
    assert metrics["profile"] == "" and "tiny, randomly initialised" in rendered.markdown
    assert metrics["sample_sizes"]["training_examples"] == 2 * len(TRAIN)
    assert metrics["sample_sizes"]["test_examples"] == 20
    assert [c["name"] for c in metrics["checks"]] == ["last_stage_perplexity_below_base"]
    assert metrics["checks"][0]["passed"] is True
    stages = [curve["stage"] for curve in metrics["loss_curves"]]
    assert stages == ["conversational", "adaptive"]
    assert metrics["adapters"]["adaptive"] == Path(pipeline["results"][-1].adapter_dir).name
    record = metrics["reproducibility"]
    assert record["seeds"] == {r.stage: r.seed for r in pipeline["results"]}
    assert record["library_versions"]["evaluation"]["torch"]
    assert str(pipeline["root"]) not in json.dumps(metrics) + rendered.html

    everything = rendered.markdown + rendered.html + json.dumps(metrics)
    texts = {m["content"] for record in TRAIN + VALIDATION for m in record["messages"]}
    assert not any(text in everything for text in texts)
    assert not any(word in everything for word in FOODS + PLACES)


def test_empty_training_set_is_a_value_error_that_says_what_to_do(pipeline, tmp_path):
    with pytest.raises(EmptyDatasetError, match="training set is empty") as caught:
        train_lora_stage(pipeline["base"], [], VALIDATION, tmp_path / "x", StageConfig("s"))
    assert isinstance(caught.value, ValueError)
    assert not (tmp_path / "x").exists()


def test_record_without_owner_reply_is_rejected_without_quoting_it(pipeline, tmp_path):
    bad = [{"messages": [{"role": "user", "content": "secret words here"}]}]
    with pytest.raises(InvalidRecordError) as caught:
        train_lora_stage(
            pipeline["base"], TRAIN[:4] + bad, VALIDATION, tmp_path / "x", StageConfig("s")
        )
    assert "record 4" in str(caught.value) and "secret" not in str(caught.value)


def test_missing_previous_adapter_fails_before_any_output(pipeline, tmp_path):
    with pytest.raises(AdapterNotFoundError):
        train_lora_stage(
            pipeline["base"],
            TRAIN,
            VALIDATION,
            tmp_path / "x",
            StageConfig("s"),
            previous_adapter_dir=tmp_path / "nope",
        )
    assert not (tmp_path / "x").exists()


def test_missing_base_model_is_reported_offline(tmp_path):
    with pytest.raises(BaseModelNotFoundError):
        load_base_model(tmp_path / "absent")
    with pytest.raises(BaseModelNotFoundError, match="not available offline"):
        load_base_model("astrabot-test/no-such-model")


def test_the_whole_evaluation_finishes_on_the_thinnest_history_the_dataset_accepts(
    pipeline, tmp_path
):
    """Never raise at the end of a long run on a dataset the dataset stage accepted: one
    test window of one example still gets a report, a ranking over the candidates there
    are, and a `writes_like_owner` verdict that says the sample cannot decide."""
    from astrabot_pipeline.data_layout import DIGEST_FILE
    from astrabot_pipeline.dataset.builder import MIN_TRAINING_EXAMPLES
    from astrabot_pipeline.evaluation.dataset_inputs import dataset_inputs
    from astrabot_pipeline.evaluation.privacy.settings import PrivacyTestSettings
    from astrabot_pipeline.evaluation.run import EvaluationSettings, run_evaluation
    from astrabot_pipeline.privacy.identifier_digests import (
        IdentifierDigestBuilder,
        IdentifierDigests,
        IdentifierHasher,
    )

    examples = thinnest_history_examples(
        [record["messages"] for record in TRAIN[:MIN_TRAINING_EXAMPLES]]
    )
    assert (examples["split"] == "test").sum() == 1
    inputs = dataset_inputs(examples, max_examples=32)
    key = bytes(range(32))
    digests_file = IdentifierDigestBuilder(IdentifierHasher(key)).write(tmp_path / DIGEST_FILE)
    settings = EvaluationSettings(
        privacy=PrivacyTestSettings(
            leakage_prompts=1,
            samples_per_prompt=1,
            exposure_candidates=4,
            memorization_examples=2,
        ),
        samples=1,
        bootstrap_resamples=1000,
    )
    outcome = run_evaluation(
        pipeline["results"],
        inputs.test_records,
        inputs.train_records,
        digests=IdentifierDigests.load(digests_file, key),
        train_window_ids=inputs.train_window_ids,
        reply_pool=inputs.reply_pool,
        attribution_corpus=inputs.attribution_corpus,
        audit_candidates=inputs.audit_candidates,
        settings=settings,
        report_path=tmp_path / "reports",
    )
    metrics = outcome.report.metrics()
    final = pipeline["results"][-1].stage
    ranking = outcome.quality[final].result.ranking
    assert ranking.examples == 1 and ranking.chance_accuracy is not None
    voice = next(c for c in metrics["checks"] if c["name"] == "writes_like_owner")
    assert not voice["passed"] and voice["severity"] == "warning"
    assert "inconclusive" in voice["description"]
    outcomes = {d["metric"]: d["outcome"] for d in metrics["differences"] if d["model"] == final}
    assert outcomes["ranking_accuracy"] == "inconclusive"  # n = 1 never decides
    # Too small to hold windows out for a membership audit: said, not failed.
    membership = next(
        c for c in metrics["checks"] if c["name"] == "membership_inference_near_chance"
    )
    assert membership["severity"] == "warning" and membership["value"] is None
    assert "no audit slice" in membership["description"]
    assert outcome.verdict.passed
    assert outcome.report.summary
