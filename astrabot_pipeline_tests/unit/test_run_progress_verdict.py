"""What `make run` prints: its closing lines tell an approved adapter set from one that
passed its privacy checks but does not write like its owner (approval needs both), and a
step's line gives its key figures."""

from __future__ import annotations

from astrabot_pipeline.run_progress import RunProgress, key_figure


def _summary(**report) -> str:
    progress = RunProgress(metadata={"eval_report": report}, succeeded=True)
    return "\n".join(progress.summary(chat_command="astrabot chat", relative=str))


def test_an_approved_set_is_the_one_chat_uses():
    summary = _summary(verdict="passed", approved=True, report="r.html")
    assert "verdict: passed (this adapter set is now the one `astrabot chat` uses)" in summary
    assert "next: astrabot chat   (the model answers as you" in summary


def test_a_set_that_does_not_write_like_its_owner_is_not_called_the_one_chat_uses():
    summary = _summary(verdict="passed", approved=False, report="r.html")
    assert "now the one" not in summary
    assert "does not write like you yet: not approved" in summary
    assert "next: to talk to it anyway: astrabot chat --adapter DIR" in summary


def test_a_failed_privacy_verdict_offers_no_chat():
    summary = _summary(verdict="failed", approved=False, report="r.html")
    assert "verdict: FAILED" in summary
    assert "next:" not in summary


def test_the_dataset_line_says_how_many_windows_the_audit_holds_out():
    figures = {"examples": 11680, "windows": 1571, "audit_windows": 157, "canaries_planted": 6}
    assert key_figure("mixed_dataset", figures) == (
        "11,680 examples from 1,571 windows, 157 held out for the audit, 6 canaries planted"
    )
    assert key_figure("mixed_dataset", {"examples": 40, "windows": 5, "audit_windows": 0}) == (
        "40 examples from 5 windows"
    )
