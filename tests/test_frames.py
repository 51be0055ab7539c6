"""JSON-ready rows: one converter for every -o json."""

import json

import numpy as np
import pandas as pd

from runbook.frames import frame_records, json_value


def test_rows_become_plain_json() -> None:
    df = pd.DataFrame({"a": [1, 2], "b": [float("nan"), 1.5],
                       "t": [pd.Timestamp("2023-10-27T06:00:55Z"), pd.NaT],
                       "l": [("x", np.int64(3)), []]})
    rows = frame_records(df)
    assert rows == [{"a": 1, "b": None, "t": "2023-10-27T06:00:55Z", "l": ["x", 3]},
                    {"a": 2, "b": 1.5, "t": None, "l": []}]
    json.dumps(rows, allow_nan=False)


def test_nested_values() -> None:
    assert json_value({"p50_ms": np.float64("nan"), "codes": {200: np.int64(4)}}) == {
        "p50_ms": None, "codes": {"200": 4}}
