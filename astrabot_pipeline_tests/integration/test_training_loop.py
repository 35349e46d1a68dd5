"""The training loop: warmup, accumulation, periodic eval keeping the best adapter,
run directories keyed by inputs, resume after a real SIGKILL, and the StageResult record."""

from __future__ import annotations

import hashlib
import json
import math
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from safetensors.torch import load_file

from astrabot_pipeline.settings import harden_process

harden_process()

from peft import PeftModel  # noqa: E402

from astrabot_pipeline.errors import SettingError  # noqa: E402
from astrabot_pipeline.training import (  # noqa: E402
    STAGE_RESULT_FILE,
    StageConfig,
    StageResult,
    StageResultError,
    build_tiny_base_model,
    latest_adapter_dir,
    load_base_model,
    train_lora_stage,
)
from astrabot_pipeline.training import checkpoints as checkpoints_module  # noqa: E402
from astrabot_pipeline.training import trainer as trainer_module  # noqa: E402
from astrabot_pipeline.training.checkpoints import last_checkpoint  # noqa: E402
from astrabot_pipeline.training.members import member_ids, read_members  # noqa: E402
from astrabot_pipeline.training.precision import Precision  # noqa: E402
from astrabot_pipeline.training.progress import throttled_progress  # noqa: E402
from astrabot_pipeline.training.run_key import dataset_hash, run_key  # noqa: E402
from astrabot_pipeline.training.trainer import training_args  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]
FP32 = Precision("fp32", "the test's choice")
# bf16 keeps 8 bits of mantissa: over a few steps its losses stay within 2 % of fp32's.
BF16_LOSS_TOLERANCE = 0.02
WORDS = ["kayak", "violin", "garden", "comet", "pretzel", "lantern", "meadow", "orbit"]


def records(count: int, start: int = 0) -> list[dict]:
    """Short chats of varied length (so length grouping has something to group)."""
    out = []
    for i in range(start, start + count):
        word = WORDS[i % len(WORDS)]
        tail = " and more" * (i % 4)
        out.append(
            {
                "messages": [
                    {"role": "user", "content": f"did you bring the {word}{tail}?"},
                    {"role": "assistant", "content": f"yes the {word} is here{tail}"},
                ]
            }
        )
    return out


TRAIN = records(48)
TRAIN_WITH_IDS = [{**record, "example_id": f"ex-{i}"} for i, record in enumerate(TRAIN)]
VALIDATION = records(12, start=500)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Path:
    texts = [m["content"] for r in TRAIN + VALIDATION for m in r["messages"]]
    return build_tiny_base_model(texts, tmp_path_factory.mktemp("loop") / "tiny_base")


# Warmup over the first 4 of 16 steps, then a learning rate high enough that later
# evaluations get worse than an earlier one: the kept adapter must be the best, not the last.
# (Padding-free batches in random order train smoothly: 1.0 no longer overshoots, 20.0 does.)
EVAL_CONFIG = StageConfig(
    "conversational",
    max_steps=16,
    batch_size=4,
    gradient_accumulation_steps=2,
    warmup_ratio=0.25,
    lr_scheduler_type="constant_with_warmup",
    learning_rate=20.0,
    eval_steps=4,
)


@pytest.fixture(scope="module")
def evaluated(base, tmp_path_factory) -> dict:
    out_dir = tmp_path_factory.mktemp("evaluated") / "stage"
    updates: list[dict] = []
    result = train_lora_stage(
        base,
        TRAIN,
        VALIDATION,
        out_dir,
        EVAL_CONFIG,
        progress=updates.append,
        progress_interval=0,
        profile="tiny",
    )
    return {"out_dir": out_dir, "result": result, "updates": updates}


@pytest.mark.slow
def test_warmup_and_accumulation_reach_the_trainer(evaluated):
    train_logs = {int(u["step"]): u for u in evaluated["updates"] if "learning_rate" in u}
    # The rate each step trained with: 0, 1/4, 2/4, 3/4 of the peak, then the peak.
    rates = [train_logs[step]["learning_rate"] for step in (1, 2, 3, 4, 5, 6)]
    peak = EVAL_CONFIG.learning_rate
    assert rates == pytest.approx([0, peak / 4, peak / 2, 3 * peak / 4, peak, peak])
    # 48 examples in micro-batches of 4, two per optimizer step: 6 steps per epoch.
    assert train_logs[6]["epoch"] == pytest.approx(1.0)
    assert train_logs[12]["epoch"] == pytest.approx(2.0)


@pytest.mark.slow
def test_periodic_evaluation_keeps_the_best_adapter(evaluated, base):
    result = evaluated["result"]
    history = result.loss_history
    assert [row["step"] for row in history if row["validation_loss"] is not None] == [
        0,
        4,
        8,
        12,
        16,
    ]
    assert history[0]["validation_loss"] == result.validation_loss_before
    assert sum(row["train_loss"] is not None for row in history) == 16
    during = {row["step"]: row["validation_loss"] for row in history[1:] if row["validation_loss"]}
    best_step = min(during, key=during.get)
    # The constructed case (deterministic for the seed): the last evaluation is not the best.
    assert during[16] > during[best_step], "the case no longer overshoots: raise learning_rate"
    assert best_step < 16
    assert result.best_step == best_step
    assert result.validation_loss_after == pytest.approx(during[best_step], rel=1e-6)
    # The saved adapter, loaded fresh, scores the best validation loss too.
    assert result.validation_loss_after < result.validation_loss_before
    model, _ = load_base_model(base)
    loaded = PeftModel.from_pretrained(model, result.adapter_dir)
    assert any("lora_" in name for name, _ in loaded.named_parameters())


@pytest.mark.slow
def test_progress_is_numeric_with_rate_and_eta(evaluated):
    updates = evaluated["updates"]
    assert all(isinstance(v, float) for u in updates for v in u.values())
    assert any("tokens_per_second" in u and "eta_seconds" in u for u in updates)
    line = str(next(u for u in updates if "loss" in u and "eta_seconds" in u))
    assert line.startswith("step ") and "loss" in line and "tokens/s" in line and "ETA" in line
    assert not any(word in str(u) for u in updates for word in WORDS)


@pytest.mark.slow
def test_result_records_how_it_was_made_and_is_private(evaluated):
    result = evaluated["result"]
    adapter_dir = Path(result.adapter_dir)
    assert adapter_dir.parent == evaluated["out_dir"] and adapter_dir.name == result.run_key
    assert (adapter_dir / STAGE_RESULT_FILE).stat().st_mode & 0o777 == 0o600
    assert StageResult.load(adapter_dir) == result
    assert StageResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result
    assert result.max_length == EVAL_CONFIG.max_length
    assert result.profile == "tiny" and result.seed == EVAL_CONFIG.seed
    assert result.config == EVAL_CONFIG.to_dict()
    assert set(result.library_versions) >= {"torch", "transformers", "trl", "peft"}
    assert len(result.dataset_hash) == 64
    assert result.tokens_seen > 0 and result.runtime_seconds > 0
    assert result.steps == result.steps_trained == 16 and result.resumed_from_step == 0
    assert result.batching == "padding-free (sdpa attention)"  # the tiny model on a CPU
    # Checkpoints are gone once the adapter is in place; latest.json points at it.
    assert not (evaluated["out_dir"] / "runs").exists()
    assert latest_adapter_dir(evaluated["out_dir"]) == adapter_dir
    text = (adapter_dir / STAGE_RESULT_FILE).read_text()
    assert not any(word in text for word in WORDS)


def _digest(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in directory.iterdir()
        if p.is_file()
    }


@pytest.mark.slow
def test_same_inputs_reuse_and_a_changed_config_gets_a_new_directory(evaluated, base):
    old = evaluated["result"]
    old_dir = Path(old.adapter_dir)
    before = _digest(old_dir)

    again = train_lora_stage(base, TRAIN, VALIDATION, evaluated["out_dir"], EVAL_CONFIG)
    assert again.reused and replace(again, reused=False) == old  # not retrained

    changed = StageConfig("conversational", max_steps=2, batch_size=4, learning_rate=0.01)
    new = train_lora_stage(base, TRAIN, VALIDATION, evaluated["out_dir"], changed)
    assert new.run_key != old.run_key and Path(new.adapter_dir) != old_dir
    assert _digest(old_dir) == before
    assert latest_adapter_dir(evaluated["out_dir"]) == Path(new.adapter_dir)
    # A different dataset, base model or previous adapter is another key too.
    data_hash = dataset_hash(TRAIN, VALIDATION)
    assert new.precision == "fp32"  # the tiny model is too narrow for bf16 to pay
    assert run_key(data_hash, changed, base, None, "fp32") == new.run_key
    other_data = run_key(dataset_hash(TRAIN[:40], VALIDATION), changed, base, None, "fp32")
    other_base = run_key(data_hash, changed, "some/hub-model", None, "fp32")
    other_precision = run_key(data_hash, changed, base, None, "bf16")
    continued = train_lora_stage(
        base,
        TRAIN,
        VALIDATION,
        evaluated["out_dir"],
        replace(changed, eval_steps=1),
        previous_adapter_dir=old_dir,
    )
    keys = {old.run_key, new.run_key, other_data, other_base, other_precision, continued.run_key}
    assert len(keys) == 6
    # Continuing an adapter starts from its loss, and still keeps the best of its evaluations.
    assert continued.validation_loss_before == pytest.approx(old.validation_loss_after, rel=1e-6)
    during = [row["validation_loss"] for row in continued.loss_history[1:]]
    assert len(during) == 2 and continued.validation_loss_after == pytest.approx(min(during))
    assert _digest(old_dir) == before


KILLED_CONFIG = dict(name="adaptive", max_steps=8, batch_size=4, save_steps=2, learning_rate=0.01)

TRAIN_SCRIPT = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    from astrabot_pipeline.training import StageConfig, train_lora_stage
    spec = json.loads(Path(sys.argv[1]).read_text())
    train_lora_stage(
        spec["base"], spec["train"], spec["validation"], Path(spec["out_dir"]),
        StageConfig(**spec["config"]),
        previous_adapter_dir=Path(spec["previous"]),
    )
    """
)


@pytest.mark.slow
def test_a_killed_stage_resumes_from_its_last_checkpoint(evaluated, base, tmp_path):
    # Continuing a previous adapter, as stages 2 and 3 do.
    previous = Path(evaluated["result"].adapter_dir)
    out_dir = tmp_path / "stage_2"
    spec = tmp_path / "spec.json"
    spec.write_text(
        json.dumps(
            {
                "base": str(base),
                "train": TRAIN_WITH_IDS,
                "validation": VALIDATION,
                "out_dir": str(out_dir),
                "config": KILLED_CONFIG,
                "previous": str(previous),
            }
        )
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT), "HF_HUB_OFFLINE": "1"}
    log = tmp_path / "child.log"  # a file, not a pipe: a full pipe would stall the child
    with log.open("wb") as sink:
        child = subprocess.Popen(
            [sys.executable, "-c", TRAIN_SCRIPT, str(spec)],
            cwd=REPO_ROOT,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and child.poll() is None:
            runs = out_dir / "runs"
            if runs.is_dir() and any(last_checkpoint(run) for run in runs.iterdir()):
                break  # a complete checkpoint (its trainer_state.json parses)
            time.sleep(0.02)
        assert child.poll() is None, log.read_text(errors="replace")[-2000:]
        child.send_signal(signal.SIGKILL)
    finally:
        child.kill()
        child.wait()
    assert child.returncode == -signal.SIGKILL
    checkpoints = sorted((out_dir / "runs").glob("*/checkpoint-*"))
    assert checkpoints, "the run was killed before its first checkpoint"
    assert not list(out_dir.glob("*/adapter_config.json")), "the killed run left no adapter"

    result = train_lora_stage(
        base,
        TRAIN_WITH_IDS,
        VALIDATION,
        out_dir,
        StageConfig(**KILLED_CONFIG),
        previous_adapter_dir=previous,
    )
    assert result.resumed_from_step >= 2
    assert result.steps == 8
    assert result.steps_trained == 8 - result.resumed_from_step < 8
    assert checkpoints[0].parent.name == result.run_key
    assert not (out_dir / "runs").exists()
    model, _ = load_base_model(base)
    loaded = PeftModel.from_pretrained(model, result.adapter_dir)
    assert any("lora_" in name for name, _ in loaded.named_parameters())
    assert result.validation_loss_after < evaluated["result"].validation_loss_before
    # What it trained on, in order, is the same as a run that was never interrupted: the
    # resumed attempt starts from its checkpoint's record.
    resumed = read_members(result.adapter_dir)
    fresh = train_lora_stage(
        base,
        TRAIN_WITH_IDS,
        VALIDATION,
        tmp_path / "uninterrupted",
        StageConfig(**KILLED_CONFIG),
        previous_adapter_dir=previous,
    )
    assert resumed == read_members(fresh.adapter_dir)
    assert resumed is not None and [len(batch) for batch in resumed] == [4] * 8
    assert {i for batch in resumed for i in batch} <= {f"ex-{i}" for i in range(48)}


@pytest.mark.slow
def test_a_stage_records_the_examples_its_kept_adapter_trained_on(evaluated):
    result = evaluated["result"]
    batches = read_members(result.adapter_dir)
    assert batches is not None
    # The kept adapter is the best step's: 2 batches of 4 a step up to it, no further.
    assert len(batches) == 2 * result.best_step and all(len(b) == 4 for b in batches)
    # Records without an example_id are named by position; an epoch takes each once.
    epoch = [i for batch in batches[:12] for i in batch]
    if len(batches) >= 12:
        assert sorted(epoch, key=int) == [str(i) for i in range(48)]
    assert member_ids(result.adapter_dir) == {i for batch in batches for i in batch}
    assert member_ids(Path(result.adapter_dir) / "missing") == set()


@pytest.mark.slow
def test_a_stage_interrupted_while_saving_finishes_without_training_again(
    base, tmp_path, monkeypatch
):
    config = StageConfig("burst", max_steps=4, batch_size=4, save_steps=2, eval_steps=2)

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(checkpoints_module, "atomic_output", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train_lora_stage(base, TRAIN, VALIDATION, tmp_path / "stage", config)
    assert last_checkpoint(next((tmp_path / "stage" / "runs").iterdir())).name == ("checkpoint-4")
    result = train_lora_stage(base, TRAIN, VALIDATION, tmp_path / "stage", config)
    assert (result.steps, result.steps_trained, result.resumed_from_step) == (4, 0, 4)
    assert math.isfinite(result.train_loss) and result.train_loss > 0
    assert [row["step"] for row in result.loss_history] == [0, 1, 2, 3, 4]
    during = [row["validation_loss"] for row in result.loss_history[1:] if row["validation_loss"]]
    assert result.validation_loss_after == pytest.approx(min(during), rel=1e-6)


def test_old_format_results_still_load():
    old = {
        "stage": "conversational",
        "adapter_dir": "/data/models/lora_stage_1_conversational",
        "base_model": "/data/models/base-tiny",
        "train_loss": 2.5,
        "validation_loss_before": 3.0,
        "validation_loss_after": 2.0,
        "steps": 200,
        "seconds": 12.5,
        "train_examples": 100,
        "validation_examples": 10,
        "some_future_key": 1,
    }
    result = StageResult.from_dict(old)
    assert result.max_length == 256 and result.loss_history == [] and result.profile == ""
    assert result.to_dict()["steps"] == 200
    with pytest.raises(StageResultError, match="steps"):
        StageResult.from_dict({k: v for k, v in old.items() if k != "steps"})


def test_config_validation_names_the_setting():
    for bad in (
        dict(warmup_ratio=1.0),
        dict(gradient_accumulation_steps=0),
        dict(eval_steps=-1),
        dict(eval_steps=4, save_steps=6),
        dict(num_train_epochs=0),
        dict(lora_target_modules=()),
        dict(lora_target_modules="q_proj"),
        dict(lr_scheduler_type="warp"),
    ):
        with pytest.raises(SettingError, match="StageConfig"):
            StageConfig("s", **bad)
    config = StageConfig("s", lora_target_modules=["q_proj", "v_proj"])
    assert config.lora_target_modules == ("q_proj", "v_proj")
    assert StageConfig("s", max_steps=100).checkpoint_interval(10) == 20
    assert StageConfig("s", eval_steps=5).checkpoint_interval(10) == 5
    epochs = StageConfig("s", num_train_epochs=2, batch_size=4, gradient_accumulation_steps=2)
    assert epochs.planned_steps(48) == 12


def test_training_arguments_padded_and_padding_free(monkeypatch, tmp_path):
    config = StageConfig("s", max_steps=50, warmup_ratio=0.1, gradient_accumulation_steps=4)
    args = training_args(config, tmp_path, 100, padding_free=False, precision=FP32)
    assert (args.warmup_steps, args.gradient_accumulation_steps) == (0.1, 4)
    assert args.get_warmup_steps(50) == 5
    assert args.train_sampling_strategy == "group_by_length" and not args.packing
    assert not args.padding_free and args.max_length == config.max_length
    assert args.include_num_input_tokens_seen == "non_padding"
    assert args.save_strategy == "steps" and args.save_steps == 10
    assert not args.load_best_model_at_end and not args.activation_checkpointing

    evaluating = StageConfig("s", max_steps=50, eval_steps=5)
    args = training_args(evaluating, tmp_path, 100, padding_free=False, precision=FP32)
    assert args.load_best_model_at_end and args.metric_for_best_model == "eval_loss"
    assert (args.eval_strategy, args.eval_steps, args.save_steps) == ("steps", 5, 5)

    epochs = StageConfig("s", num_train_epochs=1.5)
    args = training_args(epochs, tmp_path, 100, padding_free=False, precision=FP32)
    assert args.max_steps == -1 and args.num_train_epochs == 1.5

    # Padding-free: no packing (a step keeps batch_size examples), random order, and
    # max_length left to the records (TRL refuses it without packing).
    args = training_args(config, tmp_path, 100, padding_free=True, precision=FP32)
    assert args.padding_free and not args.packing and args.max_length is None
    assert args.train_sampling_strategy == "random"
    assert args.include_num_input_tokens_seen == "all"
    assert not args.activation_checkpointing  # no CUDA here
    assert not args.bf16 and not args.fp16
    args = training_args(
        config, tmp_path, 100, padding_free=True, precision=Precision("bf16", "test")
    )
    assert args.bf16 and not args.fp16 and args.use_cpu  # bf16 autocast on the CPU
    monkeypatch.setattr(trainer_module, "cuda_available", lambda: True)
    args = training_args(config, tmp_path, 100, padding_free=True, precision=FP32)
    assert args.padding_free and not args.packing and args.activation_checkpointing


def test_bf16_training_on_a_cpu_agrees_with_fp32_over_the_first_steps(base, tmp_path):
    config = StageConfig("conversational", max_steps=8, batch_size=4, learning_rate=0.01)
    results = {
        precision: train_lora_stage(
            base, TRAIN, VALIDATION, tmp_path / precision, replace(config, precision=precision)
        )
        for precision in ("fp32", "bf16")
    }
    fp32, bf16 = results["fp32"], results["bf16"]
    assert (fp32.precision, bf16.precision) == ("fp32", "bf16")
    assert "setting" in bf16.precision_reason and bf16.plan["precision"] == "bf16"
    assert bf16.run_key != fp32.run_key
    assert bf16.validation_loss_before == pytest.approx(
        fp32.validation_loss_before, rel=BF16_LOSS_TOLERANCE
    )
    assert bf16.train_loss == pytest.approx(fp32.train_loss, rel=BF16_LOSS_TOLERANCE)
    assert bf16.validation_loss_after == pytest.approx(
        fp32.validation_loss_after, rel=BF16_LOSS_TOLERANCE
    )
    assert bf16.validation_loss_after < bf16.validation_loss_before
    assert bf16.train_loss != fp32.train_loss  # the products did run in bf16
    # The base model's weights were bf16; the adapter's own stay fp32.
    adapter = load_file(str(Path(bf16.adapter_dir) / "adapter_model.safetensors"))
    assert adapter and all(tensor.dtype == torch.float32 for tensor in adapter.values())


def test_progress_is_throttled_and_ends_with_the_last_update():
    now = [0.0]
    sent: list[dict] = []
    callback = throttled_progress(sent.append, interval=10, clock=lambda: now[0])
    state = SimpleNamespace(global_step=0, max_steps=100, num_input_tokens_seen=0)
    callback.on_train_begin(None, state, None)
    for step in range(1, 101):
        now[0] = step * 0.5  # two steps a second: an update at most every 20 steps
        state.global_step, state.num_input_tokens_seen = step, step * 1000
        callback.on_log(None, state, None, logs={"loss": 1.0 / step, "learning_rate": 1e-3})
    callback.on_train_end(None, state, None)
    assert [int(u["step"]) for u in sent] == [1, 21, 41, 61, 81, 100]
    assert sent[-1]["eta_seconds"] == 0 and sent[2]["eta_seconds"] == pytest.approx(59 * 20.5 / 41)
    assert sent[2]["tokens_per_second"] == pytest.approx(2000.0)
    assert str(sent[2]).startswith("step 41/100, loss 0.0244, lr 1.00e-03, 2000 tokens/s")
