"""The real engine's binary: built from ``engines/kube`` with ``go build`` on first use, cached.

The Go module ``engines/kube`` (go.mod, go.sum, main.go) imports kube-apiserver,
kube-controller-manager, kube-scheduler and etcd from the official modules; its one binary runs a
component per subcommand. It is built into ``$XDG_CACHE_HOME/mesh-runbook/engine-<hash>/`` where
the hash covers the module's sources and the Go version, so it is rebuilt only when they change.
A cold build takes many minutes (Kubernetes is large); Go's own module and build caches make
later builds of changed sources fast.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from runbook.errors import InputError

BINARY = "mesh-engine"
#: the Go module of the engine, in a source checkout next to the package
MODULE_DIR = Path(__file__).resolve().parents[3] / "engines" / "kube"
SOURCE_SUFFIXES = (".go", ".mod", ".sum")
STALE_DAYS = 7
#: the Go command to use (empty: behave as if Go were not installed)
GO_ENV = "MESH_RUNBOOK_GO"
GO_INSTALL_HINT = ("install Go 1.26 or later (https://go.dev/doc/install) and put `go` on PATH, "
                   "or use --engine emulated")


class BuildError(InputError):
    """The engine's binary could not be built (``go`` missing, or the build failed)."""


def find_go() -> str | None:
    """The ``go`` command: ``$MESH_RUNBOOK_GO`` when set (empty: none), else ``go`` on PATH, else
    the usual install location (None when absent)."""
    if GO_ENV in os.environ:
        chosen = os.environ[GO_ENV]
        return chosen if chosen and os.access(chosen, os.X_OK) else None
    found = shutil.which("go")
    if found:
        return found
    usual = Path("/usr/local/go/bin/go")
    return str(usual) if usual.is_file() and os.access(usual, os.X_OK) else None


def cache_root() -> Path:
    """``$XDG_CACHE_HOME/mesh-runbook`` (default ``~/.cache/mesh-runbook``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path("~/.cache").expanduser())
    return Path(base) / "mesh-runbook"


def source_hash(module_dir: Path, go_version: str) -> str:
    """A short hash of the module's sources and the Go version that builds them."""
    digest = hashlib.sha256(go_version.encode())
    for path in sorted(p for p in module_dir.rglob("*") if p.suffix in SOURCE_SUFFIXES):
        digest.update(str(path.relative_to(module_dir)).encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def kubernetes_version(module_dir: Path = MODULE_DIR) -> str:
    """The ``k8s.io/kubernetes`` version the module requires (``v1.37.2``)."""
    found = re.search(r"^\s*k8s\.io/kubernetes (v\d+\.\d+\.\d+)\s*$",
                      (module_dir / "go.mod").read_text(), re.MULTILINE)
    return found.group(1) if found else "v0.0.0"


def ldflags(module_dir: Path = MODULE_DIR) -> str:
    """The version stamps Kubernetes' own build sets (``hack/lib/version.sh``): without them the
    components report ``v0.0.0-master``, which ``kubectl version`` and clients show."""
    version = kubernetes_version(module_dir)
    major, minor = version.lstrip("v").split(".")[:2]
    stamps = {"gitVersion": version, "gitMajor": major, "gitMinor": minor,
              "gitTreeState": "clean", "buildDate": "1970-01-01T00:00:00Z"}
    return " ".join(f"-X {package}.{name}={value}"
                    for package in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
                    for name, value in stamps.items())


def go_version(go: str) -> str:
    done = subprocess.run([go, "version"], capture_output=True, text=True, timeout=60, check=False)
    return done.stdout.strip()


def binary_path(go: str, module_dir: Path = MODULE_DIR) -> Path:
    """Where the binary for the current sources lives (it may not be built yet)."""
    toolchain = go_version(go) + ldflags(module_dir)
    return cache_root() / f"engine-{source_hash(module_dir, toolchain)}" / BINARY


def ensure_binary(progress: Callable[[str], None] | None = None,
                  module_dir: Path = MODULE_DIR) -> Path:
    """The engine's binary, built first when the cache has none for the current sources.

    Args:
        progress: told one line before a build starts and one when it is done.

    Raises:
        BuildError: no ``go``, no module sources, or ``go build`` failed (its last error line).
    """
    go = find_go()
    if go is None:
        raise BuildError("the real engine is built with Go, and `go` is not installed",
                         hint=GO_INSTALL_HINT)
    if not (module_dir / "go.mod").is_file():
        raise BuildError(f"the engine's Go module is missing ({module_dir})",
                         hint="run from a source checkout of mesh-runbook, which has engines/kube")
    target = binary_path(go, module_dir)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    # one build at a time (tests, a CLI and CI may ask at once); the others wait for its result
    with open(target.parent / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.is_file():
            _build(go, module_dir, target, progress)
    _remove_stale(target.parent)
    return target


def _remove_stale(current: Path) -> None:
    """Binaries (200 MB each) of sources unused for :data:`STALE_DAYS` go: another checkout may
    still use a recent one, and a running engine keeps its open file anyway."""
    cutoff = time.time() - STALE_DAYS * 86400
    for other in current.parent.glob("engine-*"):
        binary = other / BINARY
        if other != current and binary.exists() and binary.stat().st_atime < cutoff:
            shutil.rmtree(other, ignore_errors=True)


def _build(go: str, module_dir: Path, target: Path,
           progress: Callable[[str], None] | None) -> None:
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    say(f"building the real engine (kube-apiserver, controller-manager, scheduler, etcd) into "
        f"{target.parent} — the first build takes many minutes")
    started = time.monotonic()
    partial = target.with_name(BINARY + ".partial")
    env = dict(os.environ)
    env.setdefault("GOFLAGS", "-buildvcs=false")
    # The machine is shared: two compile jobs keep other work responsive.
    command = [go, "build", "-p", "2", "-trimpath", "-ldflags", ldflags(module_dir),
               "-o", str(partial), "."]
    log = target.with_name("build.log")
    with open(log, "w") as out:
        done = subprocess.run(command, cwd=module_dir, env=env, stdout=out,
                              stderr=subprocess.STDOUT, text=True, check=False)
    if done.returncode != 0:
        partial.unlink(missing_ok=True)
        lines = [ln for ln in log.read_text(errors="replace").splitlines() if ln.strip()]
        raise BuildError(f"`go build` of the real engine failed: {lines[-1] if lines else 'no output'}",
                         hint=f"every error is in {log}")
    os.replace(partial, target)
    say(f"built the real engine in {time.monotonic() - started:.0f} s")


__all__ = ["BINARY", "MODULE_DIR", "BuildError", "binary_path", "cache_root", "ensure_binary",
           "find_go", "source_hash"]
