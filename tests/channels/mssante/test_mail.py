"""Reading received mails (robustness), unpacking them into messages, receipts (DSN/MDN)
and the Message-IDs of the mails we send."""

from __future__ import annotations

import contextlib
from email.message import EmailMessage
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from channels.mssante.config import XdmLimits
from channels.mssante.mime import MAX_PARTS, MailError, parse_mail
from channels.mssante.receipts import (
    build_mdn,
    delivery_id_of,
    outgoing_message_id,
    read_receipt,
)
from channels.mssante.unpack import documents_of
from engine.formats.cda import CDA_CONTENT_TYPE
from engine.message import new_id
from tests.channels.mssante.builders import cda, mail, our_xdm

BIG = 10 * 1024 * 1024
GOOD = mail(xdm=our_xdm(cda()), message_id="<good@lab.test.mssante.fr>", read_receipt=True)


def test_a_good_mail_is_read_with_its_headers_and_attachments() -> None:
    parsed = parse_mail(GOOD, max_size=BIG)
    assert parsed.message_id == "<good@lab.test.mssante.fr>"
    assert (parsed.sender, parsed.recipients) == (
        "lab@test.mssante.fr",
        ("passerelle@hopital.test.mssante.fr",),
    )
    assert parsed.mss_headers == {
        "x-mss-codecda": "11502-2",
        "x-mss-ins": "O",
        "x-mss-nil": "TEST-LIS-1.0",
    }
    assert parsed.notification_to == "lab@test.mssante.fr"
    assert parsed.xdm is not None and parsed.xdm.filename == "IHE_XDM.ZIP"
    assert [p.filename for p in parsed.pdfs] == ["CR.pdf"]
    (message,) = documents_of(parsed, XdmLimits(), strict=False)
    assert message.content_type == CDA_CONTENT_TYPE and message.raw == cda()
    assert message.key == "<good@lab.test.mssante.fr>#1.2.250.1.999.1.1.1^DOC0001"
    assert message.metadata["xdm.document"] == "1/1"
    assert message.metadata["mssante.mdn_requested"] == "true"


def latin1_header() -> bytes:
    return GOOD.replace(b"Subject: XDM/1.0/DDM+Compte rendu", b"Subject: R\xe9sultat")


def bad_charset() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "a@test.mssante.fr", "<cs@x>"
    msg.set_content("résultat", charset="utf-8")
    msg.replace_header("Content-Type", 'text/plain; charset="x-klingon"')
    return msg.as_bytes()


def undecodable() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "a@test.mssante.fr", "<ud@x>"
    msg.set_content(b"r\xe9sultat \xff\xfe", maintype="text", subtype="plain", cte="8bit")
    msg.replace_header("Content-Type", 'text/plain; charset="utf-8"')
    return msg.as_bytes()


def too_many_parts() -> bytes:
    msg = EmailMessage()
    msg["From"], msg["Message-ID"] = "a@test.mssante.fr", "<many@x>"
    msg.set_content("x")
    for n in range(MAX_PARTS + 1):
        msg.add_attachment(b"x", maintype="application", subtype="octet-stream", filename=f"{n}")
    return msg.as_bytes()


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (GOOD, "exceeds the limit"),
        (latin1_header(), "Subject header is not valid UTF-8"),
        (bad_charset(), "unknown charset"),
        (undecodable(), "does not decode as its declared charset utf-8"),
        (too_many_parts(), f"more than {MAX_PARTS} MIME parts"),
        (b"", "no headers"),
    ],
)
def test_unusable_mails_are_refused_with_a_reason(raw: bytes, reason: str) -> None:
    limit = 1000 if reason == "exceeds the limit" else BIG
    with pytest.raises(MailError, match=reason):
        parse_mail(raw, max_size=limit)


def test_a_mail_without_message_id_gets_a_stable_one() -> None:
    raw = GOOD.replace(b"Message-ID: <good@lab.test.mssante.fr>\n", b"")
    first, second = parse_mail(raw, max_size=BIG), parse_mail(raw, max_size=BIG)
    assert first.message_id == second.message_id
    assert first.message_id.endswith("@no-message-id.invalid>")


@pytest.mark.parametrize(
    ("xdm", "reason"),
    [(None, "no IHE_XDM.ZIP"), (b"PK\x05\x06" + b"\0" * 18, "IHE_XDM.ZIP refused")],
)
def test_document_mails_without_a_usable_xdm_are_refused(xdm: bytes | None, reason: str) -> None:
    parsed = parse_mail(mail(xdm=xdm), max_size=BIG)
    with pytest.raises(MailError, match=reason):
        documents_of(parsed, XdmLimits(), strict=False)


def test_a_malformed_cda_in_the_xdm_refuses_the_mail() -> None:
    parsed = parse_mail(mail(xdm=our_xdm(cda()).replace(b"x", b"x")), max_size=BIG)
    assert documents_of(parsed, XdmLimits(), strict=False)
    broken = parse_mail(
        mail(xdm=_replace_document(our_xdm(cda()), b"<ClinicalDocument><unclosed>")), max_size=BIG
    )
    with pytest.raises(MailError, match="document 1 of the XDM is unusable"):
        documents_of(broken, XdmLimits(), strict=False)


def _replace_document(xdm: bytes, content: bytes) -> bytes:
    from engine.formats.xdm import read_archive, write_archive

    files = read_archive(xdm)
    files["IHE_XDM/SUBSET01/DOC0001.XML"] = content
    return write_archive(files.items())


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise_anything_but_mail_error(raw: bytes) -> None:
    with contextlib.suppress(MailError):
        parse_mail(raw, max_size=BIG)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(GOOD) - 1), st.binary(min_size=1, max_size=40))
def test_corrupted_mails_never_raise_anything_but_mail_error(at: int, junk: bytes) -> None:
    raw = GOOD[:at] + junk + GOOD[at + len(junk) :]
    try:
        parsed = parse_mail(raw, max_size=BIG)
        documents_of(parsed, XdmLimits(), strict=False)
    except MailError:
        pass


def test_our_message_ids_are_stable_and_name_the_delivery() -> None:
    delivery = new_id()
    first = outgoing_message_id(delivery, "KEY", "hopital.test.mssante.fr")
    assert first == outgoing_message_id(delivery, "KEY", "hopital.test.mssante.fr")
    assert delivery_id_of(first) == delivery
    assert delivery_id_of("<someone-else@x>") == ""


@pytest.mark.parametrize("refusal", [None, "the mail has no IHE_XDM.ZIP attachment"])
def test_the_mdn_we_write_reads_back_as_a_receipt(refusal: str | None) -> None:
    original = parse_mail(GOOD, max_size=BIG)
    mdn = build_mdn(
        original, sender="bal@hopital.test.mssante.fr", reporting_ua="t", refusal=refusal
    )
    again = build_mdn(
        original, sender="bal@hopital.test.mssante.fr", reporting_ua="t", refusal=refusal
    )
    assert mdn["Message-ID"] == again["Message-ID"]
    assert mdn["To"] == "lab@test.mssante.fr" and mdn["In-Reply-To"] == original.message_id
    parsed = parse_mail(mdn.as_bytes(), max_size=BIG)
    receipt = read_receipt(parsed)
    assert receipt is not None and receipt.kind == "mdn"
    assert receipt.original_message_id == original.message_id
    if refusal is None:
        assert (receipt.status, receipt.detail) == ("processed", "")
    else:
        assert receipt.status == "processed/error"
        assert receipt.detail.startswith("207^the mail has no IHE_XDM.ZIP attachment^")
        coded = build_mdn(
            original, sender="b@h.test.mssante.fr", reporting_ua="t", refusal=refusal, code="205"
        )
        assert str(coded["Subject"]).startswith("[KO Intégration système !][205]")
        assert "processed/Error: 205^" in coded.as_string()
    # the original attachments travel back with the MDN
    assert {a.filename for a in parsed.attachments} == {"IHE_XDM.ZIP", "CR.pdf"}


def test_a_plain_mail_is_not_a_receipt() -> None:
    assert read_receipt(parse_mail(GOOD, max_size=BIG)) is None


def test_the_sample_cda_passes_the_french_header_rules() -> None:
    from engine.formats.cda import check_header, read_cda

    doc = read_cda((Path(__file__).parents[3] / "samples/mssante/cr_bio.xml").read_bytes())
    assert [str(f) for f in check_header(doc.header, doc.level)] == []


def test_the_sample_mail_unpacks_to_the_sample_cda() -> None:
    samples = Path(__file__).resolve().parents[3] / "samples" / "mssante"
    parsed = parse_mail((samples / "cr_bio_xdm.eml").read_bytes(), max_size=BIG)
    (message,) = documents_of(parsed, XdmLimits(), strict=True)
    assert message.raw == (samples / "cr_bio.xml").read_bytes()
    assert message.metadata["mssante.x_mss_ins"] == "O"
    assert message.metadata["cda.type_code"] == "11502-2"
