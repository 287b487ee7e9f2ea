"""A minimal FHIR endpoint for benchmarks: accepts every transaction, stores nothing.

Plain asyncio streams, HTTP/1.1 keep-alive, ``Content-Length`` bodies (what the ``fhir``
destination sends); no framework, so the sink is not what the end-to-end bench measures.

* ``POST <anything>``: answers ``200`` with a ``transaction-response`` Bundle holding one
  entry per request entry (``201 Created`` or ``200 OK``, a ``Type/n/_history/1``
  location), the answer :func:`channels.fhir.bundle.read_response` accepts. The request
  entries are found with a regular expression on each ``request.url`` (a resource type
  followed by ``?`` or ``/``; extension URLs start in lower case), not by parsing the
  JSON. For each Bundle it records the arrival wall time (``time.time()``) and the IPP of
  the conditional update ``Patient?identifier=<system>|<IPP>`` (empty when none).
* ``POST`` of a ``batch`` of ``GET`` entries (the reads of the ``fhir`` destination's
  merged updates, docs/fhir.md "Updates"): answers an empty searchset per entry, as a
  platform that knows none of the patients; not recorded.
* ``GET /stats``: ``{"received": N, "records": [[ipp, time], ...]}`` as JSON.

Run: ``python -m bench.fhir_sink PORT`` (prints ``ready`` once listening).
"""

from __future__ import annotations

import asyncio
import json
import re
import sys
import time

_ENTRY_URL = re.compile(rb'"url": ?"([A-Z][A-Za-z]*)[?/"]')
_IPP = re.compile(
    rb'"url": ?"Patient(?:\?identifier=[^"|]*\|([^"]*)"'
    rb'|", ?"ifNoneExist": ?"identifier=[^"|]*\|([^"]*)")'
)
_READS = re.compile(rb'"type": ?"batch"')
_GET = re.compile(rb'"method": ?"GET"')
_MAX_BODY = 64 << 20


def transaction_response(body: bytes, first_id: int) -> bytes:
    """The transaction-response Bundle for a request ``body`` (ids from ``first_id``)."""
    entries = []
    for i, match in enumerate(_ENTRY_URL.finditer(body)):
        kind = match.group(1).decode()
        status = "201 Created" if i % 2 == 0 else "200 OK"
        location = f"{kind}/{first_id + i}/_history/1"
        entries.append({"response": {"status": status, "location": location}})
    answer = {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}
    return json.dumps(answer, separators=(",", ":")).encode()


def correlation_key(body: bytes) -> str:
    """The IPP of the Bundle's ``Patient?identifier=...|IPP`` entry, or ``""``."""
    match = _IPP.search(body)
    return (match.group(1) or match.group(2)).decode() if match else ""


def reads_response(body: bytes) -> bytes:
    """The batch-response to a batch of reads: an empty searchset for each."""
    found = {"resourceType": "Bundle", "type": "searchset", "total": 0}
    entries = [{"response": {"status": "200 OK"}, "resource": found} for _ in _GET.finditer(body)]
    answer = {"resourceType": "Bundle", "type": "batch-response", "entry": entries}
    return json.dumps(answer, separators=(",", ":")).encode()


def _response(status: str, body: bytes, content_type: str) -> bytes:
    head = (
        f"HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


class FhirSink:
    """The endpoint's state: what was received and when."""

    def __init__(self) -> None:
        self.records: list[tuple[str, float]] = []
        self.next_id = 1

    def post(self, body: bytes) -> bytes:
        if _READS.search(body) and _GET.search(body):
            return _response("200 OK", reads_response(body), "application/fhir+json")
        self.records.append((correlation_key(body), time.time()))
        answer = transaction_response(body, self.next_id)
        self.next_id += max(1, len(_ENTRY_URL.findall(body)))
        return _response("200 OK", answer, "application/fhir+json")

    def stats(self) -> bytes:
        data = {"received": len(self.records), "records": self.records}
        return _response("200 OK", json.dumps(data).encode(), "application/json")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, asyncio.LimitOverrunError):
                    return
                lines = head.decode("latin-1").split("\r\n")
                method, _, rest = lines[0].partition(" ")
                path = rest.partition(" ")[0]
                length = 0
                close = False
                for line in lines[1:]:
                    name, _, value = line.partition(":")
                    name = name.strip().lower()
                    if name == "content-length":
                        length = int(value.strip())
                    elif name == "connection" and value.strip().lower() == "close":
                        close = True
                if length > _MAX_BODY:
                    return
                body = await reader.readexactly(length) if length else b""
                if method == "POST":
                    writer.write(self.post(body))
                elif method == "GET" and path.startswith("/stats"):
                    writer.write(self.stats())
                else:
                    writer.write(_response("404 Not Found", b"", "text/plain"))
                await writer.drain()
                if close:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            writer.close()


async def serve(port: int) -> None:
    sink = FhirSink()
    server = await asyncio.start_server(sink.handle, "127.0.0.1", port, limit=1 << 20)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1])))
