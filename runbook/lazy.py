"""Package re-exports imported on first use (PEP 562), defined once for every package that has them.

A package ``__init__`` that re-exports names from heavy submodules (pandas, the official client,
papermill) would make every import of *any* of its submodules pay for all of them: Python runs the
package's ``__init__`` first. ``runbook --help`` then took seconds. With :func:`lazy_exports` the
``__init__`` lists where each name lives and imports that submodule only when the name is used::

    __getattr__, __dir__ = lazy_exports(__name__, {"Sandbox": "sandbox", "find_running": "process"})

Type checkers read the names from an ``if TYPE_CHECKING:`` import block beside it.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str]) -> tuple[Callable[[str], Any],
                                                                    Callable[[], list[str]]]:
    """The ``__getattr__`` and ``__dir__`` of ``package`` for ``exports``.

    Args:
        package: the package's ``__name__``.
        exports: exported name → the submodule of ``package`` that defines it (``"process"`` for
            ``package.process``).

    Returns:
        ``(__getattr__, __dir__)`` to assign in the package's namespace.
    """

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)  # later lookups do not come here again
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *exports})

    return __getattr__, __dir__


__all__ = ["lazy_exports"]
