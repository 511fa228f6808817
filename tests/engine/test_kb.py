"""The knowledge base: completeness against DESIGN.md, strict validation with file:line, status mapping and
product identification."""

from __future__ import annotations

from pathlib import Path

import pytest

from dicomdoctor.engine import model
from dicomdoctor.engine.datafiles import data_dir
from dicomdoctor.engine.kb import KnowledgeBase, clear_cache, identify_product, iter_texts, load_kb
from dicomdoctor.errors import BadInput

DESIGN_CAUSES = """server-not-running wrong-port firewall-reject listening-on-other-address firewall-drop
host-unreachable server-overloaded dns-failure not-dicom tls-unknown-ca tls-expired tls-hostname-mismatch
tls-client-cert-required peer-expects-tls peer-not-tls called-ae-not-recognized calling-ae-not-recognized
ae-title-invalid no-presentation-context abstract-syntax-not-supported transfer-syntax-not-supported
pdu-too-small pdu-length-violation malformed-pdu peer-aborted association-timeout dimse-timeout
too-many-associations move-destination-unknown move-connect-back-failed find-no-matches
store-missing-sop-class out-of-resources dataset-sop-mismatch cannot-understand slow-transfer""".split()
DESIGN_CHECKS = ["net.dns", "net.reachable", "tls.handshake", "assoc.ae-title", "assoc.presentation-contexts",
                 "assoc.pdu-length", "peer.identity", "dimse.echo", "dimse.find", "dimse.store", "dimse.move",
                 "dimse.get", "perf.throughput", "assoc.capacity", "capture.dimse"]
# Causes the checks in dicomdoctor/engine/checks report besides DESIGN.md's list.
EXTRA_CAUSES = ["tls-self-signed", "tls-not-yet-valid", "tls-protocol-mismatch", "listener-busy",
                "calling-ae-not-authorized", "calling-host-mismatch", "reject-no-reason",
                "application-context-not-supported", "user-identity-required", "role-selection-ignored",
                "unique-key-required", "character-set", "temporary-congestion"]


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load_kb("en")


def test_the_shipped_checks_directory_is_found() -> None:
    folder = data_dir("checks")
    assert folder.is_dir() and (folder / "net.reachable.yaml").is_file()
    with pytest.raises(ValueError):
        data_dir("nonsense")


def test_load_is_cached(kb: KnowledgeBase) -> None:
    assert load_kb("en") is kb


@pytest.mark.parametrize("cause_id", DESIGN_CAUSES + EXTRA_CAUSES)
def test_every_cause_exists_with_english_and_chinese_and_a_fix(kb: KnowledgeBase, cause_id: str) -> None:
    entry = kb.entry(cause_id)
    for text in (entry.title, entry.explanation, *entry.fixes):
        assert text.get("en") and text.get("zh")
        assert text["zh"] != text["en"]
    assert len(entry.fixes) >= 1
    assert entry.refs


def test_every_text_of_every_cause_is_translated(kb: KnowledgeBase) -> None:
    missing = [f"{cid}.{name}" for cid, name, text in iter_texts(kb) if not text.get("zh")]
    assert not missing
    # real Chinese, not a copy of the English
    for cid, name, text in iter_texts(kb):
        assert any("\u4e00" <= ch <= "\u9fff" for ch in text["zh"]), f"{cid}.{name}"


@pytest.mark.parametrize("check_id", DESIGN_CHECKS)
def test_every_design_check_has_its_yaml_file(kb: KnowledgeBase, check_id: str) -> None:
    assert (data_dir("checks") / f"{check_id}.yaml").is_file()
    assert kb.check_title(check_id, "en") and kb.check_title(check_id, "zh")
    assert kb.check_verifies(check_id, "zh")


def test_every_cause_is_reachable_from_a_check(kb: KnowledgeBase) -> None:
    reachable = {cid for check_id in kb.check_ids() for cid in kb.check(check_id).causes + kb.check(check_id).also}
    shared = {cid for cid in kb.all_cause_ids() if kb.entry(cid).check is None}
    assert shared <= reachable, shared - reachable


def test_cause_gives_the_model_cause_in_each_language(kb: KnowledgeBase) -> None:
    en = kb.cause("called-ae-not-recognized")
    zh = kb.cause("called-ae-not-recognized", "zh")
    assert isinstance(en, model.Cause) and en.id == zh.id
    assert "AE" in en.title and any("\u4e00" <= ch <= "\u9fff" for ch in zh.title)
    assert en.fixes and any("-aec" in fix for fix in en.fixes)
    assert en.refs == zh.refs
    assert kb.cause("called-ae-not-recognized", "fr").title == en.title  # unknown language -> English


def test_unknown_cause_is_bad_input_or_a_named_placeholder(kb: KnowledgeBase) -> None:
    with pytest.raises(BadInput, match="unknown cause id 'no-such-cause'"):
        kb.cause("no-such-cause")
    placeholder = kb.cause("no-such-cause", strict=False)
    assert placeholder.id == "no-such-cause" and "no knowledge-base entry" in placeholder.title


def test_causes_for_check(kb: KnowledgeBase) -> None:
    ids = [c.id for c in kb.causes_for_check("net.reachable")]
    assert ids[:4] == ["server-not-running", "wrong-port", "firewall-reject", "listening-on-other-address"]
    assert "not-dicom" in ids  # a shared cause listed under `also`
    with pytest.raises(BadInput):
        kb.check("no.such-check")


def test_concrete_fixes_name_real_settings(kb: KnowledgeBase) -> None:
    text = " ".join(f for cid in kb.all_cause_ids() for f in kb.cause(cid).fixes)
    for setting in ("DicomAet", "DicomCheckCalledAet", "DicomModalities", "DicomPort", "DicomAlwaysAllowEcho",
                    "AcceptedTransferSyntaxes", "UnknownSopClassAccepted", "DicomTlsEnabled", "MaximumPduLength",
                    "require_called_aet", "require_calling_aet", "maximum_pdu_size", "add_supported_context",
                    "dimse_timeout", "acse_timeout", "maximum_associations", "--max-pdulen-rcv", "-aec", "-pdu",
                    "AETable", "ss -ltnp", "nc -vz", "iptables"):
        assert setting in text, setting


@pytest.mark.parametrize("code,service,expected", [
    (0xA801, "c-move", "move-destination-unknown"),
    (0xA801, None, "move-destination-unknown"),
    (0xA700, "c-store", "out-of-resources"),
    (0xA7FF, "c-store", "out-of-resources"),
    (0xA900, "c-store", "dataset-sop-mismatch"),
    (0xA900, "c-find", "unique-key-required"),
    (0xA702, "c-move", "move-connect-back-failed"),
    (0xB000, "c-move", "move-connect-back-failed"),
    (0xC000, None, "cannot-understand"),
    (0xC511, "c-move", "cannot-understand"),
    (0x0110, None, "processing-failure"),
    (0x0124, None, "calling-ae-not-authorized"),
    (0x0107, "c-find", "attribute-list-error"),
    (0x0122, "c-store", "store-missing-sop-class"),  # the service's own rule beats the any-service ones
])
def test_status_maps_to_causes(kb: KnowledgeBase, code: int, service: str | None, expected: str) -> None:
    ranked = kb.causes_for_status(code, service)
    assert ranked and ranked[0][0] == expected, ranked[:3]


def test_statuses_without_a_problem_map_to_nothing(kb: KnowledgeBase) -> None:
    assert kb.causes_for_status(0x0000, None) == []
    assert kb.causes_for_status(0xFF00, "c-find") == []
    assert kb.causes_for_status(0xA801, "c-store") == []  # A801 is a C-MOVE code


@pytest.mark.parametrize("uid,version,toolkit,product_word,confidence", [
    ("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367", "DCMTK", "DCMTK", "medium"),
    ("1.2.826.0.1.3680043.9.3811.3.0.4", "PYNETDICOM_304", "pynetdicom", "pynetdicom", "high"),
    ("1.2.40.0.13.1.3", "dcm4che-5.29.2", "dcm4che", "dcm4che", "high"),
    ("1.3.6.1.4.1.30071.8", "fo-dicom 5.1.2", "fo-dicom", "fo-dicom", "high"),
    ("1.2.826.0.1.3680043.2.135.1066.101", "1.5.0/WIN32", "Conquest (dgate)", "Conquest", "high"),
    ("1.2.826.0.1.3680043.2.1143.107.104.103.115.3.0.24", "GDCM 3.0.24", "GDCM", "GDCM", "high"),
    ("2.25.196246733361222028215275816432568834074", "DICOMDOCTOR_01", "dicomdoctor", "dicomdoctor", "high"),
])
def test_identify_product(kb: KnowledgeBase, uid: str, version: str, toolkit: str, product_word: str,
                          confidence: str) -> None:
    guess = kb.identify_product(uid, version)
    assert guess["toolkit"] == toolkit
    assert product_word in guess["product"]
    assert guess["confidence"] == confidence
    assert set(guess) >= {"product", "toolkit", "confidence", "quirks", "note"}


def test_orthanc_is_identified_as_its_toolkit_and_said_so(kb: KnowledgeBase) -> None:
    # Orthanc 1.10.1 on loopback answers with DCMTK's items (recorded: echoscu -d against Orthanc 1.10.1).
    guess = kb.identify_product("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367")
    assert guess["toolkit"] == "DCMTK" and guess["version"] == "367"
    assert "Orthanc" in guess["note"] and "toolkit" not in guess["product"].lower()
    assert any("Orthanc" in q for q in guess["quirks"])
    zh = kb.identify_product("1.2.276.0.7230010.3.0.3.6.7", "OFFIS_DCMTK_367", "zh")
    assert "Orthanc" in zh["note"] and any("\u4e00" <= ch <= "\u9fff" for ch in zh["note"])


def test_identify_product_by_version_name_alone_and_unknown(kb: KnowledgeBase) -> None:
    guess = kb.identify_product(None, "PYNETDICOM_210")
    assert guess["toolkit"] == "pynetdicom" and guess["confidence"] == "medium" and guess["version"] == "210"
    unknown = kb.identify_product("1.2.3.4", "SOMETHING")
    assert unknown["product"] is None and unknown["confidence"] == "none"
    assert identify_product("1.3.6.1.4.1.30071.8", None)["toolkit"] == "fo-dicom"


# ------------------------------------------------------------------------------------------ validation

BASE = """check: net.dns
title: {en: DNS, zh: 域名}
verifies: {en: x, zh: y}
causes:
  - id: a-one
    title: {en: A, zh: 甲}
    explanation: {en: e, zh: 解}
    fixes:
      - {en: f, zh: 修}
"""


def _load(tmp_path: Path, text: str, name: str = "net.dns.yaml") -> KnowledgeBase:
    (tmp_path / name).write_text(text, encoding="utf-8")
    clear_cache()
    try:
        return load_kb(directory=tmp_path)
    finally:
        clear_cache()


def test_a_minimal_file_loads(tmp_path: Path) -> None:
    kb = _load(tmp_path, BASE + "    signatures: ['boom', '/bo+m/']\n    statuses: [{service: c-find, codes: [\"A7xx\"]}]\n")
    assert kb.all_cause_ids() == ["a-one"]
    assert kb.match_text("BOOOM")[0][0] == "a-one"
    assert kb.causes_for_status(0xA712, "c-find")[0][0] == "a-one"


@pytest.mark.parametrize("extra,message", [
    (BASE.split("causes:\n")[1], r"net\.dns\.yaml:10: duplicate cause id 'a-one' \(already defined at .*:5\)"),
    ("    colour: red\n", r":10: unknown key 'colour' in cause a-one"),
    ("    signatures: ['/a(b/']\n", r":10: signature '/a\(b/' is not a valid regex"),
    ("    signatures: [Connection Refused]\n", r":10: signature 'Connection Refused' must be lower-case"),
    ("  - id: [\n", r":1[01]: invalid YAML"),
    ("    title: {en: B}\n", r":10: duplicate key 'title' \(first at line 6\)"),
    ("    statuses: [{codes: [110]}]\n", r":10: status code 110 must be four hex digits"),
    ("    statuses: [{service: c-fetch, codes: [\"0110\"]}]\n", r":10: unknown service 'c-fetch'"),
    ("    prior: 7\n", r":10: cause a-one: prior must be a number from 0 to 1"),
])
def test_validation_errors_name_file_and_line(tmp_path: Path, extra: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        _load(tmp_path, BASE + extra)


@pytest.mark.parametrize("old,new,message", [
    ("    fixes:\n      - {en: f, zh: 修}\n", "", r":5: cause a-one lacks 'fixes'"),
    ("    fixes:\n      - {en: f, zh: 修}\n", "    fixes: []\n", r":8: cause a-one: fixes must not be empty"),
    ("    title: {en: A, zh: 甲}\n", "", r":5: cause a-one lacks 'title'"),
    ("{en: A, zh: 甲}", "{zh: 甲}", r":6: cause a-one: title lacks the English text 'en'"),
    ("causes:", "also: [nope]\ncauses:", r":4: check net.dns lists unknown cause 'nope'"),
    ("check: net.dns", "check: net.reachable", r":1: check 'net.reachable' must live in net.reachable.yaml"),
    ("  - id: a-one", "  - id: A_One", r":5: cause id 'A_One' must be lower-case"),
])
def test_missing_or_wrong_fields_are_reported(tmp_path: Path, old: str, new: str, message: str) -> None:
    with pytest.raises(BadInput, match=message):
        _load(tmp_path, BASE.replace(old, new))


def test_duplicate_ids_across_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "_shared.yaml").write_text("shared: true\ncauses:\n" + BASE.split("causes:\n")[1], encoding="utf-8")
    with pytest.raises(BadInput, match=r"duplicate cause id 'a-one' \(already defined at .*_shared\.yaml:3\)"):
        _load(tmp_path, BASE)


def test_missing_directory_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(BadInput, match="does not exist"):
        load_kb(directory=tmp_path / "nowhere")
