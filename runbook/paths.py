"""Where mesh-runbook keeps its own files (sandbox state, audit log)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from pathlib import Path

from runbook.errors import InputError


def runbook_home() -> Path:
    """``$MESH_RUNBOOK_HOME`` or ``~/.mesh-runbook`` (tests point it at a temporary directory)."""
    env = os.environ.get("MESH_RUNBOOK_HOME")
    return Path(env) if env else Path("~/.mesh-runbook").expanduser()


#: set to "1" in the kernel environment of headless runs (``runbook run``/``runbook demo``), so that
#: notebooks can tell a person from a batch run (e.g. an exercise check says "not attempted")
HEADLESS_ENV = "MESH_RUNBOOK_HEADLESS"


def is_headless() -> bool:
    """Whether this process is a kernel of a headless notebook run (``$MESH_RUNBOOK_HEADLESS``)."""
    return os.environ.get(HEADLESS_ENV, "") not in ("", "0")


def output_folder(path: str | os.PathLike[str], flag: str = "--out") -> Path:
    """The folder reports go to (absolute), created when missing.

    Raises:
        InputError: ``path`` exists and is not a folder (a file, a FIFO …).
    """
    out = Path(path).expanduser().resolve()
    if out.exists() and not out.is_dir():
        raise InputError(f"{flag} {path}: exists and is not a folder",
                         hint=f"pass a folder to {flag} (it is created when missing); nothing was "
                              "written")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{flag} {path}: cannot create the folder: {exc.strerror}",
                         hint="choose a folder you can write to; nothing was written") from None
    return out


def refuse_symlinks(files: Iterable[Path], flag: str = "--out") -> None:
    """Refuse to write through a symbolic link planted where an output file goes: writing would
    overwrite whatever it points at (a shell profile, a key) with a report.

    Raises:
        InputError: one of ``files`` is a symbolic link (it is named, with its target).
    """
    for file in files:
        if file.is_symlink():
            raise InputError(f"{flag}: {file} is a symbolic link (to {os.readlink(file)}); "
                             "refusing to write through it",
                             hint="remove the link or choose another folder; nothing was written")


def file_type(path: Path) -> str:
    """What ``path`` is when it is not a regular file or folder, for messages ("a FIFO …")."""
    mode = path.stat().st_mode
    kinds = ((stat.S_ISDIR, "a folder"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
             (stat.S_ISSOCK, "a socket"),
             (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))
    return next((name for test, name in kinds if test(mode)), "not a regular file")
