"""The workflow rules of engine/judge.py (pure) and the MWL identifier of net/workflow.py (pure)."""

from __future__ import annotations

import datetime as dt

import pytest

from dicomdoctor.engine import judge
from dicomdoctor.engine.checks.workflow import identity_from_params, worklist_query
from dicomdoctor.engine.kb import load_kb
from dicomdoctor.errors import BadInput
from dicomdoctor.net import workflow as nw


def test_suspects_rank_single_pins_by_matches_then_order() -> None:
    relaxed = [{"without": "ScheduledStationAETitle", "matches": 1}, {"without": "Modality", "matches": 3},
               {"without": "ScheduledProcedureStepStartDate", "matches": 0}]
    assert judge.worklist_suspects(relaxed) == ["Modality", "ScheduledStationAETitle"]
    both = [{"without": "ScheduledStationAETitle", "matches": 0}, {"without": "Modality", "matches": 0},
            {"without": "ScheduledStationAETitle+Modality", "matches": 2}]
    assert judge.worklist_suspects(both) == ["ScheduledStationAETitle+Modality"]
    assert judge.worklist_suspects([{"without": "Modality", "matches": 0}]) == []


def test_worklist_causes_and_charset() -> None:
    assert judge.worklist_causes(matches=0, suspects=[], missing=[], charset="") == ("worklist-empty",)
    assert judge.worklist_missing_keys(["PatientName"], ["PatientName", "PatientID", "Foo"]) == ["PatientID"]
    assert judge.charset_problem([""], ["PatientName"], []) == "undeclared"
    assert judge.charset_problem(["ISO_IR 192"], ["PatientName"], []) == ""
    assert judge.charset_problem(["ISO_IR 100"], [], ["PatientName"]) == "undecodable"
    assert judge.worklist_causes(matches=2, suspects=[], missing=["PatientID"], charset="undeclared") == \
        ("character-set-mismatch", "worklist-missing-keys")


@pytest.mark.parametrize("code,service,first", [
    (0xC310, "n-set", "mpps-invalid-transition"), (0x0112, "n-set", "mpps-invalid-transition"),
    (0x0120, "n-create", "mpps-refused"), (0x0110, "n-create", "mpps-refused"), (0xA700, "n-set", "mpps-refused"),
])
def test_mpps_statuses(code: int, service: str, first: str) -> None:
    assert judge.workflow_status_causes(code, service, "mpps-refused")[0] == first


def test_generic_statuses_keep_their_shared_causes() -> None:
    assert judge.status_causes(0x0110, None)[0] == "processing-failure"
    assert judge.workflow_status_causes(0x0110, "n-action", "commitment-refused")[:2] == \
        ("commitment-refused", "processing-failure")


def test_commitment_and_timeout_rules() -> None:
    assert judge.commitment_causes(report_received=True, failed=0, listener_connected=True, listening=True) == ()
    assert judge.commitment_causes(report_received=True, failed=2, listener_connected=True, listening=True) == \
        ("commitment-failed-items",)
    assert judge.commitment_causes(report_received=False, failed=0, listener_connected=False, listening=True)[0] == \
        "commitment-connect-back-failed"
    assert judge.commitment_causes(report_received=False, failed=0, listener_connected=None, listening=False) == \
        ("commitment-no-report",)
    assert judge.no_response_causes("mpps-no-response", "dimse")[0] == "mpps-no-response"
    assert "mpps-no-response" not in judge.no_response_causes("mpps-no-response", "association")


def test_user_identity_rules() -> None:
    acc, rej = {"outcome": "accepted", "server_response": False}, \
        {"outcome": "rejected", "reject": {"result": 1, "source": 1, "reason": 1}}
    other = {"outcome": "rejected", "reject": {"result": 1, "source": 1, "reason": 7}}
    assert judge.user_identity_causes(acc, acc, positive_response=True) == ("user-identity-ignored",)
    assert judge.user_identity_causes(acc, acc, positive_response=True, decoy=rej) == ()
    assert judge.user_identity_causes({"outcome": "accepted", "server_response": True}, None,
                                      positive_response=True) == ()
    assert judge.user_identity_causes(rej, acc, positive_response=True) == ("user-identity-rejected",)
    assert judge.user_identity_causes(rej, rej, positive_response=True) == ()  # not about the identity
    assert judge.user_identity_causes(acc, rej, positive_response=True, dummy=True) == ("user-identity-required",)
    assert judge.user_identity_causes(other, rej, positive_response=True, dummy=True) == ("user-identity-required",)
    assert judge.user_identity_causes(rej, rej, positive_response=True, dummy=True) == ()


def test_every_workflow_cause_is_in_the_knowledge_base() -> None:
    kb = load_kb("en")
    for cid in ("worklist-not-supported", "worklist-empty", "worklist-missing-keys", "character-set-mismatch",
                "mpps-not-supported", "mpps-refused", "mpps-invalid-transition", "mpps-no-response",
                "commitment-not-supported", "commitment-refused", "commitment-no-report", "commitment-failed-items",
                "commitment-connect-back-failed", "user-identity-required", "user-identity-rejected",
                "user-identity-ignored"):
        zh = load_kb("zh").cause(cid, "zh")
        assert kb.cause(cid).fixes and zh.fixes and zh.title != kb.cause(cid).title


def test_worklist_identifier_nests_the_scheduled_step_keys() -> None:
    ds = nw.worklist_identifier({"ScheduledStationAETitle": "CT01", "Modality": "CT", "PatientID": "X",
                                 "ScheduledProcedureStepStartDate": "today"})
    item = ds.ScheduledProcedureStepSequence[0]
    assert item.ScheduledStationAETitle == "CT01" and item.Modality == "CT" and ds.PatientID == "X"
    assert "Modality" not in ds and item.ScheduledProcedureStepStartDate == dt.date.today().strftime("%Y%m%d")
    assert nw.worklist_date("today-", dt.date(2024, 3, 1)) == "20240301-"
    assert nw.worklist_date("20240101-20240102") == "20240101-20240102"


def test_bad_worklist_and_identity_params_are_bad_input(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(BadInput, match="worklist date"):
        worklist_query({"date": "yesterday"})
    with pytest.raises(BadInput, match="NoSuchKey"):
        worklist_query({"keys": {"NoSuchKey": "1"}})
    assert identity_from_params({}) == (0, b"", b"")
    monkeypatch.setenv("DD_UNIT_PASS", "pw")
    assert identity_from_params({"username": "u", "passcode_env": "DD_UNIT_PASS"}) == (2, b"u", b"pw")
    with pytest.raises(BadInput, match="give a username"):
        identity_from_params({"type": "username"})
    with pytest.raises(BadInput, match="token_file"):
        identity_from_params({"type": "jwt"})
