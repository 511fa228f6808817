"""The simulator's store: C-FIND matching rules (PS3.4 C.2.2.2), retrieval sets, folder persistence."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomdoctor.sim.seed import synthetic_instances
from dicomdoctor.sim.store import (EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, InstanceStore, QueryError,
                                   decode_dataset, encode_dataset, make_identifier)


@pytest.fixture(scope="module")
def store() -> InstanceStore:
    s = InstanceStore()
    s.seed(14)  # patients SIM0001 (6 instances), SIM0002 (6), SIM0003 (2)
    return s


def q(store: InstanceStore, level: str, model: str = "study", **keys: object) -> list:
    return store.query(level, make_identifier(level, keys), model)


def test_seed_is_synthetic_and_deterministic(store: InstanceStore) -> None:
    names = {str(i.header.PatientName) for i in store}
    assert names == {"DOE^SYNTHETIC1", "DOE^SYNTHETIC2", "DOE^SYNTHETIC3"}
    other = InstanceStore()
    other.seed(14)
    assert [i.sop_instance_uid for i in other] == [i.sop_instance_uid for i in store]


def test_universal_matching_patient_root(store: InstanceStore) -> None:
    got = q(store, "PATIENT", "patient", PatientID="", PatientName="")
    assert [str(m.identifier.PatientID) for m in got] == ["SIM0001", "SIM0002", "SIM0003"]
    assert all(m.identifier.QueryRetrieveLevel == "PATIENT" for m in got)


def test_study_root_has_no_patient_level(store: InstanceStore) -> None:
    with pytest.raises(QueryError) as info:
        q(store, "PATIENT", "study", PatientID="")
    assert info.value.status == 0xA900


def test_bad_level(store: InstanceStore) -> None:
    with pytest.raises(QueryError):
        q(store, "FRAME", PatientID="")


def test_single_value_and_wildcards(store: InstanceStore) -> None:
    assert len(q(store, "STUDY", PatientID="SIM0002", StudyInstanceUID="")) == 1
    assert len(q(store, "STUDY", PatientID="SIM000?", StudyInstanceUID="")) == 3
    assert len(q(store, "STUDY", PatientID="SIM*", StudyInstanceUID="")) == 3
    assert len(q(store, "STUDY", PatientID="SIM", StudyInstanceUID="")) == 0
    assert len(q(store, "STUDY", PatientName="doe^synthetic3")) == 1  # PN: case-insensitive
    assert len(q(store, "STUDY", PatientName="*THETIC1")) == 1


def test_date_ranges(store: InstanceStore) -> None:
    # studies are dated 20240115, 20240215, 20240315
    assert len(q(store, "STUDY", StudyDate="20240201-20240331")) == 2
    assert len(q(store, "STUDY", StudyDate="-20240115")) == 1
    assert len(q(store, "STUDY", StudyDate="20240301-")) == 1
    assert len(q(store, "STUDY", StudyDate="20240215")) == 1
    assert len(q(store, "STUDY", StudyTime="0900-1000")) == 3
    assert len(q(store, "STUDY", StudyTime="1000-")) == 0


def test_uid_list_matching(store: InstanceStore) -> None:
    uids = [str(m.identifier.StudyInstanceUID) for m in q(store, "STUDY", StudyInstanceUID="")]
    got = q(store, "STUDY", StudyInstanceUID=uids[:2])
    assert [str(m.identifier.StudyInstanceUID) for m in got] == uids[:2]


def test_return_keys_and_computed_attributes(store: InstanceStore) -> None:
    (m,) = q(store, "STUDY", PatientID="SIM0001", ModalitiesInStudy="", NumberOfStudyRelatedInstances="",
             NumberOfStudyRelatedSeries="", StudyDescription="", InstitutionalDepartmentName="")
    ident = m.identifier
    assert list(ident.ModalitiesInStudy) == ["CT", "MR"]
    assert ident.NumberOfStudyRelatedInstances == 6
    assert ident.NumberOfStudyRelatedSeries == 2
    assert ident.StudyDescription == "SYNTHETIC TEST STUDY"
    assert "InstitutionalDepartmentName" in ident and not ident.InstitutionalDepartmentName  # asked for, absent: zero length
    assert "StudyInstanceUID" in ident  # the level's unique key comes back even when not asked for
    assert len(m.instances) == 6


def test_modalities_in_study_matches_any(store: InstanceStore) -> None:
    assert len(q(store, "STUDY", ModalitiesInStudy="MR")) == 2  # SIM0003 has only CT
    assert len(q(store, "STUDY", ModalitiesInStudy=["US", "CT"])) == 3
    assert len(q(store, "STUDY", ModalitiesInStudy="US")) == 0


def test_series_and_image_levels(store: InstanceStore) -> None:
    assert len(q(store, "SERIES", Modality="CT", SeriesInstanceUID="")) == 3
    assert len(q(store, "IMAGE", PatientID="SIM0001", SOPInstanceUID="")) == 6
    assert len(q(store, "IMAGE", InstanceNumber="2")) == 5  # 2 series in SIM0001/2, 1 in SIM0003


def test_retrieve(store: InstanceStore) -> None:
    assert len(store.retrieve("PATIENT", make_identifier("PATIENT", {"PatientID": "SIM0001"}), "patient")) == 6
    series = q(store, "SERIES", PatientID="SIM0002", Modality="MR", SeriesInstanceUID="")
    uid = series[0].identifier.SeriesInstanceUID
    assert len(store.retrieve("SERIES", make_identifier("SERIES", {"SeriesInstanceUID": uid}))) == 3
    assert store.retrieve("STUDY", make_identifier("STUDY", {"StudyInstanceUID": "1.2.3"})) == []


@pytest.mark.parametrize("ts", [IMPLICIT_LE, EXPLICIT_LE, EXPLICIT_BE, "1.2.840.10008.1.2.1.99"])
def test_encode_decode_round_trip(ts: str) -> None:
    ds = next(synthetic_instances(1))
    back = decode_dataset(encode_dataset(ds, ts), ts, header_only=False)
    assert back.SOPInstanceUID == ds.SOPInstanceUID and back.PixelData == ds.PixelData


def test_add_rejects_unparseable() -> None:
    with pytest.raises(ValueError):
        InstanceStore().add(b"\x08\x00\x18\x00\xff\xff\xff\x7f", IMPLICIT_LE)


def test_folder_store_persists(tmp_path: Path) -> None:
    s = InstanceStore(tmp_path)
    s.seed(3)
    files = sorted(tmp_path.glob("*.dcm"))
    assert len(files) == 3
    import pydicom

    assert pydicom.dcmread(files[0]).PatientID == "SIM0001"  # real Part-10 files any tool can read
    again = InstanceStore(tmp_path)
    assert len(again) == 3
    first = next(iter(s))
    reloaded = {i.sop_instance_uid: i for i in again}[first.sop_instance_uid]
    assert reloaded.dataset_bytes() == first.dataset_bytes()
