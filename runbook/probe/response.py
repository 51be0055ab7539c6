"""An incremental HTTP/1.1 response parser for the probe (RFC 9112), small and fast on purpose.

The probe feeds it whatever ``recv`` returned; it says when the response is complete, how many body
bytes arrived (after de-chunking, like curl's ``size_download``), the status, whether the
connection may be reused, and the two headers the probe records: ``server`` and
``x-envoy-upstream-service-time`` (Envoy: milliseconds spent by the upstream host, including the
network between Envoy and it; an integer). It never keeps the body.

Message framing follows RFC 9112 §6.3: no body for HEAD, 1xx, 204 and 304; ``Transfer-Encoding``
ending in ``chunked`` wins over ``Content-Length`` (and the connection is then not reused); several
differing ``Content-Length`` values are an error; otherwise the body runs until the server closes.
Interim 1xx responses (other than 101) are skipped, as clients must.
"""

from __future__ import annotations

import functools
import re
from typing import NamedTuple

#: a response head larger than this is refused (curl's limit is of the same order)
MAX_HEAD_BYTES = 64 * 1024
#: a chunk-size line (with extensions) longer than this is refused
MAX_CHUNK_LINE = 4096
#: distinct response heads whose reading is remembered (a head is a few hundred bytes)
HEAD_CACHE_SIZE = 256

_STATUS_LINE = re.compile(rb"HTTP/1\.([01]) (\d{3})(?: |$)")
# The header block (each line ending in LF) checked in one C-level match: field lines
# ``token ":" value`` (RFC 9110 §5.1, no space before the colon) or obsolete folded continuations.
_HEADER_BLOCK = re.compile(rb"(?:[!#$%&'*+\-.^_`|~0-9A-Za-z]+:[^\n]*\n|[ \t][^\n]*\n)*")
# Only the headers the probe uses are looked at, in one C-level scan of the lowercased block with a
# "\n" in front (anchoring on "\n" is 2.5× faster here than ``^`` with MULTILINE|IGNORECASE).
_WANTED = re.compile(
    rb"\n(c(?:ontent-length|onnection)|transfer-encoding|server|x-envoy-upstream-service-time)"
    rb":[ \t]*([^\r\n]*)"
)

# body framings
_NONE, _LENGTH, _CHUNKED, _CLOSE = range(4)
# chunked sub-states
_SIZE, _DATA, _DATA_END, _TRAILER = range(4)


class ProtocolError(Exception):
    """The bytes received are not an HTTP/1.1 response (the probe's ``http_protocol`` error)."""


class ResponseParser:
    """Parses one response at a time; call :meth:`reset` before the next one on the connection.

    Attributes:
        status: the final status code (0 until the status line of a final response is read).
        body_bytes: body bytes received so far (payload only, chunk framing excluded).
        server: the ``server`` header ("" when absent).
        upstream_ms: ``x-envoy-upstream-service-time`` as a float (None when absent or unreadable).
        keep_alive: whether the connection may carry another request after this response.
        received: whether any byte of this response has arrived.
    """

    __slots__ = ("_buf", "_chunk_left", "_chunk_state", "_framing", "_head_done", "_left", "body_bytes",
                 "head_request", "keep_alive", "received", "server", "status", "upstream_ms")

    def __init__(self, head_request: bool = False) -> None:
        self.head_request = head_request
        self.reset()

    def reset(self) -> None:
        """Forget the previous response (the connection is about to carry a new request)."""
        self._buf = b""
        self._head_done = False
        self._framing = _NONE
        self._left = 0
        self._chunk_state = _SIZE
        self._chunk_left = 0
        self.status = 0
        self.body_bytes = 0
        self.server = ""
        self.upstream_ms: float | None = None
        self.keep_alive = True
        self.received = False

    @property
    def reads_until_close(self) -> bool:
        """True when the body ends only when the server closes the connection."""
        return self._head_done and self._framing == _CLOSE

    def feed(self, data: bytes) -> bool:
        """Consume received bytes; True when the response is complete.

        Raises:
            ProtocolError: the bytes are not a valid HTTP/1.x response.
        """
        self.received = True
        if not self._head_done:
            buf = self._buf + data if self._buf else data
            while True:
                end = buf.find(b"\r\n\r\n")
                sep = 4
                if end < 0:
                    end = buf.find(b"\n\n")  # RFC 9112 §2.2: a bare LF may end a line
                    sep = 2
                if end < 0:
                    if len(buf) > MAX_HEAD_BYTES:
                        raise ProtocolError(f"response head larger than {MAX_HEAD_BYTES} bytes")
                    if buf and not b"HTTP/".startswith(buf[:5]):
                        raise ProtocolError(f"not an HTTP response: {_show(buf)}")
                    self._buf = buf
                    return False
                # the head up to and including the last header line's line ending
                head = _read_head(buf[:end + sep // 2], self.head_request)
                buf = buf[end + sep:]
                if head is not None:
                    break
            self._buf = b""
            self.status, self.keep_alive, self._framing, self._left, self.server, self.upstream_ms = head
            self._head_done = True
            data = buf
        framing = self._framing
        if framing == _LENGTH:
            n = len(data)
            if n >= self._left:
                if n > self._left:
                    # bytes beyond the response on a non-pipelined connection: do not reuse it
                    self.keep_alive = False
                self.body_bytes += self._left
                self._left = 0
                return True
            self.body_bytes += n
            self._left -= n
            return False
        if framing == _NONE:
            if data:
                self.keep_alive = False
            return True
        if framing == _CLOSE:
            self.body_bytes += len(data)
            return False
        return self._feed_chunked(data)

    def eof(self) -> bool:
        """The server closed the connection; True when that completes the response."""
        self.keep_alive = False
        return self._head_done and self._framing == _CLOSE

    def _feed_chunked(self, data: bytes) -> bool:
        buf = self._buf + data if self._buf else data
        pos = 0
        n = len(buf)
        state = self._chunk_state
        while pos < n or state == _DATA_END:
            if state == _SIZE:
                end = buf.find(b"\n", pos)
                if end < 0:
                    if n - pos > MAX_CHUNK_LINE:
                        raise ProtocolError("chunk-size line too long")
                    break
                line = buf[pos:end].rstrip(b"\r").split(b";", 1)[0].strip()
                try:
                    size = int(line, 16)
                except ValueError:
                    raise ProtocolError(f"invalid chunk size: {_show(line)}") from None
                if size < 0:
                    raise ProtocolError(f"invalid chunk size: {_show(line)}")
                pos = end + 1
                if size == 0:
                    state = _TRAILER
                else:
                    self._chunk_left = size
                    state = _DATA
            elif state == _DATA:
                take = min(self._chunk_left, n - pos)
                self.body_bytes += take
                self._chunk_left -= take
                pos += take
                if self._chunk_left:
                    break
                state = _DATA_END
            elif state == _DATA_END:
                if n - pos >= 2 and buf[pos:pos + 2] == b"\r\n":
                    pos += 2
                elif n - pos >= 1 and buf[pos:pos + 1] == b"\n":
                    pos += 1
                elif n - pos < 2 and buf[pos:pos + 1] in (b"", b"\r"):
                    break  # wait for the rest of the CRLF
                else:
                    raise ProtocolError("chunk data not followed by CRLF")
                state = _SIZE
            else:  # trailer section: header lines until an empty line
                end = buf.find(b"\n", pos)
                if end < 0:
                    if n - pos > MAX_HEAD_BYTES:
                        raise ProtocolError("trailer section too large")
                    break
                line = buf[pos:end].rstrip(b"\r")
                pos = end + 1
                if not line:
                    if pos < n:
                        self.keep_alive = False
                    self._buf = b""
                    self._chunk_state = _SIZE
                    return True
        self._chunk_state = state
        self._buf = buf[pos:]
        return False


class _Head(NamedTuple):
    """What the parser needs from a final response's head."""

    status: int
    keep_alive: bool
    framing: int
    length: int  # body bytes to come with Content-Length framing
    server: str
    upstream_ms: float | None


@functools.lru_cache(maxsize=HEAD_CACHE_SIZE)
def _read_head(head: bytes, head_request: bool) -> _Head | None:
    """The facts of a status line and header lines (each ending in LF); None for an interim (1xx) response.

    A pure function of its arguments, so it is memoised: a server sends the same head again and
    again (nginx's differs only in ``Date``, once a second), and reading it is most of the parser's
    work per response. Errors are raised each time (lru_cache does not keep exceptions).

    Raises:
        ProtocolError: the head is not a valid HTTP/1.x response head.
    """
    nl = head.find(b"\n")
    status_line = head[:nl].rstrip(b"\r") if nl >= 0 else head
    m = _STATUS_LINE.match(status_line)
    if not m:
        raise ProtocolError(f"malformed status line: {_show(status_line)}")
    status = int(m.group(2))
    if 100 <= status < 200:
        if status == 101:
            raise ProtocolError("unexpected 101 Switching Protocols (the probe does not upgrade)")
        return None
    block = head[nl + 1:] if nl >= 0 else b""
    if _HEADER_BLOCK.fullmatch(block) is None:
        raise ProtocolError(f"malformed header line: {_show(_first_bad_line(block))}")
    keep_alive = m.group(1) == b"1"  # HTTP/1.1 persists by default, 1.0 does not
    server = ""
    upstream_ms: float | None = None
    lengths: set[int] = set()
    chunked = False
    has_te = False
    lowered = b"\n" + block.lower()
    server_from = 0
    for key, value in _WANTED.findall(lowered):
        value = value.rstrip()
        if key == b"content-length":
            if value.isdigit():
                lengths.add(int(value))
                continue
            for part in value.split(b","):
                part = part.strip()
                if not part.isdigit():
                    raise ProtocolError(f"invalid Content-Length: {_show(value)}")
                lengths.add(int(part))
        elif key == b"connection":
            if value == b"keep-alive":
                keep_alive = True
            elif value == b"close":
                keep_alive = False
            else:
                tokens = [t.strip() for t in value.split(b",")]
                if b"close" in tokens:
                    keep_alive = False
                elif b"keep-alive" in tokens:
                    keep_alive = True
        elif key == b"server":
            # the value in its original case: lowered[i] is "\n", so the line starts at block[i]
            i = lowered.find(b"\nserver:", server_from)
            server_from = i + 1
            j = block.find(b"\n", i)
            server = block[i + 7:j if j >= 0 else None].strip().decode("latin-1")
        elif key == b"transfer-encoding":
            has_te = True
            codings = [c.strip() for c in value.split(b",") if c.strip()]
            chunked = bool(codings) and codings[-1] == b"chunked"
        else:  # x-envoy-upstream-service-time
            try:
                upstream_ms = float(value)
            except ValueError:
                upstream_ms = None
    if len(lengths) > 1:
        raise ProtocolError(f"conflicting Content-Length values: {sorted(lengths)}")
    length = 0
    if head_request or status in (204, 304):
        framing = _NONE
    elif has_te:
        # RFC 9112 §6.3: Transfer-Encoding overrides Content-Length; not chunked → until close
        framing = _CHUNKED if chunked else _CLOSE
        if lengths or not chunked:
            keep_alive = False
    elif lengths:
        length = lengths.pop()
        framing = _LENGTH if length else _NONE
    else:
        framing = _CLOSE
        keep_alive = False
    return _Head(status, keep_alive, framing, length, server, upstream_ms)


def _first_bad_line(block: bytes) -> bytes:
    """The first line of a header block that is not a field line (for the error message)."""
    pos = 0
    while pos < len(block):
        end = block.find(b"\n", pos)
        end = len(block) if end < 0 else end + 1
        if _HEADER_BLOCK.fullmatch(block[pos:end]) is None:
            return block[pos:end].rstrip(b"\r\n")
        pos = end
    return block  # pragma: no cover - only called when the whole block did not match


def _show(raw: bytes, limit: int = 60) -> str:
    """Some received bytes, printable, for a one-line error message."""
    text = raw[:limit].decode("latin-1").encode("unicode_escape").decode("ascii")
    return repr(text + ("…" if len(raw) > limit else ""))


__all__ = ["MAX_HEAD_BYTES", "ProtocolError", "ResponseParser"]
