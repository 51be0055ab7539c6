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

import urllib3
import yaml

from runbook.deadline import socket_deadline, use_deadline_pools
from runbook.errors import ManifestError
from runbook.paths import file_type
from runbook.safeload import yaml_documents

_SUFFIXES = (".yaml", ".yml", ".json")
#: manifests larger than this are refused (a runaway URL must not fill memory)
MAX_BYTES = 16 * 1024 * 1024
#: seconds a whole manifest fetch may take (connect, headers, body)
FETCH_TIMEOUT = 30.0
#: redirects a manifest fetch follows
MAX_REDIRECTS = 5


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


def load_manifests(sources: str | Path | Iterable[str | Path], *,
                   fetch_timeout: float | None = FETCH_TIMEOUT) -> list[Manifest]:
    """Read every object from files, directories (sorted, ``*.yaml|*.yml|*.json``) or http(s) URLs.

    ``List`` objects (``kind: List`` / ``…List`` with ``items``) are expanded. Empty documents are
    skipped. Every text is bounded (``runbook.safeload``); a URL is fetched within
    ``fetch_timeout`` seconds overall (None or 0: no limit).

    Raises:
        ManifestError: a missing path, unreadable file, invalid YAML (file and line named), or a
            document that is not a Kubernetes object (apiVersion/kind missing).
        InputLimitExceeded: a text too large, too deeply nested or an alias bomb (line named).
    """
    if isinstance(sources, (str, Path)):
        sources = [sources]
    out: list[Manifest] = []
    for src in sources:
        for name, text in _read_source(str(src), fetch_timeout or None):
            out.extend(parse_manifests(text, name))
    return out


def parse_manifests(text: str, source: str = "<text>") -> list[Manifest]:
    """Parse YAML/JSON text holding one or more documents."""
    out: list[Manifest] = []
    try:
        for doc_no, (line, obj) in enumerate(yaml_documents(text, source, max_bytes=MAX_BYTES),
                                             start=1):
            out.extend(_objects(obj, source, doc_no, line))
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


def _read_source(src: str, fetch_timeout: float | None) -> Iterator[tuple[str, str]]:
    if urllib.parse.urlparse(src).scheme in ("http", "https"):
        yield src, _fetch(src, fetch_timeout)
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
    elif path.exists():
        # a FIFO or device would block the read, or never end: say what it is instead
        raise ManifestError(f"{src}: is {file_type(path)}, not a file or directory",
                            hint="pass a regular file, a directory or an http(s) URL")
    else:
        raise ManifestError(f"{src}: no such file or directory", hint="check the path")


def _read_file(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ManifestError(f"{path}: larger than {MAX_BYTES // 2**20} MiB")
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None


def _fetch(url: str, timeout: float | None) -> str:
    """GET an http(s) URL within ``timeout`` seconds overall, following at most
    :data:`MAX_REDIRECTS` redirects, and only to http(s) URLs.

    Through urllib3 with the proxies of the environment (``HTTPS_PROXY`` …), as urllib did, and
    with a whole-exchange deadline (``runbook.deadline``), which urllib cannot give.
    """
    start = url
    for _ in range(MAX_REDIRECTS + 1):
        status, location, body = _get(url, timeout)
        if status in (301, 302, 303, 307, 308) and location:
            target = urllib.parse.urljoin(url, location)
            scheme = urllib.parse.urlparse(target).scheme
            if scheme not in ("http", "https"):
                raise ManifestError(f"{start}: redirected to a {scheme or 'relative'} URL "
                                    f"({target[:200]}); only http and https are followed",
                                    hint="fetch it yourself and pass the file; nothing was applied")
            url = target
            continue
        if status != 200:
            raise ManifestError(f"{url}: HTTP {status}", hint="check the URL; nothing was applied")
        if len(body) > MAX_BYTES:
            raise ManifestError(f"{url}: larger than {MAX_BYTES // 2**20} MiB")
        return body.decode("utf-8", errors="replace")
    raise ManifestError(f"{start}: more than {MAX_REDIRECTS} redirects",
                        hint="pass the final URL; nothing was applied")


def _get(url: str, timeout: float | None) -> tuple[int, str | None, bytes]:
    """One GET: status, Location header and up to MAX_BYTES + 1 bytes of body."""
    manager = _pool_manager(url)
    per_op = urllib3.Timeout(connect=timeout, read=timeout)
    with socket_deadline(timeout) as watch:
        try:
            resp = manager.request("GET", url, redirect=False, retries=False, timeout=per_op,
                                   preload_content=False,
                                   headers={"User-Agent": "mesh-runbook", "Accept": "*/*"})
            try:
                body: bytes = resp.read(MAX_BYTES + 1)
            finally:
                resp.release_conn()
            if watch.expired:
                raise TimeoutError("deadline")
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            if watch.expired:
                raise ManifestError(f"{url}: no complete answer within {timeout:g} s",
                                    hint="the server is too slow or stalled; download the file "
                                         "and pass it instead") from None
            raise ManifestError(f"{url}: cannot fetch: {_reason(exc)}",
                                hint="check the URL (it must answer HTTP/1.x)") from None
        finally:
            manager.clear()
    return resp.status, resp.headers.get("Location"), body


def _pool_manager(url: str) -> urllib3.PoolManager:
    proxy = urllib.request.getproxies().get(urllib.parse.urlparse(url).scheme)
    host = urllib.parse.urlparse(url).hostname or ""
    manager = (urllib3.ProxyManager(proxy) if proxy and not urllib.request.proxy_bypass(host)
               else urllib3.PoolManager())
    use_deadline_pools(manager)
    return manager


def _reason(exc: BaseException) -> str:
    # urllib3 wraps the cause (http.client's LineTooLong, BadStatusLine …) in its own texts
    cause, nested = exc, getattr(exc, "reason", None)
    while isinstance(nested, BaseException):
        cause, nested = nested, getattr(nested, "reason", None)
    args = [a for a in getattr(cause, "args", ()) if isinstance(a, (str, BaseException))]
    inner = next((a for a in reversed(args) if isinstance(a, BaseException)), None)
    text = f"{type(inner).__name__}: {inner}" if inner is not None else str(cause)
    return " ".join(text.split())[:200]
