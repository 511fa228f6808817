"""Part 10 header parsing over files pydicom writes; the fallback encoder; synthetic instances."""

from __future__ import annotations

import zlib
from io import BytesIO

import pydicom
import pytest
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
)

from dicomdoctor.dimse import Part10Error, Part10NeedMore, encode_dataset, parse_part10_header
from dicomdoctor.synthetic import SYNTHETIC_COMMENT, SYNTHETIC_PATIENT_NAME, make_instance, to_part10_bytes

SYNTAXES = [ExplicitVRLittleEndian, ImplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian]


@pytest.fixture(scope="module")
def ct():
    return make_instance("CT", 16, 16, patient_id="DD-TEST-0042")


@pytest.mark.parametrize("ts", SYNTAXES, ids=lambda t: t.name)
def test_header_of_files_pydicom_writes(ct, ts) -> None:
    raw = to_part10_bytes(ct, ts)
    info = parse_part10_header(raw[:2048])
    assert info.transfer_syntax == ts
    assert info.sop_class_uid == ct.SOPClassUID and info.sop_instance_uid == ct.SOPInstanceUID
    assert info.implementation_version_name == "DICOMDOCTOR_01"
    # the bytes after dataset_offset are the data set, and pydicom reads them as such
    body = raw[info.dataset_offset:]
    if ts == DeflatedExplicitVRLittleEndian:
        body = zlib.decompress(body, -15)
        assert zlib.decompress(encode_dataset(ct, ts), -15).rstrip(b"\x00") == body.rstrip(b"\x00")
    else:
        assert encode_dataset(ct, ts) == body  # streaming as-is == re-encoding
    read = pydicom.dcmread(BytesIO(raw))
    assert read.SOPInstanceUID == ct.SOPInstanceUID


def test_header_needs_more_bytes(ct) -> None:
    raw = to_part10_bytes(ct)
    info = parse_part10_header(raw)
    for cut in (0, 100, 131, 140, info.dataset_offset - 1):
        with pytest.raises(Part10NeedMore) as exc:
            parse_part10_header(raw[:cut])
        assert exc.value.needed > cut
    # a file that is only its header: empty data set
    assert parse_part10_header(raw[:info.dataset_offset]).dataset_offset == info.dataset_offset


@pytest.mark.parametrize("raw, needle", [
    (b"\x00" * 128 + b"NOPE" + b"\x00" * 20, "no 'DICM' at offset 128"),
    (b"DICM" + b"\x00" * 200, "without the 128-byte preamble"),
    (b"GIF89a" + b"\x00" * 126 + b"DICX", "no 'DICM'"),
    (b"\x00" * 128 + b"DICM" + bytes.fromhex("02000200") + b"UI" + b"\x04\x00" + b"1.2\x00"
     + bytes.fromhex("08000500") + b"CS\x00\x00", r"no \(0002,0010\) Transfer Syntax UID"),
    (b"\x00" * 128 + b"DICM" + bytes.fromhex("02000100") + b"OB\x00\x00" + b"\xff\xff\xff\xff",
     "undefined length"),
    (b"\x00" * 128 + b"DICM" + bytes.fromhex("02000100") + b"OB\x00\x00" + b"\x00\x00\x10\x00",
     "runs past"),
], ids=["no-magic", "no-preamble", "gif", "no-ts", "undefined-length", "huge-meta"])
def test_not_dicom(raw: bytes, needle: str) -> None:
    with pytest.raises(Part10Error, match=needle):
        parse_part10_header(raw)


def test_short_non_dicom_is_rejected_early() -> None:
    with pytest.raises(Part10Error, match="no 'DICM'") as exc:
        parse_part10_header(b"\x00" * 128 + b"XY")
    assert not isinstance(exc.value, Part10NeedMore)


def test_encode_dataset_strips_file_meta_and_refuses_transcoding(ct) -> None:
    ds = pydicom.dcmread(BytesIO(to_part10_bytes(ct)))
    ds.add_new(0x00020010, "UI", ExplicitVRLittleEndian)  # a group 2 element in the data set itself
    assert b"\x02\x00\x10\x00" not in encode_dataset(ds, ImplicitVRLittleEndian)[:8]
    with pytest.raises(ValueError, match="cannot transcode"):
        encode_dataset(ct, JPEGBaseline8Bit)


@pytest.mark.parametrize("kind", ["CT", "MR", "SC", "CR", "DX", "US", "NM", "PT", "CTImageStorage",
                                  "1.2.840.10008.5.1.4.1.1.4"])
def test_synthetic_instances_are_marked_and_valid(kind: str) -> None:
    ds = make_instance(kind, 8, 6, patient_id="DD-TEST-0007")
    assert ds.PatientName == SYNTHETIC_PATIENT_NAME and ds.PatientID == "DD-TEST-0007"
    assert ds.ImageComments == SYNTHETIC_COMMENT
    assert ds.SOPInstanceUID.startswith(pydicom.uid.PYDICOM_ROOT_UID)
    assert len(ds.PixelData) == 8 * 6 * ds.BitsAllocated // 8
    back = pydicom.dcmread(BytesIO(to_part10_bytes(ds)))
    assert back.Rows == 8 and back.Columns == 6 and back.SOPClassUID == ds.SOPClassUID


def test_synthetic_shared_hierarchy_and_alias() -> None:
    a = make_instance("CT", 4, 4, study_uid="1.2.3", series_uid="1.2.3.4", instance_number=1)
    b = make_instance("CT", 4, 4, study_uid="1.2.3", series_uid="1.2.3.4", instance_number=2)
    assert a.StudyInstanceUID == b.StudyInstanceUID and a.SOPInstanceUID != b.SOPInstanceUID
    assert make_instance(modality="MR", rows=2, cols=2).Modality == "MR"  # sim/seed.py calls it so
    with pytest.raises(ValueError, match="unknown SOP class"):
        make_instance("NotAClass")
