"""The closing lines of `make run` tell an approved adapter set from one that passed its
privacy checks but does not write like its owner (approval needs both)."""

from __future__ import annotations

from astrabot_pipeline.run_progress import RunProgress


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
