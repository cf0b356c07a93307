"""Column helpers of :mod:`cnlab.schema` against the pandas expressions they replace."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from cnlab import schema

VALUES = ["POPULATION_SAMPLED", "DEFAULT", "", "nan", None]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(VALUES), max_size=30), st.sampled_from(["category", "str", "object"]),
       st.sampled_from(VALUES[:4]))
def test_equals_value_is_astype_str_equality(values, dtype, value):
    """By codes for a categorical, the same rows as ``column.astype(str) == value`` for every dtype
    the column can come in (a missing value never equals the value asked for)."""
    column = pd.Series(values, dtype=dtype)
    expected = (column.astype(str) == value).to_numpy(dtype=bool) & column.notna().to_numpy()
    got = schema.equals_value(column, value)
    assert got.dtype == bool and got.tolist() == expected.tolist()
