"""Synthetic, clearly-marked DICOM test instances (pure: no I/O).

dicomdoctor writes to PACS only when a playbook asks (store, throughput). What it writes must never be
mistaken for a patient: every instance here has PatientName "DICOMDOCTOR^SYNTHETIC", a "DD-TEST-" patient
ID, a comment saying it is a dicomdoctor test object, fresh UIDs from pydicom's `generate_uid`, and a
plain gradient as pixel data. The modules are the minimal ones a Storage SCP that validates will accept
(Patient, General Study/Series/Equipment, General Image, Image Pixel, SOP Common, and the modality's own).
"""

from __future__ import annotations

import datetime as _dt
from io import BytesIO

from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import ExplicitVRLittleEndian, UID, generate_uid

from . import __version__

SYNTHETIC_PATIENT_NAME = "DICOMDOCTOR^SYNTHETIC"
SYNTHETIC_COMMENT = "dicomdoctor synthetic test object - not patient data - safe to delete"
# Same as dicomdoctor.ul.pdu.IMPLEMENTATION_CLASS_UID; repeated so this top-level module imports no layer.
IMPLEMENTATION_CLASS_UID = "2.25.196246733361222028215275816432568834074"
IMPLEMENTATION_VERSION_NAME = "DICOMDOCTOR_01"

# Short names -> (SOP Class UID, Modality). Keywords ("CTImageStorage") and UIDs are accepted too.
SOP_CLASSES: dict[str, tuple[str, str]] = {
    "CT": ("1.2.840.10008.5.1.4.1.1.2", "CT"),
    "MR": ("1.2.840.10008.5.1.4.1.1.4", "MR"),
    "SC": ("1.2.840.10008.5.1.4.1.1.7", "OT"),
    "CR": ("1.2.840.10008.5.1.4.1.1.1", "CR"),
    "DX": ("1.2.840.10008.5.1.4.1.1.1.1", "DX"),
    "US": ("1.2.840.10008.5.1.4.1.1.6.1", "US"),
    "NM": ("1.2.840.10008.5.1.4.1.1.20", "NM"),
    "PT": ("1.2.840.10008.5.1.4.1.1.128", "PT"),
}


def _resolve(sop_class: str) -> tuple[str, str]:
    key = sop_class.upper()
    if key in SOP_CLASSES:
        return SOP_CLASSES[key]
    if sop_class[:1].isdigit():
        uid = UID(sop_class)
    else:
        from pydicom.uid import UID_dictionary

        matches = [u for u, entry in UID_dictionary.items() if entry[4] == sop_class]
        if not matches:
            raise ValueError(f"unknown SOP class {sop_class!r}: use {', '.join(SOP_CLASSES)}, a keyword or a UID")
        uid = UID(matches[0])
    modality = next((m for u, m in SOP_CLASSES.values() if u == uid), "OT")
    return str(uid), modality


def _pixels(rows: int, cols: int, bits: int) -> bytes:
    """A diagonal gradient: obviously artificial, deterministic, and built per row (fast for 512x512)."""
    if bits == 8:
        row = bytes(c & 0xFF for c in range(cols))
        return b"".join(row[r % cols:] + row[:r % cols] for r in range(rows))
    row16 = b"".join(((c * 4) & 0x0FFF).to_bytes(2, "little") for c in range(cols))
    out = []
    for r in range(rows):
        shift = 2 * (r % cols)
        out.append(row16[shift:] + row16[:shift])
    return b"".join(out)


def make_instance(sop_class: str = "CT", rows: int = 512, cols: int = 512, *,
                  patient_id: str = "DD-TEST-0001", study_uid: str | None = None,
                  series_uid: str | None = None, sop_instance_uid: str | None = None,
                  instance_number: int = 1, series_number: int = 1, accession_number: str = "DDTEST",
                  modality: str | None = None, now: _dt.datetime | None = None) -> Dataset:
    """A synthetic instance of ``sop_class`` ("CT", "MR", "SC", "CR", "DX", "US", "NM", "PT", a pydicom
    keyword or a UID). ``modality`` is accepted as an alias of ``sop_class`` ("CT"/"MR"...). ``now`` fixes
    the dates (tests); by default the current time is used for content dates."""
    if modality is not None and sop_class == "CT":
        sop_class = modality
    if rows < 1 or cols < 1:
        raise ValueError("rows and cols must be positive")
    class_uid, mod = _resolve(sop_class)
    when = now or _dt.datetime.now()
    date, time = when.strftime("%Y%m%d"), when.strftime("%H%M%S")
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.SOPClassUID = class_uid
    ds.SOPInstanceUID = sop_instance_uid or generate_uid()
    ds.InstanceCreationDate, ds.InstanceCreationTime = date, time
    ds.StudyDate = ds.SeriesDate = ds.ContentDate = date
    ds.StudyTime = ds.SeriesTime = ds.ContentTime = time
    ds.AccessionNumber = accession_number
    ds.Modality = mod
    ds.Manufacturer = "dicomdoctor"
    ds.InstitutionName = "dicomdoctor synthetic"
    ds.ReferringPhysicianName = ""
    ds.StudyDescription = "DICOMDOCTOR SYNTHETIC TEST"
    ds.SeriesDescription = "DICOMDOCTOR SYNTHETIC TEST"
    ds.ManufacturerModelName = "dicomdoctor"
    ds.SoftwareVersions = __version__
    ds.PatientName = SYNTHETIC_PATIENT_NAME
    ds.PatientID = patient_id
    ds.PatientBirthDate = ""
    ds.PatientSex = "O"
    ds.PatientComments = SYNTHETIC_COMMENT
    ds.ImageComments = SYNTHETIC_COMMENT
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    ds.StudyID = "DDTEST"
    ds.SeriesNumber = series_number
    ds.InstanceNumber = instance_number
    ds.PatientOrientation = ""
    ds.ImageType = ["DERIVED", "SECONDARY"] if mod == "OT" else ["ORIGINAL", "PRIMARY", "AXIAL"]
    if mod == "OT":
        ds.ConversionType = "WSD"  # SC Equipment module: workstation
    if mod in ("CT", "MR", "NM", "PT"):
        # Frame of Reference + Image Plane, required for cross-sectional images.
        ds.FrameOfReferenceUID = generate_uid()
        ds.PositionReferenceIndicator = ""
        ds.ImagePositionPatient = [0, 0, float(instance_number)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing = [0.5, 0.5]
        ds.SliceThickness = 1.0
    if mod == "CT":
        ds.KVP = 120
        ds.RescaleIntercept = -1024
        ds.RescaleSlope = 1
        ds.AcquisitionNumber = 1
    elif mod == "MR":
        ds.ScanningSequence = "SE"
        ds.SequenceVariant = "NONE"
        ds.ScanOptions = ""
        ds.MRAcquisitionType = "2D"
        ds.EchoTime = 10
        ds.RepetitionTime = 500
        ds.EchoTrainLength = 1
        ds.MagneticFieldStrength = 1.5
    elif mod in ("CR", "DX"):
        ds.PresentationIntentType = "FOR PRESENTATION" if mod == "DX" else None
        ds.BodyPartExamined = "PHANTOM"
    bits = 8 if mod in ("OT", "US") else 16
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = rows, cols
    ds.BitsAllocated = bits
    ds.BitsStored = 8 if bits == 8 else 12
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = _pixels(rows, cols, bits)
    ds["PixelData"].VR = "OB" if bits == 8 else "OW"
    if "PresentationIntentType" in ds and ds.PresentationIntentType is None:
        del ds.PresentationIntentType
    return ds


def file_meta_for(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = UID(transfer_syntax)
    meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
    return meta


def to_part10_bytes(ds: Dataset, transfer_syntax: str = ExplicitVRLittleEndian) -> bytes:
    """The instance as a Part 10 file (preamble, DICM, File Meta, data set) in an uncompressed syntax."""
    out = Dataset(ds)
    out.file_meta = file_meta_for(ds, transfer_syntax)
    buf = BytesIO()
    dcmwrite(buf, out, enforce_file_format=True)
    return buf.getvalue()
