"""The reply line rules (a cap on lines, no line identical to the one before) and the
owner's burst length they cap at, measured on the training split. No model involved."""

from __future__ import annotations

import pandas as pd
import pytest

from astrabot_pipeline.dataset import reply_line_cap
from astrabot_pipeline.errors import SettingError
from astrabot_pipeline.generation import GenerationSettings, cut_lines


def test_a_repeated_line_ends_the_reply_before_it():
    cut = cut_lines("ok\nsure\nsure\nsee you", None, distinct=True, final=False)
    assert (cut.text, cut.ended) == ("ok\nsure", True)
    # Blank lines between do not hide the repeat; only consecutive lines count.
    assert cut_lines("ok\n\nok", None, distinct=True, final=True).text == "ok"
    assert cut_lines("ok\nsure\nok", None, distinct=True, final=True).text == "ok\nsure\nok"


def test_the_cap_keeps_that_many_non_blank_lines():
    cut = cut_lines("a\n\nb\nc\nd", 2, distinct=True, final=False)
    assert (cut.text, cut.ended) == ("a\n\nb", True)
    # The last line is judged only once complete (it may still grow).
    assert not cut_lines("a\nb", 2, distinct=True, final=False).ended
    assert cut_lines("a\nb", 2, distinct=True, final=True).ended


def test_a_line_that_may_still_become_a_repeat_is_held_back_from_streaming():
    held = cut_lines("okay\nok", None, distinct=True, final=False)
    assert held.text[: held.settled] == "okay" and not held.ended
    free = cut_lines("okay\nsee", None, distinct=True, final=False)
    assert free.settled == len("okay\nsee")


def test_the_line_cap_is_the_90th_percentile_of_training_reply_lines():
    def example(split: str, lines: int) -> dict:
        reply = "\n".join(f"line {i}" for i in range(lines))
        messages = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": reply}]
        return {"split": split, "messages": messages}

    rows = [example("train", 1)] * 16 + [example("train", 3)] * 3 + [example("train", 9)]
    rows += [example("test", 40)] * 10  # held-out replies never count
    assert reply_line_cap(pd.DataFrame(rows)) == 3
    assert reply_line_cap(pd.DataFrame([example("test", 2)])) is None


def test_settings_refuse_what_cannot_work():
    for wrong in (
        {"max_lines": 0},
        {"repetition_penalty": 0.9},
        {"no_repeat_ngram_size": -1},
        {"top_p": 0},
        {"temperature": -1},
    ):
        with pytest.raises(SettingError):
            GenerationSettings(**wrong)
    plain = GenerationSettings.unshaped(8)
    assert plain.greedy and not plain.shapes_lines and plain.repetition_penalty == 1
