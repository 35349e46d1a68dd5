"""The NER view Title-cases shouted words and never moves an offset."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from astrabot_pipeline.privacy.ner_view import ner_view


@pytest.mark.parametrize(
    ("text", "view"),
    [
        ("I'm in ÖSTERSKÄR, at the conference", "I'm in Österskär, at the conference"),
        ("grew up in KNIVSTA.", "grew up in Knivsta."),
        ("ok LOL see you in NYC", "ok Lol see you in Nyc"),
        ("WHERE ARE YOU", "WHERE ARE YOU"),  # shouting, not names
        ("at 9 AM in UK", "at 9 AM in UK"),  # two letters stay
        ("no caps here", "no caps here"),
    ],
)
def test_shouted_words_are_title_cased(text, view):
    assert ner_view(text) == view


@given(st.text())
def test_the_view_keeps_every_offset(text):
    view = ner_view(text)
    assert len(view) == len(text)
    assert all(v in (c, c.lower()) for c, v in zip(text, view, strict=True))
