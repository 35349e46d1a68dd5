"""The report writer: typed sections of numbers -> report.html, report.md, metrics.json."""

from __future__ import annotations

import base64
import json
import re
import stat
from datetime import UTC, datetime, timedelta

import pytest

from astrabot_pipeline.evaluation import (
    METRICS_JSON_FILE,
    REPORT_HTML_FILE,
    REPORT_MARKDOWN_FILE,
    ChartSpec,
    Check,
    Column,
    EvaluationReport,
    ReferenceLine,
    ReportContentError,
    ReportReferenceError,
    ReportSection,
    render_report,
    write_report,
)
from astrabot_pipeline.evaluation.report.build import loss_curve
from astrabot_pipeline.evaluation.report.model import (
    CHECK_FORMAT,
    TOPICS,
    format_value,
    mentioned_topics,
)
from astrabot_pipeline.evaluation.report.notes import (
    NOTES,
    RANKING_CHANCE_MRR,
    notes_for,
    with_standard_notes,
)
from astrabot_pipeline.training import StageResult

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
MODELS = ["base", "stage_1", "stage_2"]


def quality_section(**changes) -> ReportSection:
    fields = {
        "title": "Next-reply ranking",
        "key": "ranking",
        "columns": [
            Column("ranking_accuracy", "Accuracy", ".3f", "higher"),
            Column("mrr", "Mean reciprocal rank", ".3f", "higher"),
            Column("candidates", "Candidates", "d"),
        ],
        "rows": {
            "base": {"ranking_accuracy": 0.125, "mrr": 0.3125, "candidates": 10},
            "stage_1": {"ranking_accuracy": 0.25, "mrr": 0.4375, "candidates": 10},
            "stage_2": {"ranking_accuracy": 0.5, "mrr": 0.625, "candidates": 10},
        },
        "notes": ["Ranking accuracy by chance is 0.10 (one true reply among ten)."],
        "chart": ChartSpec(
            columns=("ranking_accuracy", "mrr"),
            references=(ReferenceLine("ranking_accuracy", 0.1, "chance (0.10)"),),
            caption="Ranking accuracy and MRR per model, against chance",
        ),
        "settings": {"distractors": 9, "signature": "nrefs:1|case:mixed|version:2.4.0"},
    }
    return ReportSection(**(fields | changes))


def privacy_section() -> ReportSection:
    return ReportSection(
        title="PII leakage and memorization",
        key="privacy",
        columns=[
            Column("pii_leakage_score", "PII leakage score", ".4f", "lower"),
            Column("memorization_score", "Memorization score", ".4f", "lower"),
            Column("generations", "Generations scanned", "d"),
        ],
        rows={
            "base": {"pii_leakage_score": 0.0, "memorization_score": 0.0, "generations": 64},
            "stage_2": {
                "pii_leakage_score": 0.0156,
                "memorization_score": 0.03125,
                "generations": 64,
            },
        },
        notes=["Leakage counts only identifiers the privacy stage knew."],
    )


def make_report(**changes) -> EvaluationReport:
    fields = {
        "title": "Evaluation report",
        "base_model": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "profile": "small",
        "device": "cpu: x86_64 (2 threads, fp32)",
        "sample_sizes": {"test_examples": 40, "ranking_prompts": 32},
        "sections": [quality_section(), privacy_section()],
        "checks": [
            Check(
                "pii_leakage_below_threshold",
                passed=False,
                value=0.0156,
                threshold=0.01,
                severity="error",
                description="pii_leakage_score of the final adapter is below the threshold.",
                metric="pii_leakage_score",
            )
        ],
        "loss_curves": {
            "stage_1": [
                {"step": 0, "train_loss": None, "validation_loss": 3.5},
                {"step": 5, "train_loss": 3.25, "validation_loss": 3.125},
            ],
            "stage_2": [
                {"step": 0, "train_loss": None, "validation_loss": 3.125},
                {"step": 5, "train_loss": 2.75, "validation_loss": 2.875},
            ],
        },
        "notes": ["Numbers come from a small test slice."],
        "reproducibility": {
            "seeds": {"stage_1": 7, "stage_2": 8},
            "dataset_hash": "9f2c4e01",
            "library_versions": {"torch": "2.5.1", "sacrebleu": "2.4.3"},
            "config": {"temperature": 0.75, "samples_per_prompt": 4},
        },
        "started_at": STARTED,
        "finished_at": STARTED + timedelta(seconds=83.25),
        "adapters": {"base": None, "stage_1": "0123abcd", "stage_2": "4567ef01"},
    }
    return EvaluationReport(**(fields | changes))


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    paths = write_report(make_report(), out)
    return {
        "paths": paths,
        "html": paths.html.read_text(),
        "markdown": paths.markdown.read_text(),
        "metrics": json.loads(paths.metrics.read_text()),
    }


def test_three_private_files_are_written_in_the_reports_folder(written):
    paths = written["paths"]
    assert [paths.html.name, paths.markdown.name, paths.metrics.name] == [
        REPORT_HTML_FILE,
        REPORT_MARKDOWN_FILE,
        METRICS_JSON_FILE,
    ]
    for path in (paths.html, paths.markdown, paths.metrics):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in paths.html.parent.iterdir()) == sorted(
        [REPORT_HTML_FILE, REPORT_MARKDOWN_FILE, METRICS_JSON_FILE]
    )


def without_images(page: str) -> str:
    """The page without its base64 image data (which may spell anything by chance)."""
    return re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]*", "data:", page)


def test_html_is_self_contained_with_inline_charts(written):
    page = written["html"]
    text = without_images(page).lower()
    assert "http" not in text and "<script" not in text and 'src="http' not in text
    assert "<link" not in text and "url(" not in text and "href" not in text
    sources = re.findall(r'src="([^"]*)"', page)
    # One chart for the ranking section (the privacy section has none), one of the loss curves.
    assert len(sources) == 2
    for source in sources:
        assert source.startswith("data:image/png;base64,")
        assert base64.b64decode(source.split(",", 1)[1])[:8] == PNG_SIGNATURE
    assert "<style>" in page and "FAILED" in page


def test_every_number_of_metrics_json_appears_in_the_markdown(written):
    metrics, markdown = written["metrics"], written["markdown"]
    cells = {cell.strip() for line in markdown.splitlines() for cell in line.split("|")}
    fmts = {
        (section["key"], column["key"]): column["fmt"]
        for section in metrics["sections"]
        for column in section["columns"]
    }
    expected = []
    for sections in metrics["metrics"].values():
        for section, values in sections.items():
            for column, value in values.items():
                expected.append(format_value(value, fmts[section, column]))
    for check in metrics["checks"]:
        expected += [
            format_value(check[k], metrics["check_format"]) for k in ("value", "threshold")
        ]
    expected += [str(n) for n in metrics["sample_sizes"].values()]
    assert expected and all(number in cells for number in expected), expected
    assert f"({metrics['duration_seconds']:.1f} s)" in markdown
    # The reproducibility record closes the report, every setting as written in metrics.json.
    record = markdown.split("## Reproducibility", 1)[1]
    assert (
        json.loads(record.split("```json", 1)[1].split("```", 1)[0]) == metrics["reproducibility"]
    )
    assert markdown.rstrip().endswith("```") and "<h2>Reproducibility</h2>" in written["html"]
    # Every model's row is in the tables, per section, with its formatted figures.
    assert "| stage_2 | 0.500 | 0.625 | 10 |" in markdown
    assert "| stage_2 | 0.0156 | 0.0312 | 64 |" in markdown
    assert metrics["models"] == MODELS
    assert metrics["metrics"]["stage_1"] == {
        "ranking": {"ranking_accuracy": 0.25, "mrr": 0.4375, "candidates": 10}
    }


def test_loss_curves_are_summarised_in_markdown_and_kept_whole_in_metrics(written):
    assert "| stage_2 | 5 | 3.1250 | 2.8750 | 2.8750 | 2.7500 |" in written["markdown"]
    curves = written["metrics"]["loss_curves"]
    assert [curve["stage"] for curve in curves] == ["stage_1", "stage_2"]
    assert curves[0]["rows"][1] == {
        "step": 5,
        "train_loss": 3.25,
        "validation_loss": 3.125,
    }


def test_check_format_is_the_one_used_for_checks():
    assert format_value(0.0156, CHECK_FORMAT) == "0.0156"


def test_names_and_notes_are_escaped_in_html_and_markdown():
    hostile = "<b>x</b>|&"
    section = quality_section(
        rows={hostile: {"ranking_accuracy": 0.5, "mrr": 0.5, "candidates": 10}},
        notes=["Ranking note with <i>markup</i> & a | pipe."],
    )
    rendered = render_report(make_report(sections=[section, privacy_section()]))
    assert "<b>" not in rendered.html and "&lt;b&gt;x&lt;/b&gt;|&amp;" in rendered.html
    assert "<i>" not in rendered.html and "&lt;i&gt;markup&lt;/i&gt;" in rendered.html
    assert "| &lt;b&gt;x&lt;/b&gt;\\|&amp; | 0.500 |" in rendered.markdown
    assert "<b>" not in rendered.markdown
    assert hostile in rendered.metrics["models"]


@pytest.mark.parametrize(
    "row",
    [
        {"ranking_accuracy": "0.5"},
        {"ranking_accuracy": "a reply someone wrote"},
        {"ranking_accuracy": [0.5]},
        {"ranking_accuracy": float("nan")},
        {"not_a_column": 1.0},
        {"candidates": 10.5},  # "d" format: counts are integers
    ],
)
def test_a_value_that_is_not_a_number_is_refused_without_being_quoted(row):
    with pytest.raises(ReportContentError) as caught:
        quality_section(rows={"base": row})
    assert "a reply someone wrote" not in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_text_in_a_settings_or_reproducibility_field_is_refused(tmp_path):
    with pytest.raises(ReportContentError, match="setting"):
        quality_section(settings={"prompt": "hey, what did you do with Anna's keys?"})
    with pytest.raises(ReportContentError, match="path"):
        make_report(reproducibility={"output_dir": "/home/anna/data/models"})
    with pytest.raises(ReportContentError, match="one-line"):
        make_report(notes=["line one\nline two"])
    # A report mutated after construction is validated again before anything is written.
    report = make_report()
    report.sections[0].rows["base"]["mrr"] = "text"
    with pytest.raises(ReportContentError):
        write_report(report, tmp_path / "reports")
    assert not (tmp_path / "reports").exists()


def test_a_note_about_a_result_the_report_lacks_is_refused():
    with pytest.raises(ReportReferenceError, match="memorization"):
        make_report(
            sections=[quality_section()],
            checks=[],
            notes=["Read these numbers with the memorization results."],
        )
    with pytest.raises(ReportReferenceError, match="BLEU"):
        make_report(sections=[quality_section(notes=["BLEU correlates weakly (Liu et al. 2016)."])])
    with pytest.raises(ReportReferenceError, match="pii_leakage_score"):
        make_report(sections=[quality_section()])  # its check judges a missing figure
    with pytest.raises(ReportReferenceError, match="lacks"):
        quality_section(chart=ChartSpec(columns=("bleu",)))
    # The same note is fine once the report holds the result.
    make_report(notes=["Read these numbers with the memorization results."])


def section_with(*keys: str) -> ReportSection:
    return ReportSection(
        title="Figures",
        key="figures",
        columns=[Column(key, key) for key in keys],
        rows={"base": dict.fromkeys(keys, 0.5)},
    )


def test_every_standard_note_speaks_only_of_the_figures_it_requires():
    for note in NOTES:
        spoken = {topic.name for topic in mentioned_topics(note.text)}
        unbacked = [t.name for t in TOPICS if t.name in spoken and not t.keys & note.requires]
        assert spoken and unbacked == [], note.text[:40]


def test_a_section_gets_the_notes_about_the_figures_it_holds_only():
    section = quality_section(notes=[])
    notes = notes_for(section)
    assert len(notes) == 1 and "chance, accuracy is 0.10 and mean reciprocal rank 0.29" in notes[0]
    assert abs(RANKING_CHANCE_MRR - 0.2929) < 1e-4
    perplexity = ReportSection(
        title="Perplexity",
        key="perplexity",
        columns=[Column("perplexity", "Perplexity"), Column("bits_per_char", "Bits per char")],
        rows={"base": {"perplexity": 12.5, "bits_per_char": None}},
    )
    assert not any("Bits per character" in n for n in notes_for(perplexity))
    perplexity.rows["base"]["bits_per_char"] = 1.25
    assert any("Bits per character" in n for n in notes_for(perplexity))
    # With every standard note attached, a report of these sections validates.
    privacy = with_standard_notes(privacy_section())
    assert any("Liu et al. 2016" in n for n in notes_for(section_with("bleu")))
    make_report(sections=[with_standard_notes(quality_section()), privacy])


def test_a_stage_loss_curve_ends_with_the_validation_loss_measured_after_training():
    history = [
        {"step": 0, "train_loss": None, "validation_loss": 9.0},
        {"step": 10, "train_loss": 8.5, "validation_loss": None},
    ]
    stage = StageResult(
        stage="s1",
        adapter_dir="/x/s1/key",
        base_model="base",
        train_loss=8.5,
        validation_loss_before=9.0,
        validation_loss_after=8.25,
        steps=10,
        seconds=1.0,
        train_examples=4,
        validation_examples=2,
        loss_history=history,
    )
    assert loss_curve(stage)[-1] == {"step": 10, "train_loss": 8.5, "validation_loss": 8.25}
    assert history[-1]["validation_loss"] is None  # the stage's own record is left alone
    stage.loss_history = history[:1]
    assert loss_curve(stage)[-1] == {"step": 10, "train_loss": None, "validation_loss": 8.25}
