"""`--fault` strings -> typed faults; bad ones are BadInput (exit 3) that name the problem."""

from __future__ import annotations

import pytest

from dicomdoctor.errors import BadInput
from dicomdoctor.sim import faults as F


@pytest.mark.parametrize("text, expected", [
    ("called-ae-strict", F.CalledAEStrict()),
    ("calling-ae-allow=CT01,WS02", F.CallingAEAllow(titles=frozenset({"CT01", "WS02"}))),
    ("reject=local-limit", F.Reject(result=2, source=3, reason=2)),
    ("reject=congestion", F.Reject(result=2, source=3, reason=1)),
    ("reject=protocol-version", F.Reject(result=1, source=2, reason=2)),
    ("reject=app-context", F.Reject(result=1, source=1, reason=2)),
    ("reject=no-reason", F.Reject(result=1, source=1, reason=1)),
    ("reject=7", F.Reject(result=1, source=1, reason=7)),
    ("reject=2/3/1", F.Reject(result=2, source=3, reason=1)),
    ("max-pdu=4096", F.MaxPDU(length=4096)),
    ("max-pdu=0", F.MaxPDU(length=0)),
    ("accept-ts=ImplicitVRLittleEndian", F.AcceptTS(uids=("1.2.840.10008.1.2",))),
    ("accept-ts=1.2.840.10008.1.2.1,JPEG2000Lossless",
     F.AcceptTS(uids=("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.90"))),
    ("refuse-sop=CTImageStorage", F.RefuseSOP(uids=("1.2.840.10008.5.1.4.1.1.2",))),
    ("slow=2.5", F.Slow(seconds=2.5)),
    ("abort-after=3", F.AbortAfter(count=3)),
    ("status=c-store:A700", F.StatusOverride(service="c-store", code=0xA700)),
    ("status=C-ECHO:0x0110", F.StatusOverride(service="c-echo", code=0x0110)),
    ("max-associations=2", F.MaxAssociations(count=2)),
    ("tls", F.TLS(variant="ca")),
    ("tls=expired", F.TLS(variant="expired")),
    ("close-on-connect", F.CloseOnConnect()),
    ("garbage", F.Garbage()),
    ("silent", F.Silent()),
    ("http", F.HTTP()),
    ("abort-on-associate", F.AbortOnAssociate()),
    ("ignore-roles", F.IgnoreRoles()),
    ("move-unreachable", F.MoveUnreachable()),
])
def test_parse(text: str, expected: F.Fault) -> None:
    fault = F.parse_fault(text)
    assert fault == expected
    assert fault.spec == text


@pytest.mark.parametrize("text, words", [
    ("nope", ["unknown fault", "called-ae-strict"]),
    ("", ["empty"]),
    ("reject=foo", ["unknown reason", "local-limit"]),
    ("reject=5", ["reason 5"]),
    ("max-pdu=abc", ["not a whole number"]),
    ("max-pdu=10", ["too small"]),
    ("accept-ts=CTImageStorage", ["not a transfer syntax"]),
    ("refuse-sop=ImplicitVRLittleEndian", ["not a SOP class"]),
    ("accept-ts=NoSuchKeyword", ["neither a UID"]),
    ("status=c-x:12", ["unknown service"]),
    ("status=c-store", ["SERVICE:CODE"]),
    ("slow", ["needs a value", "slow=SECONDS"]),
    ("slow=-1", ["out of range"]),
    ("garbage=1", ["takes no value"]),
    ("calling-ae-allow=", ["needs a value"]),
    ("calling-ae-allow=ABCDEFGHIJKLMNOPQRS", ["16"]),
    ("tls=bogus", ["unknown variant"]),
])
def test_bad_faults_name_the_problem(text: str, words: list[str]) -> None:
    with pytest.raises(BadInput) as info:
        F.parse_fault(text)
    for w in words:
        assert w in str(info.value)


def test_fault_set_merges() -> None:
    fs = F.build_fault_set(["called-ae-strict", "status=c-store:A700", "status=c-find:C000",
                            "refuse-sop=CTImageStorage", "refuse-sop=MRImageStorage", "max-pdu=4096"])
    assert fs.called_ae_strict and fs.max_pdu == 4096
    assert fs.statuses == {"c-store": 0xA700, "c-find": 0xC000}
    assert len(fs.refuse_sop) == 2
    assert fs.describe() == ("called-ae-strict, status=c-store:A700, status=c-find:C000, "
                             "refuse-sop=CTImageStorage, refuse-sop=MRImageStorage, max-pdu=4096")
    assert F.build_fault_set([]).describe() == "none"


@pytest.mark.parametrize("faults", [
    ["slow=1", "slow=2"], ["garbage", "silent"], ["status=c-echo:0110", "status=c-echo:0211"],
    ["tls", "tls=expired"], ["reject=congestion", "reject=7"],
])
def test_contradictions_are_bad_input(faults: list[str]) -> None:
    with pytest.raises(BadInput):
        F.build_fault_set(faults)


def test_help_documents_every_fault() -> None:
    text = F.faults_help()
    for spec in F.FAULTS:
        assert spec.name in text
    for variant in F.TLS_VARIANTS:
        assert variant in text
