"""`stripped_text`: the one reading of a text cell that every decoder's normalizer shares."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from astrabot_pipeline.signal.tables import stripped_text


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("  Alice  ", "Alice"),
        ("Alice Smith", "Alice Smith"),
        ("+15555550134\n", "+15555550134"),
        (12345, "12345"),  # a number SQLite stored without quotes
        (np.int64(7), "7"),
        (1.5, "1.5"),
    ],
)
def test_values_become_their_stripped_text(value, text):
    assert stripped_text(value) == text


@pytest.mark.parametrize(
    "value",
    [None, "", "   ", "\t\n", float("nan"), np.float64("nan"), pd.NA, json.loads("NaN")],
    ids=["none", "empty", "spaces", "whitespace", "nan", "numpy-nan", "pd-na", "json-nan"],
)
def test_missing_and_blank_values_are_none(value):
    # A JSON NaN (Python's json accepts the literal; a Desktop database field could hold it)
    # is missing, not the name "nan".
    assert stripped_text(value) is None
