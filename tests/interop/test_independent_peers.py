"""The doctor against DICOM implementations that share no code with dcmtk, pynetdicom or Orthanc: PixelMed (Java,
Debian pixelmed-apps) and dcmjs-dimse (Node.js, tests/peers_js). Each SCP runs on loopback in one chosen fault;
`diagnose` / `echo` / `store` must give the verdict and the first cause that fault deserves, and name the
product. Their SCUs must work against our simulator (`dicomdoctor simulate`).

Tests marked xfail(strict=True) are diagnoses the doctor gets wrong today; each reason says what it says now
and what it should say. Remove the mark when the judgement is fixed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from dicomdoctor.cli import main
import peers

pytestmark = pytest.mark.interop

VERIFICATION = "1.2.840.10008.1.1"
CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
IMPLICIT_LE = "1.2.840.10008.1.2"
EXPLICIT_LE = "1.2.840.10008.1.2.1"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
PRIVATE_SOP = "1.2.826.0.1.3680043.9.9999.1"  # a SOP class no peer knows
CT_ONLY_AS_J2K = ["--set", "assoc.presentation-contexts.abstract_syntaxes=[CTImageStorage]",
                  "--set", "assoc.presentation-contexts.transfer_syntaxes=[JPEG2000Lossless]"]
PIXELMED_PRODUCT = "PixelMed Java DICOM Toolkit"
DCMJS_PRODUCT = "dcmjs-dimse"


# ------------------------------------------------------------------------------------------------ helpers


Run = peers.DoctorRun


@pytest.fixture
def doctor(capsys: pytest.CaptureFixture[str]) -> Callable[..., Run]:
    """`doctor("diagnose", target, *options)` -> Run (in-process, JSON report). --timeout 15 is a safety net for a
    loaded machine (a JVM peer is slow to answer its first associations); no assert depends on time."""

    def run(*argv: str) -> Run:
        capsys.readouterr()
        rc = main([*argv, "--format", "json", "--timeout", "15"])
        out = capsys.readouterr().out
        return Run(rc, json.loads(out))

    return run


class _Started:
    def __init__(self, start: Callable[..., peers.Peer]) -> None:
        self.start = start
        self.started: list[peers.Peer] = []

    def __call__(self, *args: Any, **kwargs: Any) -> peers.Peer:
        peer = self.start(*args, **kwargs)
        self.started.append(peer)
        return peer

    def stop_all(self) -> None:
        for peer in reversed(self.started):
            peer.stop()


@pytest.fixture(scope="module")
def pixelmed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[peers.Peer]:
    """One PixelMed storage SCP (AE PIXELMED, uncompressed only) for the module: it has no fault switches, so
    every PixelMed case is a different request to the same server."""
    if not peers.pixelmed_available():
        pytest.skip("PixelMed (pixelmed-apps) or java is not installed")
    peer = peers.start_pixelmed_scp(tmp_path_factory.mktemp("pixelmed"))
    if os.access(peers.ECHOSCU, os.X_OK):
        # The JVM loads and compiles its association code on the first association: do that one here, with
        # generous timeouts, so that the doctor's own timeouts measure the server and not its warm-up.
        peers.run_dcmtk(peers.ECHOSCU, "-to", "60", "-ta", "60", "-td", "60", "-aec", peer.ae_title, peer.host,
                        str(peer.port), timeout=120)
    yield peer
    peer.stop()


@pytest.fixture
def dcmjs(tmp_path: Path) -> Iterator[Callable[..., peers.Peer]]:
    """`dcmjs(**behaviour)` -> a dcmjs-dimse SCP (AE DCMJS) doing what `behaviour` says (see peers_js/scp.js)."""
    if not peers.dcmjs_available():
        pytest.skip("node or tests/peers_js/node_modules (npm ci in tests/peers_js) is missing")
    f = _Started(lambda **k: peers.start_dcmjs_scp(tmp_path / "peers", **k))
    yield f
    f.stop_all()


@pytest.fixture
def simulate(tmp_path: Path) -> Iterator[Callable[..., peers.Peer]]:
    """`simulate(*faults, ae_title=..., storage=DIR)` -> `dicomdoctor simulate` running as its own process."""
    f = _Started(lambda *a, **k: peers.start_simulate(tmp_path / "peers", *a, **k))
    yield f
    f.stop_all()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Path]]:
    """Synthetic instances: two CTs (Explicit VR LE), a CT claiming JPEG 2000, an instance of a private class."""
    from pydicom.encaps import encapsulate

    d = tmp_path_factory.mktemp("instances")
    out = {"ct": peers.write_cts(d / "ct", 2)}
    j2k = peers.make_ct(transfer_syntax=J2K_LOSSLESS)
    j2k.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(60)])  # a stand-in codestream: nobody decodes it
    j2k["PixelData"].VR = "OB"
    j2k["PixelData"].is_undefined_length = True
    out["j2k"] = [d / "j2k.dcm"]
    j2k.save_as(out["j2k"][0], enforce_file_format=True)
    private = peers.make_ct()
    private.SOPClassUID = private.file_meta.MediaStorageSOPClassUID = PRIVATE_SOP
    out["private"] = [d / "private.dcm"]
    private.save_as(out["private"][0], enforce_file_format=True)
    return out


def sop_instance(path: Path) -> str:
    from pydicom import dcmread
    return str(dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def stored_instances(peer: peers.Peer) -> list[str]:
    return [str(e["sop_instance"]) for e in peers.js_events(peer) if e["event"] == "c-store"]


def received_files(directory: Path) -> set[str]:
    """SOP Instance UIDs of the Part-10 files under `directory` (PixelMed and the simulator name files
    their own way)."""
    from pydicom import dcmread
    return {str(dcmread(p, stop_before_pixels=True).SOPInstanceUID) for p in directory.rglob("*") if p.is_file()}


# ----------------------------------------------------------------------------------------- product table


def test_shared_uid_root_is_told_apart_by_version_name() -> None:
    """dcmjs-dimse and a Go DICOM library send the same implementation class UID root: the version name decides,
    whichever of the two entries comes first in products.yaml."""
    import dataclasses

    from dicomdoctor.engine.kb import load_kb

    kb = load_kb()
    dcmjs = next(p for p in kb.products if p.product == DCMJS_PRODUCT)
    # A version name of its own: products.yaml ships a go-dicom entry (GO-DICOM-) on the same root too.
    go = dataclasses.replace(dcmjs, product="a Go library (test entry)", toolkit="go",
                             version_names=(("GOTEST-DICOM-", None),))
    uid = "1.2.826.0.1.3680043.10.854"
    shipped = list(kb.products)  # the knowledge base is cached for the whole run: put it back as it was
    try:
        for order in ([go, *shipped], [*shipped, go]):
            kb.products[:] = order
            assert kb.identify_product(uid, "DCMJS-DIMSE-V0.2")["product"] == DCMJS_PRODUCT
            assert kb.identify_product(uid, "GOTEST-DICOM-1.1")["product"] == go.product
            assert kb.identify_product(uid, "GO-DICOM-1.1")["product"] == "go-dicom"
    finally:
        kb.products[:] = shipped
    assert kb.identify_product("1.3.6.1.4.1.5962.99.2", "PIXELMEDJAVA001")["product"] == PIXELMED_PRODUCT


# ------------------------------------------------------------------------------------------------ PixelMed


def test_pixelmed_healthy_and_named(pixelmed: peers.Peer, doctor: Callable[..., Run]) -> None:
    run = doctor("diagnose", pixelmed.target_text())
    assert run.status("assoc.ae-title") == "pass", run
    assert run["assoc.ae-title"]["evidence"]["called_ae_checked"] is True  # it rejects other called titles
    assert run.status("dimse.echo") == "pass", run
    ident = run["peer.identity"]["evidence"]
    assert ident["implementation_version_name"] == "PIXELMEDJAVA001"
    assert ident["implementation_class_uid"].startswith("1.3.6.1.4.1.5962.99")
    assert run.product() == PIXELMED_PRODUCT, run["peer.identity"]
    # Its storage SCP serves no query/retrieve: the standard matrix's Q/R classes are refused (result 3). A peer is
    # judged by the role it plays: a Storage SCP that takes the storage classes passes, and the summary says
    # (as information) that it serves no Query/Retrieve.
    pc = run["assoc.presentation-contexts"]
    assert run.status("assoc.presentation-contexts") == "pass", run
    assert "Query/Retrieve" in pc["summary"] and pc["evidence"]["roles_not_played"]["query-retrieve"]
    assert run.rc == 0 and run.report["verdict"] == "pass"


def test_pixelmed_echo_and_store(pixelmed: peers.Peer, doctor: Callable[..., Run],
                                 files: dict[str, list[Path]]) -> None:
    echo = doctor("echo", pixelmed.target_text())
    assert echo.rc == 0 and echo.status("dimse.echo") == "pass", echo
    store = doctor("store", pixelmed.target_text(), *map(str, files["ct"]))
    assert store.rc == 0 and store.status("dimse.store") == "pass", store
    assert {sop_instance(p) for p in files["ct"]} <= received_files(pixelmed.extra["out_dir"])


def test_pixelmed_wrong_called_ae(pixelmed: peers.Peer, doctor: Callable[..., Run]) -> None:
    run = doctor("diagnose", f"WRONGAE@{pixelmed.host}:{pixelmed.port}")
    assert run.rc == 2 and run.report["verdict"] == "fail", run
    assert run.status("assoc.ae-title") == "fail"
    assert run.causes("assoc.ae-title")[0] == "called-ae-not-recognized", run
    reject = run["assoc.ae-title"]["evidence"]["reject"]
    assert (reject["result"], reject["source"], reject["reason"]) == (1, 1, 7)
    echo = doctor("echo", f"WRONGAE@{pixelmed.host}:{pixelmed.port}")
    assert echo.rc == 2 and echo.causes("dimse.echo")[0] == "called-ae-not-recognized", echo


def test_pixelmed_refuses_an_unknown_sop_class(pixelmed: peers.Peer, doctor: Callable[..., Run],
                                              files: dict[str, list[Path]]) -> None:
    run = doctor("store", pixelmed.target_text(), str(files["private"][0]))
    assert run.rc == 2 and run.status("dimse.store") == "fail", run
    assert run.causes("dimse.store")[0] == "abstract-syntax-not-supported", run


def test_pixelmed_refuses_a_compressed_transfer_syntax_on_store(pixelmed: peers.Peer, doctor: Callable[..., Run],
                                                               files: dict[str, list[Path]]) -> None:
    run = doctor("store", pixelmed.target_text(), str(files["j2k"][0]))
    assert run.rc == 2 and run.status("dimse.store") == "fail", run
    assert run.causes("dimse.store")[0] == "transfer-syntax-not-supported", run


def test_pixelmed_refused_transfer_syntax_in_the_matrix(pixelmed: peers.Peer, doctor: Callable[..., Run]) -> None:
    run = doctor("diagnose", pixelmed.target_text(), *CT_ONLY_AS_J2K)
    contexts = run["assoc.presentation-contexts"]["evidence"]["contexts"]
    assert [c["result"] for c in contexts] == [4]  # the raw answer stays in the evidence
    assert run.status("assoc.presentation-contexts") == "fail"
    assert run.causes("assoc.presentation-contexts")[0] == "transfer-syntax-not-supported", run


def test_pixelmed_scus_against_our_simulator(simulate: Callable[..., peers.Peer], tmp_path: Path,
                                             files: dict[str, list[Path]]) -> None:
    if not peers.pixelmed_available():
        pytest.skip("PixelMed (pixelmed-apps) or java is not installed")
    storage = tmp_path / "received"
    storage.mkdir()
    sim = simulate("called-ae-strict", ae_title="SIM", storage=storage)
    # PixelMed's SCUs exit 0 whatever happens: what they print (on stderr) is the verdict.
    ok = peers.run_pixelmed("com.pixelmed.network.VerificationSOPClassSCU", sim.host, str(sim.port), "SIM",
                            "PMSCU", "NONSECURE")
    assert "was successful" in ok.stdout + ok.stderr, ok
    bad = peers.run_pixelmed("com.pixelmed.network.VerificationSOPClassSCU", sim.host, str(sim.port), "WRONG",
                             "PMSCU", "NONSECURE")
    assert "was not successful" in bad.stdout + bad.stderr and "called AE Title not recognized" in bad.stderr, bad
    for path in files["ct"]:
        peers.run_pixelmed("com.pixelmed.network.StorageSOPClassSCU", sim.host, str(sim.port), "SIM", "PMSCU",
                           str(path))
    assert {sop_instance(p) for p in files["ct"]} <= received_files(storage)


# --------------------------------------------------------------------------------------------- dcmjs-dimse


def test_dcmjs_healthy_and_named(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run]) -> None:
    peer = dcmjs()
    run = doctor("diagnose", peer.target_text())
    assert run.rc == 0 and run.report["verdict"] == "pass", run
    assert run.status("dimse.echo") == "pass"
    ident = run["peer.identity"]["evidence"]
    assert ident["implementation_class_uid"] == "1.2.826.0.1.3680043.10.854"
    assert ident["implementation_version_name"].startswith("DCMJS-DIMSE-")
    assert run.product() == DCMJS_PRODUCT, run["peer.identity"]


def test_dcmjs_echo_and_store(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run],
                              files: dict[str, list[Path]]) -> None:
    peer = dcmjs()
    assert doctor("echo", peer.target_text()).rc == 0
    run = doctor("store", peer.target_text(), *map(str, files["ct"]))
    assert run.rc == 0 and run.status("dimse.store") == "pass", run
    assert sorted(stored_instances(peer)) == sorted(sop_instance(p) for p in files["ct"])


def test_dcmjs_wrong_called_ae(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run]) -> None:
    peer = dcmjs(check_called_ae=True)
    run = doctor("diagnose", f"WRONGAE@{peer.host}:{peer.port}")
    assert run.rc == 2 and run.status("assoc.ae-title") == "fail", run
    assert run.causes("assoc.ae-title")[0] == "called-ae-not-recognized", run
    assert run["assoc.ae-title"]["evidence"]["called_ae_checked"] is True


def test_dcmjs_unknown_calling_ae(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run]) -> None:
    peer = dcmjs(calling_ae_allow=["CT01"])  # answers 1/1/3 to everyone else
    run = doctor("diagnose", peer.target_text())
    assert run.rc == 2 and run.status("assoc.ae-title") == "fail", run
    assert run.causes("assoc.ae-title")[0] == "calling-ae-not-recognized", run
    assert run["assoc.ae-title"]["evidence"]["calling_ae_checked"] is True
    echo = doctor("echo", peer.target_text())
    assert echo.rc == 2 and echo.causes("dimse.echo")[0] == "calling-ae-not-recognized", echo


def test_dcmjs_calling_ae_refused_with_reason_7(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run]) -> None:
    peer = dcmjs(calling_ae_deny=["DICOMDOCTOR"], calling_ae_reject=[1, 1, 7])
    run = doctor("diagnose", peer.target_text())
    assert run.rc == 2 and run.status("assoc.ae-title") == "fail", run
    assert run.causes("assoc.ae-title")[0] == "calling-ae-not-recognized", run
    assert run["assoc.ae-title"]["evidence"]["calling_ae_checked"] is True


def test_dcmjs_calling_ae_refused_without_reason(dcmjs: Callable[..., peers.Peer],
                                                 doctor: Callable[..., Run]) -> None:
    peer = dcmjs(calling_ae_deny=["DICOMDOCTOR"], calling_ae_reject=[1, 1, 1])
    run = doctor("diagnose", peer.target_text())
    assert run.rc == 2 and run.status("assoc.ae-title") == "fail", run
    assert run.causes("assoc.ae-title")[0] == "calling-ae-not-recognized", run


def test_dcmjs_refused_sop_class(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run],
                                 files: dict[str, list[Path]]) -> None:
    peer = dcmjs(sop_classes=[VERIFICATION, MR])
    run = doctor("diagnose", peer.target_text())
    assert run.rc == 1 and run.status("assoc.presentation-contexts") == "warn", run
    assert run.causes("assoc.presentation-contexts")[0] == "abstract-syntax-not-supported", run
    assert "CT Image Storage" in run["assoc.presentation-contexts"]["summary"]
    store = doctor("store", peer.target_text(), str(files["ct"][0]))
    assert store.rc == 2 and store.causes("dimse.store")[0] == "abstract-syntax-not-supported", store
    assert stored_instances(peer) == []


def test_dcmjs_refused_transfer_syntax_on_store(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run],
                                                files: dict[str, list[Path]]) -> None:
    peer = dcmjs()  # uncompressed only: JPEG 2000 gets result 4
    run = doctor("store", peer.target_text(), str(files["j2k"][0]))
    assert run.rc == 2 and run.status("dimse.store") == "fail", run
    assert run.causes("dimse.store")[0] == "transfer-syntax-not-supported", run


def test_dcmjs_refused_transfer_syntax_result_4_in_the_matrix(dcmjs: Callable[..., peers.Peer],
                                                              doctor: Callable[..., Run]) -> None:
    peer = dcmjs(transfer_syntaxes={CT: [IMPLICIT_LE]})
    run = doctor("diagnose", peer.target_text(), *CT_ONLY_AS_J2K)
    assert [c["result"] for c in run["assoc.presentation-contexts"]["evidence"]["contexts"]] == [4]
    assert run.causes("assoc.presentation-contexts")[0] == "transfer-syntax-not-supported", run


def test_dcmjs_misleading_result_3_judged_from_the_matrix(dcmjs: Callable[..., peers.Peer],
                                                          doctor: Callable[..., Run]) -> None:
    # CT only as JPEG 2000, and result 3 (not 4) for CT in any other transfer syntax: the matrix sees CT accepted.
    peer = dcmjs(transfer_syntaxes={CT: [J2K_LOSSLESS]}, ts_refusal_result=3)
    run = doctor("diagnose", peer.target_text())
    pc = run["assoc.presentation-contexts"]
    ct = [c for c in pc["evidence"]["contexts"] if c["abstract_syntax"] == CT]
    assert {c["result"] for c in ct if c["transfer_syntax"] != J2K_LOSSLESS} == {3}  # raw values kept
    assert [c["result"] for c in ct if c["transfer_syntax"] == J2K_LOSSLESS] == [0]
    assert "abstract-syntax-not-supported" not in run.causes("assoc.presentation-contexts"), run


def test_dcmjs_store_playbook_sends_the_given_file(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run],
                                                   files: dict[str, list[Path]]) -> None:
    peer = dcmjs()
    ct = files["ct"][0]
    run = doctor("diagnose", peer.target_text(), "--playbook", "store", "--set", f"dimse.store.files=[{ct}]")
    assert run.status("dimse.store") == "pass", run
    assert stored_instances(peer) == [sop_instance(ct)]


def test_dcmjs_misleading_result_3_on_store(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run],
                                            files: dict[str, list[Path]]) -> None:
    peer = dcmjs(transfer_syntaxes={CT: [J2K_LOSSLESS]}, ts_refusal_result=3)
    ct = files["ct"][0]
    run = doctor("diagnose", peer.target_text(), "--playbook", "store", "--set", f"dimse.store.files=[{ct}]")
    assert run.status("dimse.store") == "fail", run
    assert run.causes("dimse.store")[0] == "transfer-syntax-not-supported", run
    assert "JPEG 2000" in run["dimse.store"]["summary"] + json.dumps(run["dimse.store"]["causes"])


def test_dcmjs_abort_after_association(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run]) -> None:
    peer = dcmjs(abort="after-accept")
    run = doctor("diagnose", peer.target_text())
    assert run.rc == 2 and run.status("dimse.echo") == "fail", run
    assert run.causes("dimse.echo")[0] == "peer-aborted", run
    echo = doctor("echo", peer.target_text())
    assert echo.rc == 2 and echo.causes("dimse.echo")[0] == "peer-aborted", echo


def test_dcmjs_abort_on_store(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run],
                              files: dict[str, list[Path]]) -> None:
    peer = dcmjs(abort="on-request", abort_source=0, abort_reason=0)
    run = doctor("store", peer.target_text(), str(files["ct"][0]))
    assert run.rc == 2 and run.causes("dimse.store")[0] == "peer-aborted", run


def test_dcmjs_store_status_of_our_choice(dcmjs: Callable[..., peers.Peer], doctor: Callable[..., Run],
                                          files: dict[str, list[Path]]) -> None:
    peer = dcmjs(store_status=0xA700)
    run = doctor("store", peer.target_text(), str(files["ct"][0]))
    assert run.rc == 2 and run.status("dimse.store") == "fail", run
    assert run.causes("dimse.store")[0] == "out-of-resources", run
    assert "0xA700" in run["dimse.store"]["summary"]


def test_dcmjs_scu_against_our_simulator(simulate: Callable[..., peers.Peer], tmp_path: Path,
                                         files: dict[str, list[Path]]) -> None:
    if not peers.dcmjs_available():
        pytest.skip("node or tests/peers_js/node_modules (npm ci in tests/peers_js) is missing")
    storage = tmp_path / "received"
    storage.mkdir()
    sim = simulate("called-ae-strict", ae_title="SIM", storage=storage)
    ok = peers.run_dcmjs_scu(sim.host, sim.port, "SIM", files=files["ct"])
    assert ok == {"echo": 0, "stores": [0, 0], "errors": [], "rejected": None}
    assert {sop_instance(p) for p in files["ct"]} <= received_files(storage)
    bad = peers.run_dcmjs_scu(sim.host, sim.port, "WRONG")
    assert bad["rejected"] == {"result": 1, "source": 1, "reason": 7}, bad
