"""SOAP 1.2 envelopes with WS-Addressing and WS-Security, and SOAP faults.

The request header carries ``wsa:Action`` (mustUnderstand), ``wsa:MessageID``,
``wsa:ReplyTo`` (anonymous), ``wsa:To`` and ``wsse:Security`` (mustUnderstand) holding the
signed VIHF assertion. Answers are read safely (see ``engine.formats.cda.safe_xml``).
"""

from __future__ import annotations

from lxml import etree

from engine.errors import DocumentError
from engine.formats.cda.safe_xml import parse_xml

SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
WSA = "http://www.w3.org/2005/08/addressing"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ANONYMOUS = "http://www.w3.org/2005/08/addressing/anonymous"


def _must_understand(element: etree._Element) -> etree._Element:
    element.set(f"{{{SOAP12}}}mustUnderstand", "true")
    return element


def envelope(
    body: etree._Element,
    *,
    action: str,
    to: str,
    message_id: str,
    relates_to: str = "",
    security: etree._Element | None = None,
) -> etree._Element:
    """A SOAP 1.2 envelope around ``body`` with the WS-Addressing (and security) headers."""
    root = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12, "wsa": WSA, "wsse": WSSE})
    header = etree.SubElement(root, f"{{{SOAP12}}}Header")
    _must_understand(etree.SubElement(header, f"{{{WSA}}}Action")).text = action
    etree.SubElement(header, f"{{{WSA}}}MessageID").text = message_id
    if relates_to:
        etree.SubElement(header, f"{{{WSA}}}RelatesTo").text = relates_to
    else:
        reply = etree.SubElement(header, f"{{{WSA}}}ReplyTo")
        etree.SubElement(reply, f"{{{WSA}}}Address").text = ANONYMOUS
        etree.SubElement(header, f"{{{WSA}}}To").text = to
    if security is not None:
        holder = _must_understand(etree.SubElement(header, f"{{{WSSE}}}Security"))
        holder.append(security)
    etree.SubElement(root, f"{{{SOAP12}}}Body").append(body)
    return root


class SoapFault(Exception):
    """A SOAP 1.2 fault: ``code`` (Sender, Receiver...), optional subcode, reason text."""

    def __init__(self, code: str, subcode: str, reason: str) -> None:
        super().__init__(code, subcode, reason)
        self.code, self.subcode, self.reason = code, subcode, reason

    def __str__(self) -> str:
        sub = f"/{self.subcode}" if self.subcode else ""
        return f"SOAP fault {self.code}{sub}: {self.reason}"

    @property
    def transient(self) -> bool:
        """A Receiver fault is the server's problem and may pass; the others will not."""
        return self.code == "Receiver"


def _local(qname: str) -> str:
    return qname.rsplit(":", 1)[-1].strip()


def fault(code: str, reason: str, subcode: str = "") -> etree._Element:
    """A SOAP 1.2 envelope holding a fault (used by the test endpoint)."""
    root = etree.Element(f"{{{SOAP12}}}Envelope", nsmap={"soap": SOAP12})
    node = etree.SubElement(etree.SubElement(root, f"{{{SOAP12}}}Body"), f"{{{SOAP12}}}Fault")
    code_node = etree.SubElement(node, f"{{{SOAP12}}}Code")
    etree.SubElement(code_node, f"{{{SOAP12}}}Value").text = f"soap:{code}"
    if subcode:
        sub = etree.SubElement(code_node, f"{{{SOAP12}}}Subcode")
        etree.SubElement(sub, f"{{{SOAP12}}}Value").text = subcode
    text = etree.SubElement(etree.SubElement(node, f"{{{SOAP12}}}Reason"), f"{{{SOAP12}}}Text")
    text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    text.text = reason
    return root


def read_envelope(raw: bytes, *, max_bytes: int) -> tuple[etree._Element, etree._Element]:
    """Parse a SOAP 1.2 envelope safely; return ``(header or empty element, body child)``.

    Raises:
        SoapFault: the body is a fault.
        DocumentError: not XML, not a SOAP 1.2 envelope, empty body.
    """
    root = parse_xml(raw, max_bytes=max_bytes)
    if root.tag != f"{{{SOAP12}}}Envelope":
        raise DocumentError("the answer is not a SOAP 1.2 envelope", kind="invalid")
    header = root.find(f"{{{SOAP12}}}Header")
    body = root.find(f"{{{SOAP12}}}Body")
    child = body[0] if body is not None and len(body) else None
    if child is None:
        raise DocumentError("the SOAP body is empty", kind="invalid")
    if child.tag == f"{{{SOAP12}}}Fault":
        value = child.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Value", "")
        sub = child.findtext(f"{{{SOAP12}}}Code/{{{SOAP12}}}Subcode/{{{SOAP12}}}Value", "")
        reason = child.findtext(f"{{{SOAP12}}}Reason/{{{SOAP12}}}Text", "")
        raise SoapFault(_local(value), _local(sub), " ".join(reason.split())[:300])
    return (header if header is not None else etree.Element("none")), child


__all__ = ["SOAP12", "WSA", "WSSE", "SoapFault", "envelope", "fault", "read_envelope"]
