"""Turning table rows and values into JSON-ready Python, defined once for every ``-o json``.

JSON has no NaN, no timestamps and no numpy scalars; pandas tables have all three.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


def json_value(value: Any) -> Any:
    """NaN/NaT/None → None, timestamps → ISO 8601 (``Z`` for UTC), numpy scalars → Python,
    tuples → lists and mappings → dicts, recursively."""
    # a value can be a pandas one only once pandas is loaded: findings alone never load it
    pandas = sys.modules.get("pandas")
    if value is None or (pandas is not None and value is pandas.NaT):
        return None
    if pandas is not None and isinstance(value, pandas.Timestamp):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, Mapping):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_value(v) for v in value]
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return json_value(value.item())
    return value


def frame_records(df: pd.DataFrame) -> list[dict[str, Any]]:
    """The rows of ``df`` as JSON-ready dicts (see :func:`json_value`)."""
    columns = [str(c) for c in df.columns]
    return [{name: json_value(v) for name, v in zip(columns, row, strict=True)}
            for row in df.itertuples(index=False, name=None)]
