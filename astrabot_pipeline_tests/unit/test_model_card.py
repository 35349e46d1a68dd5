"""The exported model's card: figures and settings only, paths cut, unknown text never shown."""

from __future__ import annotations

import json
from pathlib import Path

from astrabot_pipeline.inference.adapter import AdapterInfo
from astrabot_pipeline.inference.model_card import read_evaluation, render_model_card

HOME = "/home/alice-realname"
TEXT = "see you at the lighthouse, love!"


def info(**extra) -> AdapterInfo:
    result = {
        "stage": "burst",
        "adapter_dir": f"{HOME}/data/models/lora_stage_3_burst",
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "train_loss": 2.5,
        "validation_loss_before": 3.0,
        "validation_loss_after": 2.75,
        "steps": 40,
        "seconds": 81.2,
        "train_examples": 310,
        "validation_examples": 42,
        **extra,
    }
    return AdapterInfo(Path(result["adapter_dir"]), result["base_model"], result)


def card(adapter: AdapterInfo, evaluation=None) -> str:
    return render_model_card(
        adapter,
        architecture="LlamaForCausalLM",
        parameters=134_515_008,
        dtype="float32",
        context_tokens=8192,
        tiny=False,
        evaluation=evaluation,
    )


def test_the_card_shows_base_profile_counts_losses_and_the_record_without_paths():
    record = {
        "seed": 0,
        "profile": "small",
        "dataset_hash": "9f2c4e",
        "versions": {"torch": "2.13.0", "transformers": "5.24.0"},
        "config": {"output_dir": f"{HOME}/data/models/x", "learning_rate": 0.0002},
        "comment": TEXT,
    }
    text = card(info(reproducibility=record, max_length=512))
    assert "`HuggingFaceTB/SmolLM2-135M-Instruct` (Hugging Face hub id)" in text
    assert "- Profile: `small`" in text
    assert "| training examples | 310 |" in text and "| max length (tokens) | 512 |" in text
    assert "| validation loss after the stage | 2.75 |" in text
    assert '"dataset_hash": "9f2c4e"' in text and '"output_dir": "x"' in text
    assert HOME not in text and TEXT not in text
    assert "No evaluation report was found" in text


def test_evaluation_figures_come_from_metrics_json_and_its_text_is_never_copied(tmp_path):
    (tmp_path / "metrics.json").write_text(
        json.dumps(
            {
                "models": ["base", "burst", TEXT],
                "adapters": {"base": None, "burst": "lora_stage_3_burst", TEXT: HOME},
                "metrics": {
                    "base": {"perplexity": {"loss": 3.1, "perplexity": 22.2, "tokens": None}},
                    "burst": {
                        "perplexity": {"loss": 2.8, "perplexity": 16.4, "tokens": 5000},
                        "privacy": {"pii_leakage_score": 0.0, "canary_exposure": 12, "x": TEXT},
                    },
                    TEXT: {"perplexity": {"loss": 1.0}},
                },
                "sample_sizes": {"test_examples": 40},
                "checks": [
                    {"name": "pii_leakage", "value": 0.0, "threshold": 0.01, "passed": True}
                ],
                "sections": [{"key": "privacy", "notes": [TEXT]}],
                "notes": [TEXT],
                "reproducibility": {"output_dir": HOME},
            }
        )
    )
    evaluation = read_evaluation(tmp_path)
    text = card(info(), evaluation)
    assert "| burst (this model) | 2.8 | 16.4 | 5000 |" in text
    assert "| base | 3.1 | 22.2 | — |" in text
    assert "`metrics.burst.privacy.pii_leakage_score`: 0" in text
    assert "`metrics.burst.privacy.canary_exposure`: 12" in text
    assert "`checks.pii_leakage.threshold`: 0.01" in text
    assert "`sample_sizes.test_examples`: 40" in text
    assert TEXT not in text and HOME not in text


def test_an_oversized_or_broken_metrics_file_is_not_read(tmp_path):
    (tmp_path / "metrics.json").write_text("{" + " " * (4 << 20))
    assert read_evaluation(tmp_path) is None
    (tmp_path / "metrics.json").write_text("[1, 2]")
    assert read_evaluation(tmp_path) is None


def test_a_markdown_only_report_gives_its_section_titles(tmp_path):
    (tmp_path / "report.md").write_text(
        f"# Evaluation report\n\n## Held-out perplexity (assistant tokens only)\n\n{TEXT}\n"
        "## Memorization\n"
    )
    text = card(info(), read_evaluation(tmp_path))
    assert "covers: Held-out perplexity (assistant tokens only); Memorization." in text
    assert TEXT not in text
    assert read_evaluation(tmp_path / "absent") is None
