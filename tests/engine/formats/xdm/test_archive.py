"""The decompression budget of received ZIP archives, measured in inflated bytes.

Refusals that the central directory allows are made before inflating anything, so the
counter (:func:`count_inflated`) stays at 0; lying sizes cannot make it inflate more than
what the directory declares.
"""

from __future__ import annotations

import io
import struct
import zipfile

import pytest

from engine.formats.xdm.archive import XdmError, ZipLimits, count_inflated, read_archive

MIB = 1024 * 1024


def zip_of(entries: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in entries:
            archive.writestr(name, content)
    return buffer.getvalue()


def test_210_entries_of_1_mib_of_zeros_are_refused_before_inflating() -> None:
    # the probe's XDM: each entry stays under the per-entry ratio floor, the total does not
    bomb = zip_of([(f"IHE_XDM/SUBSET01/DOC{n:04d}.XML", bytes(MIB)) for n in range(210)])
    assert len(bomb) < 300_000
    with count_inflated() as counter, pytest.raises(XdmError) as refused:
        read_archive(bomb)
    assert refused.value.kind == "bomb"
    assert "archive budget" in str(refused.value)
    assert counter.inflated == 0


def test_the_cumulative_ratio_is_checked_before_inflating() -> None:
    # 100 x 512 KiB = 50 MiB: within the 200 MiB budget, but 1,000 times its compressed size
    bomb = zip_of([(f"DOC{n:03d}.XML", bytes(512 * 1024)) for n in range(100)])
    with count_inflated() as counter, pytest.raises(XdmError, match="in all") as refused:
        read_archive(bomb)
    assert refused.value.kind == "bomb" and counter.inflated == 0


def test_an_entry_declaring_more_than_its_limit_is_refused_before_inflating() -> None:
    archive = zip_of([("BIG.XML", bytes(3 * MIB))])
    with count_inflated() as counter, pytest.raises(XdmError, match="declares"):
        read_archive(archive, ZipLimits(max_entry_size=2 * MIB, max_ratio=10**6))
    assert counter.inflated == 0


def test_lying_sizes_never_inflate_past_what_the_directory_declares() -> None:
    archive = bytearray(zip_of([("DOC.XML", bytes(8 * MIB))]))
    central = archive.find(b"PK\x01\x02")
    struct.pack_into("<I", archive, central + 24, 1_000)  # uncompressed size: 1,000 bytes
    with count_inflated() as counter, pytest.raises(XdmError) as refused:
        read_archive(bytes(archive))
    assert refused.value.kind == "not-zip"  # the CRC of the truncated stream does not match
    assert counter.inflated <= 1_000


def test_an_ordinary_archive_is_read_and_metered() -> None:
    text = b"<ClinicalDocument>" + b"compte rendu " * 20_000 + b"</ClinicalDocument>"
    entries = [("IHE_XDM/SUBSET01/DOC0001.XML", text), ("README.TXT", b"lisez-moi")]
    with count_inflated() as counter:
        files = read_archive(zip_of(entries))
    assert files == dict(entries)
    assert counter.inflated == len(text) + len(b"lisez-moi")
