"""XDM archives: safety limits (bombs, traversal, links, encryption), the tolerant
METADATA.XML reader (the ANS sample's quirks), integrity checks, and our writer."""

from __future__ import annotations

import io
import stat
import zipfile

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.formats.xdm import XdmError, ZipLimits, read_archive, read_xdm, safe_name, write_archive
from engine.formats.xdm.metadata import read_metadata
from tests.channels.mssante.builders import ans_like_xdm, cda, our_xdm


def zip_of(*entries: tuple[str | zipfile.ZipInfo, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "name",
    ["../evil.xml", "/etc/passwd", "IHE_XDM/../../x", "C:\\Windows\\x", "a\\..\\..\\b", "a\x1fb"],
)
def test_unsafe_entry_names_refuse_the_archive(name: str) -> None:
    data = zip_of(("README.TXT", b"ok"), (name, b"x"))
    with pytest.raises(XdmError) as refused:
        read_archive(data)
    assert refused.value.kind == "unsafe-path"


def test_a_zip_bomb_is_stopped_by_the_ratio_and_size_limits() -> None:
    bomb = zip_of(("IHE_XDM/SUBSET01/DOC.XML", b"\0" * (8 * 1024 * 1024)))
    assert len(bomb) < 20_000
    with pytest.raises(XdmError) as by_ratio:
        read_archive(bomb)
    assert by_ratio.value.kind == "bomb"
    with pytest.raises(XdmError) as by_size:
        read_archive(bomb, ZipLimits(max_entry_size=1024 * 1024, max_ratio=10**6))
    assert by_size.value.kind == "bomb"
    many = zip_of(*((f"f{n}", b"x") for n in range(30)))
    with pytest.raises(XdmError, match="more than 20"):
        read_archive(many, ZipLimits(max_entries=20))


def test_links_encryption_duplicates_and_non_zips_are_refused() -> None:
    link = zipfile.ZipInfo("IHE_XDM/link")
    link.create_system = 3
    link.external_attr = (stat.S_IFLNK | 0o777) << 16
    with pytest.raises(XdmError, match="symbolic link"):
        read_archive(zip_of((link, b"/etc/passwd")))
    encrypted = bytearray(zip_of(("a.txt", b"secret")))
    encrypted[6] |= 0x1  # general purpose flag of the local header
    encrypted[encrypted.rfind(b"PK\x01\x02") + 8] |= 0x1  # and of the central directory
    with pytest.raises(XdmError) as enc:
        read_archive(bytes(encrypted))
    assert enc.value.kind == "encrypted"
    with pytest.raises(XdmError, match="same name"):
        read_archive(zip_of(("A.XML", b"1"), ("a.xml", b"2")))
    with pytest.raises(XdmError) as not_zip:
        read_archive(b"this is not a zip archive")
    assert not_zip.value.kind == "not-zip"


@given(st.text(min_size=1, max_size=40))
def test_safe_names_never_escape_the_archive(name: str) -> None:
    try:
        clean = safe_name(name)
    except XdmError:
        return
    parts = clean.split("/")
    assert ".." not in parts and "" not in parts and not clean.startswith("/")
    assert "\\" not in clean and ":" not in clean[1:2]


names = st.lists(
    st.text(
        st.characters(min_codepoint=32, max_codepoint=0x24F, exclude_characters="/\\"),
        min_size=1,
        max_size=12,
    ).filter(lambda p: p.strip(".")),
    min_size=1,
    max_size=6,
    unique_by=str.casefold,
)


@given(names, st.binary(max_size=200))
def test_what_we_write_reads_back_identically(parts: list[str], content: bytes) -> None:
    entries = [(f"dir/{p}", content + p.encode()) for p in parts]
    data = write_archive(entries)
    assert read_archive(data) == dict(entries)
    assert write_archive(entries) == data  # byte-identical: stable across retries


def test_the_ans_sample_layout_is_read() -> None:
    document = cda()
    package = read_xdm(ans_like_xdm(document))
    (doc,) = package.documents
    assert doc.content == document and doc.hash_ok and doc.size_ok
    assert doc.path == "KA202601/IHE_XDM/SS000001/CDA_1.XML"
    assert doc.entry.unique_id == "1.2.250.1.999.1.1.1^DOC0001"
    assert [s.path for s in package.signatures] == ["KA202601/IHE_XDM/SS000001/SIGN_1.XML"]
    assert package.submissions[0].unique_id == "1.2.250.1.999.4.1"
    assert package.warnings == ()


def test_our_package_has_the_xdm_layout_and_metadata() -> None:
    document = cda()
    data = our_xdm(document)
    names = zipfile.ZipFile(io.BytesIO(data)).namelist()
    assert names == [
        "INDEX.HTM",
        "README.TXT",
        "IHE_XDM/SUBSET01/METADATA.XML",
        "IHE_XDM/SUBSET01/DOC0001.XML",
    ]
    (entry,) = read_metadata(read_archive(data)["IHE_XDM/SUBSET01/METADATA.XML"]).entries
    assert (entry.uri, entry.mime_type, entry.type_code) == ("DOC0001.XML", "text/xml", "11502-2")
    assert entry.patient_id == "284057512301231^^^&1.2.250.1.213.1.4.10&ISO^NH"
    assert entry.size == len(document) and not entry.is_signature


def test_integrity_mismatch_warns_or_refuses_when_strict() -> None:
    files = read_archive(our_xdm(cda()))
    files["IHE_XDM/SUBSET01/DOC0001.XML"] = cda(extension="TAMPERED")
    tampered = write_archive(files.items())
    (doc,) = read_xdm(tampered).documents
    assert not doc.hash_ok and not doc.size_ok
    assert "hash differs" in read_xdm(tampered).warnings[0]
    with pytest.raises(XdmError) as strict:
        read_xdm(tampered, strict=True)
    assert strict.value.kind == "integrity"


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda f: f.pop("IHE_XDM/SUBSET01/METADATA.XML"), "no IHE_XDM"),
        (lambda f: f.pop("IHE_XDM/SUBSET01/DOC0001.XML"), "not in the archive"),
        (
            lambda f: f.update({"IHE_XDM/SUBSET01/METADATA.XML": b"<x/>"}),
            "not SubmitObjectsRequest",
        ),
        (
            lambda f: f.update(
                {"IHE_XDM/SUBSET01/METADATA.XML": b'<!DOCTYPE x [<!ENTITY a "b">]><x/>'}
            ),
            "DTD",
        ),
        (lambda f: f.update({"IHE_XDM/SUBSET01/METADATA.XML": b"<a><b></a>"}), "well-formed"),
    ],
)
def test_broken_packages_are_refused_with_a_reason(mutate: object, message: str) -> None:
    files = read_archive(our_xdm(cda()))
    mutate(files)  # type: ignore[operator]
    with pytest.raises(XdmError, match=message):
        read_xdm(write_archive(files.items()))
