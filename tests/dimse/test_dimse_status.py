"""The status catalogue: every entry, the range classes of PS3.7 Annex C, and evidence decoding."""

from __future__ import annotations

import pytest

from dicomdoctor.dimse import (
    CATEGORIES,
    SERVICES,
    CFindRSP,
    CMoveRSP,
    CStoreRSP,
    all_entries,
    category,
    decode_command,
    lookup,
    normalize_service,
    range_category,
    response_evidence,
)
from dicomdoctor.dimse.status import GENERAL, SERVICE_TABLES, VENDOR_NOTES

ALL = [(svc, e) for svc in (None, *SERVICES) for e in all_entries(svc)]


@pytest.mark.parametrize("svc, entry", ALL, ids=lambda x: x if isinstance(x, str) or x is None else x.hex)
def test_every_entry_is_well_formed(svc, entry) -> None:
    assert entry.category in CATEGORIES
    assert entry.name and entry.meaning.endswith(".")
    info = lookup(entry.code, svc)
    assert info.name == entry.name and info.category == entry.category and info.known
    # A service's own entries agree with the range class of Annex C, except the explicit general warnings.
    assert info.category == range_category(entry.code)


@pytest.mark.parametrize("code, cat", [
    (0x0000, "success"), (0xFF00, "pending"), (0xFF01, "pending"), (0xFE00, "cancel"),
    (0x0001, "warning"), (0x0107, "warning"), (0x0116, "warning"), (0xB000, "warning"), (0xBFFF, "warning"),
    (0xA000, "failure"), (0xAFFF, "failure"), (0xC000, "failure"), (0xCFFF, "failure"),
    (0x0105, "failure"), (0x0124, "failure"), (0x0210, "failure"), (0x0213, "failure"), (0x1234, "failure"),
])
def test_range_classes(code: int, cat: str) -> None:
    assert range_category(code) == cat
    assert category(code) == cat


@pytest.mark.parametrize("code, service, name", [
    (0xA700, "c-store", "Refused: out of resources"),
    (0xA7FF, "c-store", "Refused: out of resources"),
    (0xA9A0, "c-store", "Error: data set does not match SOP class"),
    (0xC123, "c-store", "Error: cannot understand"),
    (0xB000, "c-store", "Warning: coercion of data elements"),
    (0xB006, "c-store", "Warning: elements discarded"),
    (0xB007, "c-store", "Warning: data set does not match SOP class"),
    (0xA700, "c-find", "Refused: out of resources"),
    (0xA900, "c-find", "Identifier does not match SOP class"),
    (0xFF01, "c-find", "Pending (optional keys not supported)"),
    (0xA801, "c-move", "Refused: move destination unknown"),
    (0xA702, "c-get", "Refused: out of resources - unable to perform sub-operations"),
    (0xA701, "c-move", "Refused: out of resources - unable to calculate number of matches"),
    (0xB000, "c-get", "Warning: sub-operations complete - one or more failures or warnings"),
    (0xFE00, "c-move", "Cancel"),
    (0x0122, "c-find", "Refused: SOP class not supported"),  # general code, via fallback
    (0x0111, "n-create", "Duplicate SOP instance"),
    (0x0001, "n-create", "Warning: requested optional attributes not supported"),
])
def test_service_specific(code: int, service: str, name: str) -> None:
    assert lookup(code, service).name == name


def test_same_code_different_service() -> None:
    assert lookup(0xA801, "c-move").known
    unknown = lookup(0xA801, "c-get")  # destination unknown is C-MOVE only
    assert not unknown.known and unknown.name == "Unknown status 0xA801" and unknown.category == "failure"
    assert lookup(0xB000, "c-find").name == "Unknown status 0xB000"
    assert lookup(0xB000, "c-find").category == "warning"


def test_vendor_codes_carry_notes() -> None:
    for code in VENDOR_NOTES:
        info = lookup(code, "c-store")
        assert info.category == "failure" and info.vendor_notes
    assert "Conquest" in lookup(0xC004, "c-move").vendor_notes[0]
    general = lookup(0xC511)
    assert general.name.startswith("Failure: unable to process") and general.vendor_notes


def test_services_normalize() -> None:
    assert normalize_service("C-STORE") == normalize_service("c_store") == normalize_service("cstore") == "c-store"
    assert normalize_service("N-EVENT-REPORT") == "n-event-report"
    assert set(SERVICE_TABLES) == set(SERVICES)
    with pytest.raises(ValueError, match="c-echo"):
        lookup(0, "c-stor")


def test_general_table_covers_the_brief() -> None:
    codes = {e.lo for e in GENERAL}
    assert codes >= {0x0000, 0x0105, 0x0106, 0x0107, 0x0110, 0x0111, 0x0112, 0x0113, 0x0114, 0x0115,
                     0x0116, 0x0117, 0x0118, 0x0119, 0x0120, 0x0121, 0x0122, 0x0123, 0x0124, 0x0210,
                     0x0211, 0x0212, 0x0213, 0xFE00}


PYNETDICOM_TABLES = {None: "GENERAL_STATUS", "c-echo": "VERIFICATION_SERVICE_CLASS_STATUS",
                     "c-store": "STORAGE_SERVICE_CLASS_STATUS", "c-find": "QR_FIND_SERVICE_CLASS_STATUS",
                     "c-move": "QR_MOVE_SERVICE_CLASS_STATUS", "c-get": "QR_GET_SERVICE_CLASS_STATUS"}


@pytest.mark.parametrize("service", list(PYNETDICOM_TABLES))
def test_categories_agree_with_pynetdicom(service) -> None:
    status = pytest.importorskip("pynetdicom.status")
    table = getattr(status, PYNETDICOM_TABLES[service])
    for code, (cat, _desc) in table.items():
        assert category(code, service) == cat.lower(), f"0x{code:04X} for {service}"


def test_evidence_from_message() -> None:
    rsp = CFindRSP(status=0xA900, offending_element=(0x00080052, 0x00100020), error_comment="level missing")
    ev = response_evidence(rsp)
    assert ev["status"] == 0xA900 and ev["status_hex"] == "0xA900" and ev["category"] == "failure"
    assert ev["status_name"] == "Identifier does not match SOP class"
    assert ev["error_comment"] == "level missing"
    assert ev["offending_elements"][0] == {"tag": "(0008,0052)", "keyword": "QueryRetrieveLevel",
                                           "name": "Query/Retrieve Level"}
    assert ev["offending_elements"][1]["keyword"] == "PatientID"
    move = response_evidence(CMoveRSP(status=0xB000, number_of_completed_suboperations=3,
                                      number_of_failed_suboperations=1, number_of_remaining_suboperations=0))
    assert (move["completed"], move["failed"], move["remaining"]) == (3, 1, 0)
    assert "warning" not in move  # absent counters are not invented


def test_evidence_from_command_set_and_missing_status() -> None:
    raw = CStoreRSP(status=0xC211, error_id=7).to_command_bytes()
    ev = response_evidence(decode_command(raw), "c-store")
    assert ev["status_name"] == "Error: cannot understand" and ev["error_id"] == 7 and ev["vendor_notes"]
    no_status = CStoreRSP(missing=(0x00000900,))
    ev = response_evidence(no_status)
    assert ev["status"] is None and ev["category"] == "failure"
