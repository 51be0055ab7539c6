"""Go's ``%v`` formatting of decoded JSON values, as kube-apiserver's patch errors print them."""

from __future__ import annotations

from typing import Any


def go_value(value: Any) -> str:
    """``fmt.Sprintf("%v", v)`` for a decoded JSON value, as Go error messages print them."""
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_value(value[k])}" for k in sorted(value)) + "]"
    if isinstance(value, list):
        return "[" + " ".join(go_value(v) for v in value) + "]"
    if isinstance(value, float):
        return _go_float(value)
    return str(value)


def _go_float(value: float) -> str:
    # %v of a float64 is %g with the shortest representation; Go switches to exponent form at 1e21.
    if value == int(value) and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, _, exp = text.partition("e")
        sign = "-" if exp.startswith("-") else "+"
        return f"{mantissa}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def go_json_kind(value: Any) -> str:
    """How encoding/json names a JSON value in ``cannot unmarshal X into …``."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
