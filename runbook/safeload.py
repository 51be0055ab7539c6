"""Bounded YAML and JSON loading, for every document that someone else may have written.

Manifests, kubeconfigs, mesh ConfigMaps and request bodies come from people who do not have to be
kind: a 700-byte YAML alias bomb expands to gigabytes once serialised, and a few thousand nested
brackets end in ``RecursionError``. Every YAML or JSON text from outside goes through this module,
which refuses such input before building anything from it, with the limits kube-apiserver applies
(a 3 MiB request body; go-yaml's cap on alias expansion and nesting, CVE-2019-11253):

* size: ``max_bytes`` (3 MiB unless the caller says otherwise);
* nesting: :data:`MAX_DEPTH` levels of mappings and lists (the deepest upstream Istio CRD schema
  has 34), also through aliases;
* aliases: an alias may repeat an anchored node, but everything the aliases of one text add up to
  is capped at :data:`MAX_ALIAS_NODES` nodes, and an anchor that contains itself is refused.

PyYAML's own SafeLoader does the parsing; only its composer is watched (the composed graph shares
aliased nodes, so it stays as small as the text while the expansion is counted).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import yaml

from runbook.errors import InputLimitExceeded

#: kube-apiserver's default --max-request-body-bytes (3 MiB)
MAX_BYTES = 3 * 1024 * 1024
#: levels of nested mappings and lists
MAX_DEPTH = 100
#: nodes that aliases may add to one text in total, on top of the nodes written out
MAX_ALIAS_NODES = 10_000


class _BoundedLoader(yaml.SafeLoader):
    """SafeLoader whose composer counts nesting and what aliases expand to."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self._source = source
        self._depth = 0
        self._nodes = 0  # nodes composed, aliases counted at their full size
        self._alias_nodes = 0
        self._size: dict[int, int] = {}  # id(node) → nodes in it, aliases expanded
        self._height: dict[int, int] = {}  # id(node) → levels of collections in it

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:
                self._count_alias(target, event.start_mark)
            return super().compose_node(parent, index)
        opens = self.check_event(yaml.SequenceStartEvent, yaml.MappingStartEvent)
        self._depth += opens
        if self._depth > MAX_DEPTH:
            self._refuse(f"nested deeper than {MAX_DEPTH} levels", self.peek_event().start_mark)
        before = self._nodes
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= opens
        self._nodes += 1
        if node is None:
            return None
        self._size[id(node)] = self._nodes - before
        children = node.value if isinstance(node, yaml.CollectionNode) else ()
        child_height = max((self._height.get(id(c[1] if isinstance(c, tuple) else c), 0)
                            for c in children), default=0)
        self._height[id(node)] = child_height + int(isinstance(node, yaml.CollectionNode))
        return node

    def _count_alias(self, target: yaml.Node, mark: yaml.Mark) -> None:
        if id(target) not in self._size:
            self._refuse("an alias refers to the node that contains it", mark)
        if self._depth + self._height[id(target)] > MAX_DEPTH:
            self._refuse(f"nested deeper than {MAX_DEPTH} levels through an alias", mark)
        size = self._size[id(target)]
        self._nodes += size - 1  # compose_node counts the alias itself as one node
        self._alias_nodes += size
        if self._alias_nodes > MAX_ALIAS_NODES:
            self._refuse(f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes "
                         "(a YAML alias bomb?)", mark)

    def _refuse(self, problem: str, mark: yaml.Mark) -> None:
        raise InputLimitExceeded(f"{self._source}: refused at line {mark.line + 1}: {problem}",
                                 hint=_HINT)


_HINT = "write the document out without deep nesting or repeated aliases; nothing was done"


def _check_size(data: str | bytes, source: str, max_bytes: int) -> None:
    size = len(data.encode("utf-8", errors="replace")) if isinstance(data, str) else len(data)
    if size > max_bytes:
        raise InputLimitExceeded(f"{source}: {size:,} bytes, more than the {max_bytes:,} allowed",
                                 hint="split it into smaller documents; nothing was done")


def yaml_documents(text: str | bytes, source: str = "<text>", *,
                   max_bytes: int = MAX_BYTES) -> Iterator[tuple[int, Any]]:
    """Each YAML document of ``text`` as (1-based start line, value).

    Raises:
        InputLimitExceeded: too large, too deep or too many aliases (line named).
        yaml.YAMLError: invalid YAML (the caller names the file).
    """
    _check_size(text, source, max_bytes)
    if isinstance(text, bytes):
        text = text.decode("utf-8")
    loader = _BoundedLoader(text, source)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            yield node.start_mark.line + 1, loader.construct_document(node)
    finally:
        loader.dispose()


def load_yaml(text: str | bytes, source: str = "<text>", *, max_bytes: int = MAX_BYTES) -> Any:
    """The single YAML (or JSON) document of ``text``, bounded; None when empty.

    Raises:
        InputLimitExceeded: too large, too deep or too many aliases.
        yaml.YAMLError: invalid YAML, or more than one document.
    """
    docs = [value for _, value in yaml_documents(text, source, max_bytes=max_bytes)]
    if len(docs) > 1:
        raise yaml.YAMLError(f"{source}: expected one document, found {len(docs)}")
    return docs[0] if docs else None


def load_json(data: str | bytes, source: str = "<body>", *, max_bytes: int = MAX_BYTES) -> Any:
    """A JSON value, bounded in size and nesting.

    Raises:
        InputLimitExceeded: too large or too deep.
        orjson.JSONDecodeError: invalid JSON (a ``ValueError``).
    """
    _check_size(data, source, max_bytes)
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        # orjson stops at 1,024 levels on its own; that is the same refusal as ours, not bad JSON
        if "depth limit" in str(exc):
            raise InputLimitExceeded(f"{source}: nested deeper than {MAX_DEPTH} levels",
                                     hint=_HINT) from None
        raise
    check_depth(value, source)
    return value


def check_depth(value: Any, source: str = "<value>", max_depth: int = MAX_DEPTH) -> None:
    """Refuse a parsed value nested deeper than ``max_depth`` (iteratively: no recursion limit)."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > max_depth:
            raise InputLimitExceeded(f"{source}: nested deeper than {max_depth} levels",
                                     hint=_HINT)
        stack.extend((child, depth + 1) for child in children
                     if isinstance(child, (dict, list)))


__all__ = ["MAX_ALIAS_NODES", "MAX_BYTES", "MAX_DEPTH", "check_depth", "load_json", "load_yaml",
           "yaml_documents"]
