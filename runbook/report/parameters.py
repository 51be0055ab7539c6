"""A notebook's parameters: what its ``parameters`` cell declares, and typed values for a run.

papermill injects whatever it is given and only logs a warning for a name the notebook does not
declare, so a typo (``-p namspace bookinfo``) would silently run against the default. Here every
name is checked against the ``parameters`` cell (read with ``papermill.inspect_notebook``) first,
and values from the command line — always strings — are converted to the type of the declared
default (or annotation) with a one-line error when they do not fit.
"""

from __future__ import annotations

import ast
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import papermill

from runbook.errors import InputError

_TRUE = {"true", "yes", "y", "on", "1"}
_FALSE = {"false", "no", "n", "off", "0"}
_SIMPLE_TYPES: dict[str, type] = {"bool": bool, "int": int, "float": float, "str": str,
                                  "list": list, "dict": dict, "tuple": tuple}


@dataclass(frozen=True)
class NotebookParameter:
    """One name of a notebook's ``parameters`` cell.

    Attributes:
        name: the variable name.
        default: the default's Python value (the source text when it is not a literal).
        type_name: the declared annotation (``int``, ``Optional[str]``), or ``""``.
        help: the trailing comment, if any.
    """

    name: str
    default: Any
    type_name: str = ""
    help: str = ""

    @property
    def target_type(self) -> type | None:
        """The type a value must have: the annotation's, else the default's (None: unknown)."""
        if self.type_name:
            inner = re.fullmatch(r"Optional\[(\w+)\]", self.type_name)
            name = (inner.group(1) if inner else self.type_name).split("[")[0].lower()
            if name in _SIMPLE_TYPES:
                return _SIMPLE_TYPES[name]
        if self.default is None:
            return None
        return type(self.default)

    @property
    def optional(self) -> bool:
        """Whether None is a meaningful value (default None or an ``Optional[…]`` annotation)."""
        return self.default is None or self.type_name.startswith("Optional[")


def read_parameters(notebook: str | Path) -> dict[str, NotebookParameter]:
    """The parameters a notebook declares in its cell tagged ``parameters`` (in order).

    Raises:
        InputError: the notebook cannot be read.
    """
    try:
        inspected = papermill.inspect_notebook(str(notebook))
    except Exception as exc:  # papermill raises plain exceptions for unreadable notebooks
        raise InputError(f"cannot read notebook {notebook}: {exc}") from None
    out: dict[str, NotebookParameter] = {}
    for name, info in inspected.items():
        text = str(info.get("default", ""))
        try:
            default = ast.literal_eval(text)
        except (ValueError, SyntaxError):
            default = text  # an expression: keep its source, values are taken as strings
        type_name = info.get("inferred_type_name") or ""
        out[name] = NotebookParameter(name=name, default=default,
                                      type_name="" if type_name == "None" else str(type_name),
                                      help=str(info.get("help") or ""))
    return out


def coerce_value(param: NotebookParameter, value: Any) -> Any:
    """Convert a command-line string to the parameter's type (other values are kept as given).

    Rules: ``bool`` accepts true/false, yes/no, on/off, 1/0; ``int``/``float`` parse as Python
    does; lists/dicts/tuples are Python or JSON literals; the literal ``None`` means None for a
    parameter whose default is None or whose type is Optional/str; anything else is a string.

    Raises:
        InputError: the text does not fit the type; the message names parameter, value and type.
    """
    if not isinstance(value, str):
        return value
    target = param.target_type
    if value == "None" and (param.optional or target in (None, str)):
        return None
    if target is None or target is str:
        return value
    if target is bool:
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _bad(param, value, "true or false")
    if target in (int, float):
        try:
            return target(value.strip())
        except ValueError:
            raise _bad(param, value, target.__name__) from None
    if target in (list, dict, tuple):
        parsed = _literal(value.strip())
        if target is tuple and isinstance(parsed, list):
            parsed = tuple(parsed)
        if not isinstance(parsed, target):
            raise _bad(param, value, f"a {target.__name__} literal")
        return parsed
    return value


def _literal(text: str) -> Any:
    # JSON first (true/false/null), then Python literals; None when it is neither
    try:
        return json.loads(text)
    except ValueError:
        pass
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return None


def _bad(param: NotebookParameter, value: str, expected: str) -> InputError:
    return InputError(f"parameter {param.name}={value!r}: expected {expected} "
                      f"(default {param.default!r})",
                      hint=f"give {param.name} a value of that type, or leave it out for the "
                           "default; nothing was run")


def check_parameters(notebook: str | Path, given: Mapping[str, Any]) -> dict[str, Any]:
    """Check names against the notebook's ``parameters`` cell and convert values to their types.

    Returns:
        The converted values of ``given`` (only those; defaults stay in the notebook).

    Raises:
        InputError: an unknown name (the message lists the valid ones), a notebook without a
            ``parameters`` cell, or a value that does not fit its type.
    """
    declared = read_parameters(notebook)
    name = Path(notebook).name
    if given and not declared:
        raise InputError(f"{name} has no cell tagged 'parameters'; it takes no parameters "
                         f"(given: {', '.join(sorted(given))})")
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise InputError(
            f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} for {name}",
            hint=f"valid: {', '.join(declared)}")
    return {key: coerce_value(declared[key], value) for key, value in given.items()}


__all__ = ["NotebookParameter", "check_parameters", "coerce_value", "read_parameters"]
