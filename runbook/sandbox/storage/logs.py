"""Container log buffers behind ``GET /api/v1/namespaces/{ns}/pods/{name}/log``.

What kubelet keeps per container is a file of lines with timestamps; here it is a bounded list
per (namespace, pod, container). In-process code (the emulated istiod of a later task, tests)
writes with :meth:`PodLogs.append`; the API reads with :meth:`PodLogs.read` and streams with
:meth:`PodLogs.follow`. Timestamps use kubelet's fixed-width RFC 3339 nanosecond form
(``2023-10-27T06:00:55.741297000Z``), which is what ``kubectl logs --timestamps`` shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

MAX_LINES = 50_000


@dataclass(frozen=True)
class LogLine:
    """One line: sandbox-clock time (epoch seconds) and the text without its newline."""

    when: float
    text: str

    def render(self, timestamps: bool) -> str:
        if not timestamps:
            return self.text + "\n"
        return f"{format_log_time(self.when)} {self.text}\n"


def format_log_time(when: float) -> str:
    """kubelet's ``RFC3339NanoFixed``: nine fractional digits and ``Z``."""
    dt = datetime.fromtimestamp(when, tz=UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%f") + "000Z"


Key = tuple[str, str, str]
Follower = Callable[[LogLine], None]


class PodLogs:
    """Per-container log buffers; thread-safe."""

    def __init__(self, max_lines: int = MAX_LINES) -> None:
        self._lock = threading.Lock()
        self._max = max_lines
        self._lines: dict[Key, deque[LogLine]] = {}
        self._followers: dict[Key, list[Follower]] = {}

    def append(self, namespace: str, pod: str, container: str, line: str,
               when: datetime | float) -> None:
        """Add one line (a trailing newline is dropped) written at ``when`` (sandbox time)."""
        ts = when.timestamp() if isinstance(when, datetime) else float(when)
        entry = LogLine(ts, line.rstrip("\n"))
        key = (namespace, pod, container)
        with self._lock:
            self._lines.setdefault(key, deque(maxlen=self._max)).append(entry)
            followers = list(self._followers.get(key, ()))
        for follower in followers:
            follower(entry)

    def lines(self, namespace: str, pod: str, container: str) -> list[LogLine]:
        """The buffered lines of one container, oldest first."""
        with self._lock:
            return list(self._lines.get((namespace, pod, container), ()))

    def read(self, namespace: str, pod: str, container: str, *, tail_lines: int | None = None,
             since: float | None = None, timestamps: bool = False,
             limit_bytes: int | None = None) -> str:
        """The log as ``kubectl logs`` gets it (see :func:`render_lines` for the options)."""
        return render_lines(self.lines(namespace, pod, container), tail_lines=tail_lines,
                            since=since, timestamps=timestamps, limit_bytes=limit_bytes)

    def follow(self, namespace: str, pod: str, container: str, callback: Follower
               ) -> tuple[list[LogLine], Callable[[], None]]:
        """The lines so far, and ``callback(line)`` for each new line from then on.

        Both are taken under one lock, so a line appended meanwhile is either in the returned
        list or passed to ``callback`` — never lost between reading and following, never twice.
        Returns the lines and a function that stops following.
        """
        key = (namespace, pod, container)
        with self._lock:
            so_far = list(self._lines.get(key, ()))
            self._followers.setdefault(key, []).append(callback)

        def stop() -> None:
            with self._lock:
                if callback in self._followers.get(key, []):
                    self._followers[key].remove(callback)

        return so_far, stop

    def drop_pod(self, namespace: str, pod: str) -> None:
        """Forget a deleted pod's logs (kubelet removes them with the pod)."""
        with self._lock:
            for key in [k for k in self._lines if k[:2] == (namespace, pod)]:
                del self._lines[key]

    def clear(self) -> None:
        with self._lock:
            self._lines.clear()


def render_lines(lines: list[LogLine], *, tail_lines: int | None = None,
                 since: float | None = None, timestamps: bool = False,
                 limit_bytes: int | None = None) -> str:
    """Log lines as ``kubectl logs`` gets them.

    Args:
        tail_lines: only the last N lines (after ``since`` filtering), as kubelet applies it.
        since: only lines written at or after this time (epoch seconds); ``sinceTime`` and
            ``sinceSeconds`` both arrive here.
        timestamps: prefix each line with its time.
        limit_bytes: cut the answer after this many bytes (possibly mid-line, as kubelet does).
    """
    if since is not None:
        lines = [ln for ln in lines if ln.when >= since]
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    text = "".join(ln.render(timestamps) for ln in lines)
    if limit_bytes is not None:
        text = text.encode()[:limit_bytes].decode(errors="ignore")
    return text


async def serve_log(request: web.Request, logs: PodLogs, key: Key, options: dict[str, Any], *,
                    follow: bool, stopping: threading.Event | asyncio.Event,
                    gone: Callable[[], bool]) -> web.StreamResponse:
    """Answer a log request: the text at once, or (``follow``) a chunked stream of the lines so
    far and every new one until the pod is ``gone``, the client leaves or ``stopping`` is set.

    Args:
        key: (namespace, pod, container).
        options: :func:`render_lines` keyword arguments.
    """
    namespace, pod, container = key
    if not follow:
        text = logs.read(namespace, pod, container, **options)
        return web.Response(text=text, content_type="text/plain")
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[str] = asyncio.Queue()
    timestamps = bool(options.get("timestamps"))

    def on_line(line: LogLine) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed under a racing append
            loop.call_soon_threadsafe(queue.put_nowait, line.render(timestamps))

    # follow before answering: a line written once the client has its headers must arrive
    so_far, stop = logs.follow(namespace, pod, container, on_line)
    response = web.StreamResponse()
    response.content_type = "text/plain"
    response.enable_chunked_encoding()
    await response.prepare(request)
    await response.write(render_lines(so_far, **options).encode())
    try:
        while not stopping.is_set():
            try:
                chunk = await asyncio.wait_for(queue.get(), 1.0)
            except TimeoutError:
                if gone() or request.transport is None or request.transport.is_closing():
                    break
                continue
            await response.write(chunk.encode())
        await response.write_eof()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        stop()
    return response
