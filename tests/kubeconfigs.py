"""Kubeconfigs that differ from a sandbox's in one thing: a wrong token, server or CA."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml


def edited_kubeconfig(source: str | Path, dest: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    """Write to ``dest`` the kubeconfig at ``source`` after ``change`` edited it in place."""
    config = yaml.safe_load(Path(source).read_text())
    change(config)
    dest.write_text(yaml.safe_dump(config))
    return dest
