"""Reading Kubernetes manifests from files, directories, URLs or text, keeping where each came from.

Shared by the sandbox (scenario directories) and the client (apply, analyze), so that a bad file is
reported the same way everywhere: file, document number and line.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from runbook.errors import ManifestError

_SUFFIXES = (".yaml", ".yml", ".json")
#: manifests larger than this are refused (a runaway URL must not fill memory)
MAX_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class Manifest:
    """One object read from a manifest source.

    Attributes:
        obj: the object as parsed.
        source: file path or URL (``<text>`` for inline text).
        document: 1-based index of the YAML document in its source.
        line: 1-based line where the document starts.
    """

    obj: dict[str, Any]
    source: str
    document: int
    line: int

    @property
    def where(self) -> str:
        return f"{self.source} (document {self.document}, line {self.line})"

    @property
    def label(self) -> str:
        """``Kind/namespace/name`` or ``Kind/name`` for messages and tables."""
        meta = self.obj.get("metadata") or {}
        ns = meta.get("namespace")
        name = meta.get("name") or meta.get("generateName", "") + "*"
        return f"{self.obj.get('kind', '?')}/{ns}/{name}" if ns else f"{self.obj.get('kind', '?')}/{name}"


def load_manifests(sources: str | Path | Iterable[str | Path]) -> list[Manifest]:
    """Read every object from files, directories (sorted, ``*.yaml|*.yml|*.json``) or http(s) URLs.

    ``List`` objects (``kind: List`` / ``…List`` with ``items``) are expanded. Empty documents are
    skipped.

    Raises:
        ManifestError: a missing path, unreadable file, invalid YAML (file and line named), or a
            document that is not a Kubernetes object (apiVersion/kind missing).
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    out: list[Manifest] = []
    for src in sources:
        for name, text in _read_source(str(src)):
            out.extend(parse_manifests(text, name))
    return out


def parse_manifests(text: str, source: str = "<text>") -> list[Manifest]:
    """Parse YAML/JSON text holding one or more documents."""
    out: list[Manifest] = []
    try:
        loader = yaml.SafeLoader(text)
        try:
            doc_no = 0
            while loader.check_node():
                node = loader.get_node()
                doc_no += 1
                if node is None:
                    continue
                line = node.start_mark.line + 1
                obj = loader.construct_document(node)
                out.extend(_objects(obj, source, doc_no, line))
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown line"
        if mark is not None:
            where += f" (document {_document_at(text, mark.line)})"
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ManifestError(f"{source}: invalid YAML at {where}: {problem}",
                            hint="fix the file and run again; nothing was applied") from None
    return out


def _document_at(text: str, line: int) -> int:
    """1-based number of the YAML document that holds 0-based ``line`` (``---`` separators)."""
    lines = text.splitlines()
    separators = [i for i, ln in enumerate(lines[: line + 1]) if ln.startswith("---")]
    # a separator with only blank or comment lines before it opens the first document
    leading = bool(separators) and all(not ln.strip() or ln.lstrip().startswith("#")
                                       for ln in lines[: separators[0]])
    return len(separators) - int(leading) + 1


def _objects(obj: Any, source: str, doc: int, line: int) -> Iterator[Manifest]:
    if obj is None:
        return
    if not isinstance(obj, dict):
        raise ManifestError(
            f"{source} (document {doc}, line {line}): expected a Kubernetes object (a mapping), "
            f"got {type(obj).__name__}", hint="each YAML document must be one object")
    kind = obj.get("kind")
    if isinstance(kind, str) and kind.endswith("List") and isinstance(obj.get("items"), list):
        for item in obj["items"]:
            yield from _objects(item, source, doc, line)
        return
    missing = [f for f in ("apiVersion", "kind") if not obj.get(f)]
    if missing:
        raise ManifestError(
            f"{source} (document {doc}, line {line}): {' and '.join(missing)} not set",
            hint="every object needs apiVersion and kind")
    yield Manifest(obj, source, doc, line)


def _read_source(src: str) -> Iterator[tuple[str, str]]:
    if urllib.parse.urlparse(src).scheme in ("http", "https"):
        yield src, _fetch(src)
        return
    path = Path(src).expanduser()
    if path.is_dir():
        files = sorted(p for p in path.rglob("*") if p.suffix in _SUFFIXES and p.is_file())
        if not files:
            raise ManifestError(f"{path}: no *.yaml, *.yml or *.json files in this directory")
        for f in files:
            yield str(f), _read_file(f)
    elif path.is_file():
        yield str(path), _read_file(path)
    else:
        raise ManifestError(f"{src}: no such file or directory", hint="check the path")


def _read_file(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ManifestError(f"{path}: larger than {MAX_BYTES // 2**20} MiB")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None


def _fetch(url: str) -> str:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:  # http(s) only, checked by the caller
            body: bytes = resp.read(MAX_BYTES + 1)
    except OSError as exc:
        raise ManifestError(f"{url}: cannot fetch: {exc}", hint="check the URL") from None
    if len(body) > MAX_BYTES:
        raise ManifestError(f"{url}: larger than {MAX_BYTES // 2**20} MiB")
    return body.decode("utf-8", errors="replace")
