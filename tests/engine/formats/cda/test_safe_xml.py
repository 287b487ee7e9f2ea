"""Safe XML: attacks are refused unread, oversize is refused, nothing is fetched."""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.errors import DocumentError
from engine.formats.cda import parse_xml, read_cda
from tests.engine.formats.cda.builders import (
    BILLION_LAUGHS,
    EXTERNAL_ENTITY,
    NETWORK_ENTITY,
    cda,
)


@pytest.mark.parametrize(
    "raw",
    [BILLION_LAUGHS, EXTERNAL_ENTITY, NETWORK_ENTITY],
    ids=["billion-laughs", "external-entity", "parameter-entity"],
)
def test_documents_with_a_dtd_are_refused_as_attacks(raw: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        read_cda(raw)
    assert caught.value.kind == "attack"
    assert "etc/passwd" not in str(caught.value)


def test_a_doctype_in_utf16_is_refused_too() -> None:
    raw = EXTERNAL_ENTITY.decode().replace('version="1.0"', 'version="1.0" encoding="UTF-16"')
    with pytest.raises(DocumentError) as caught:
        parse_xml(raw.encode("utf-16"))
    assert caught.value.kind == "attack"


def test_an_undeclared_entity_is_malformed_not_expanded() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_xml(b"<a>&secret;</a>")
    assert caught.value.kind == "malformed"


def test_no_network_access_is_attempted() -> None:
    hits: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hits.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'<!ENTITY x "boom">')

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        raw = (
            f'<!DOCTYPE a SYSTEM "http://127.0.0.1:{port}/x.dtd"><a>&x;</a>'.encode(),
            f'<a xmlns:xi="http://www.w3.org/2001/XInclude"><xi:include '
            f'href="http://127.0.0.1:{port}/y"/></a>'.encode(),
        )
        with pytest.raises(DocumentError):
            parse_xml(raw[0])
        parse_xml(raw[1])  # XInclude is never processed: just an element
    finally:
        server.shutdown()
        server.server_close()
    assert hits == []


def test_oversize_is_refused_before_parsing() -> None:
    with pytest.raises(DocumentError) as caught:
        read_cda(cda(), max_bytes=1000)
    assert caught.value.kind == "oversize"
    assert "exceeds the limit of 1000 bytes" in str(caught.value)


@pytest.mark.parametrize("raw", [b"", b"   ", b"<a>", b"not xml", b"<a></b>"])
def test_malformed_input_is_a_document_error(raw: bytes) -> None:
    with pytest.raises(DocumentError) as caught:
        parse_xml(raw)
    assert caught.value.kind == "malformed"


def test_error_messages_do_not_quote_document_text() -> None:
    with pytest.raises(DocumentError) as caught:
        parse_xml(b"<family>DUPONT</givn>")
    assert "DUPONT" not in str(caught.value)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_arbitrary_bytes_never_raise_anything_but_document_error(raw: bytes) -> None:
    with contextlib.suppress(DocumentError):
        read_cda(raw, max_bytes=200)
