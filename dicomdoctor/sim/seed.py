"""Synthetic instances the simulator is preloaded with (`--seed N`): no real patient, ever.

The hierarchy is deterministic, so tests and users can ask for known keys: patient k is
PatientName `DOE^SYNTHETIC{k}`, PatientID `SIM{k:04d}`; each patient has one study of two series
(CT then MR) of up to three instances. UIDs are derived from the position under pydicom's UID root, so the
same N gives the same UIDs on every run.
"""

from __future__ import annotations

import datetime as dt
from typing import Iterator

from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from ..synthetic import make_instance

PER_SERIES = 3
SERIES_PER_STUDY = 2
PER_PATIENT = PER_SERIES * SERIES_PER_STUDY
ROWS = 32
_WHEN = dt.datetime(2024, 1, 15, 9, 30, 0)


def _uid(*parts: object) -> str:
    return str(generate_uid(entropy_srcs=["dicomdoctor-simulator", *map(str, parts)]))


def patient_of(index: int) -> tuple[str, str]:
    """(PatientName, PatientID) of the patient holding instance `index` (0-based)."""
    k = index // PER_PATIENT + 1
    return f"DOE^SYNTHETIC{k}", f"SIM{k:04d}"


def synthetic_instances(count: int) -> Iterator[Dataset]:
    """`count` synthetic CT/MR instances in a fixed patient/study/series hierarchy."""
    for i in range(max(0, count)):
        name, pid = patient_of(i)
        p = i // PER_PATIENT
        s = (i % PER_PATIENT) // PER_SERIES
        modality = "CT" if s == 0 else "MR"
        # Small images: the seed is about the hierarchy, and C-MOVE/C-GET of a whole study stays fast.
        ds = make_instance(modality, ROWS, ROWS, patient_id=pid, study_uid=_uid("study", p),
                           series_uid=_uid("series", p, s), sop_instance_uid=_uid("image", i),
                           instance_number=i % PER_SERIES + 1, series_number=s + 1, now=_WHEN)
        ds.PatientName = name
        ds.PatientBirthDate = "19700101"
        ds.PatientSex = "O"
        ds.StudyDate = f"2024{(p % 12) + 1:02d}15"
        ds.StudyTime = "093000"
        ds.StudyID = f"S{p + 1:04d}"
        ds.AccessionNumber = f"ACC{p + 1:05d}"
        ds.StudyDescription = "SYNTHETIC TEST STUDY"
        ds.ReferringPhysicianName = ""
        ds.SeriesDescription = f"SYNTHETIC {modality}"
        ds.Modality = modality
        yield ds
