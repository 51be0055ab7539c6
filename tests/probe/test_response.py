"""The HTTP/1.1 response parser, fed whole and byte by byte."""

from __future__ import annotations

import pytest

from runbook.probe.response import MAX_HEAD_BYTES, ProtocolError, ResponseParser

NGINX_LIKE = (b"HTTP/1.1 200 OK\r\nserver: istio-envoy\r\ndate: Fri, 27 Oct 2023 09:00:16 GMT\r\n"
              b"content-type: text/html\r\ncontent-length: 615\r\nx-envoy-upstream-service-time: 3\r\n\r\n"
              + b"x" * 615)
CHUNKED = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"5;name=v\r\nhello\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nx-trailer: 1\r\n\r\n")


def feed_all(data: bytes, *, bytewise: bool, head: bool = False) -> tuple[ResponseParser, bool]:
    p = ResponseParser(head_request=head)
    done = False
    chunks = [data[i:i + 1] for i in range(len(data))] if bytewise else [data]
    for i, chunk in enumerate(chunks):
        done = p.feed(chunk)
        if done:
            assert i == len(chunks) - 1, "complete before the last byte"
    return p, done


@pytest.mark.parametrize("bytewise", [False, True])
def test_content_length_response(bytewise: bool) -> None:
    p, done = feed_all(NGINX_LIKE, bytewise=bytewise)
    assert done and p.status == 200 and p.body_bytes == 615
    assert p.server == "istio-envoy" and p.upstream_ms == 3.0 and p.keep_alive


@pytest.mark.parametrize("bytewise", [False, True])
def test_chunked_response_counts_payload_only(bytewise: bool) -> None:
    p, done = feed_all(CHUNKED, bytewise=bytewise)
    assert done and p.body_bytes == 5 + 26 and p.keep_alive


def test_reset_allows_the_next_response_on_the_connection() -> None:
    p = ResponseParser()
    assert p.feed(NGINX_LIKE)
    p.reset()
    assert p.status == 0 and not p.received
    assert p.feed(CHUNKED) and p.body_bytes == 31


def test_no_body_for_head_204_304_and_interim_responses_are_skipped() -> None:
    assert feed_all(NGINX_LIKE[:NGINX_LIKE.index(b"\r\n\r\n") + 4], bytewise=False, head=True)[1]
    for status in (204, 304):
        p, done = feed_all(f"HTTP/1.1 {status} X\r\ncontent-length: 10\r\n\r\n".encode(), bytewise=False)
        assert done and p.status == status and p.body_bytes == 0
    p, done = feed_all(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: x\r\n\r\n"
                       + NGINX_LIKE, bytewise=True)
    assert done and p.status == 200 and p.body_bytes == 615


def test_read_until_close_and_connection_semantics() -> None:
    p = ResponseParser()
    assert not p.feed(b"HTTP/1.1 200 OK\r\nserver: legacy\r\n\r\nbody-without-length")
    assert p.reads_until_close and not p.keep_alive
    assert p.eof() and p.body_bytes == len(b"body-without-length")
    p10, _ = feed_all(b"HTTP/1.0 200 OK\r\ncontent-length: 2\r\n\r\nok", bytewise=False)
    assert not p10.keep_alive
    ka, _ = feed_all(b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\ncontent-length: 2\r\n\r\nok",
                     bytewise=False)
    assert ka.keep_alive
    close, _ = feed_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\ncontent-length: 2\r\n\r\nok",
                        bytewise=False)
    assert not close.keep_alive
    # Transfer-Encoding overrides Content-Length, and such a connection is not reused (RFC 9112 §6.3)
    both, done = feed_all(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
                          b"2\r\nok\r\n0\r\n\r\n", bytewise=False)
    assert done and both.body_bytes == 2 and not both.keep_alive
    extra, done = feed_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nokEXTRA", bytewise=False)
    assert done and extra.body_bytes == 2 and not extra.keep_alive


def test_incomplete_response_is_not_complete_on_eof() -> None:
    p = ResponseParser()
    assert not p.feed(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
    assert not p.eof() and p.body_bytes == 3


@pytest.mark.parametrize(("data", "message"), [
    (b"HELLO WORLD\r\n\r\n", "malformed status line"),
    (b"HELLO", "not an HTTP response"),  # refused early, before a whole head arrives
    (b"HTTP/1.1 OK\r\n\r\n", "malformed status line"),
    (b"HTTP/2 200\r\n\r\n", "malformed status line"),
    (b"HTTP/1.1 200 OK\r\nbroken header\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\nname : value\r\n\r\n", "malformed header line"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n", "conflicting Content-Length"),
    (b"HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n", "invalid Content-Length"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "invalid chunk size"),
    (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nokXX", "not followed by CRLF"),
    (b"HTTP/1.1 101 Switching Protocols\r\n\r\n", "101"),
])
def test_protocol_errors(data: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        ResponseParser().feed(data)


def test_head_size_limit() -> None:
    p = ResponseParser()
    with pytest.raises(ProtocolError, match="larger than"):
        p.feed(b"HTTP/1.1 200 OK\r\n" + b"x-pad: " + b"a" * MAX_HEAD_BYTES)


def test_identical_repeated_content_length_is_accepted() -> None:
    p, done = feed_all(b"HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\nok", bytewise=False)
    assert done and p.body_bytes == 2


def test_unreadable_upstream_time_is_none() -> None:
    p, _ = feed_all(b"HTTP/1.1 200 OK\r\nx-envoy-upstream-service-time: soon\r\ncontent-length: 0\r\n\r\n",
                    bytewise=False)
    assert p.upstream_ms is None and p.status == 200


def test_header_names_any_case_values_trimmed_server_case_kept() -> None:
    p, done = feed_all(b"HTTP/1.0 200 OK\r\nSERVER:  Istio-Envoy \r\nConnection: Keep-Alive\r\n"
                       b"Content-LENGTH:  3 \r\nX-Envoy-Upstream-Service-Time: 12\r\n\r\nabc", bytewise=False)
    assert done and p.server == "Istio-Envoy" and p.keep_alive and p.body_bytes == 3 and p.upstream_ms == 12.0
    twice, _ = feed_all(b"HTTP/1.1 200 OK\r\nserver: first\r\nserver: Second\r\ncontent-length: 0\r\n\r\n",
                        bytewise=False)
    assert twice.server == "Second"  # the last one, as for any repeated single-value header
    tokens, _ = feed_all(b"HTTP/1.1 200 OK\r\nConnection: Upgrade, Close\r\ncontent-length: 0\r\n\r\n",
                         bytewise=False)
    assert not tokens.keep_alive


def test_a_repeated_head_is_read_once_and_the_request_method_is_part_of_what_is_remembered() -> None:
    from runbook.probe import response

    head = b"HTTP/1.1 200 OK\r\nserver: remembered-once\r\ncontent-length: 5\r\nconnection: close\r\n\r\n"
    before = response._read_head.cache_info()
    first, done_first = feed_all(head + b"hello", bytewise=False)
    again, done_again = feed_all(head + b"hello", bytewise=False)
    after = response._read_head.cache_info()
    assert after.hits - before.hits == 1 and after.misses - before.misses == 1
    for p, done in ((first, done_first), (again, done_again)):
        assert done and p.status == 200 and p.body_bytes == 5 and p.server == "remembered-once"
        assert not p.keep_alive
    # the same head answering HEAD has no body: a remembered GET reading must not be reused for it
    only_head, done = feed_all(head, bytewise=False, head=True)
    assert done and only_head.body_bytes == 0 and not only_head.reads_until_close


def test_a_repeated_bad_head_is_refused_every_time() -> None:
    bad = b"HTTP/1.1 200 OK\r\nbad header line\r\n\r\n"
    for _ in range(2):
        with pytest.raises(ProtocolError, match="malformed header line"):
            ResponseParser().feed(bad)
