"""engine/judge.py's presentation-context, store and AE-reject rules (pure; the peers' side is in
tests/interop/test_negotiation_judgement.py and test_independent_peers.py)."""

from __future__ import annotations

from dicomdoctor.engine import judge
from dicomdoctor.engine.checks.assoc import _uids, default_roles, judge_matrix
from dicomdoctor.engine.kb import load_kb
from dicomdoctor.errors import BadInput

CT, MR = "1.2.840.10008.5.1.4.1.1.2", "1.2.840.10008.5.1.4.1.1.4"
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
IMPL, EXPL, J2K = "1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.4.90"


def ctx(a: str, ts: str, result: int) -> dict[str, object]:
    return {"abstract_syntax": a, "transfer_syntax": ts, "result": result}


def test_result_4_means_the_class_is_supported() -> None:
    answers = judge.class_answers([ctx(CT, J2K, 4)])
    assert judge.refusal_causes(answers[0]) == ("transfer-syntax-not-supported",)
    j = judge.judge_contexts(answers)
    assert j.status == "fail" and j.causes[0] == "transfer-syntax-not-supported"
    assert judge.judge_contexts(judge.class_answers([ctx(CT, IMPL, 3)])).causes[0] == "no-presentation-context"


def test_misleading_result_3_is_read_from_the_whole_class() -> None:
    # Orthanc 1.10: 3 for CT in Explicit VR LE, although CT is accepted in Implicit VR LE.
    answers = judge.class_answers([ctx(CT, IMPL, 0), ctx(CT, EXPL, 3)])
    j = judge.judge_contexts(answers)
    assert j.status == "warn" and j.causes == ("transfer-syntax-not-supported",)
    status, summary, causes, _ = judge_matrix([ctx(CT, IMPL, 0), ctx(CT, EXPL, 3), ctx(CT, J2K, 3)])
    assert "CT Image Storage: only Implicit VR Little Endian; Explicit VR Little Endian, JPEG 2000 Lossless " \
           "refused" in str(summary)  # judge_matrix says it as a message (rendered in the run's language)


def test_refused_compressed_syntaxes_alone_are_information() -> None:
    status, _, causes, _ = judge_matrix([ctx(CT, IMPL, 0), ctx(CT, EXPL, 0), ctx(CT, J2K, 4)])
    assert status == "pass" and causes == ()
    # ... unless the playbook named that transfer syntax.
    status, _, causes, _ = judge_matrix([ctx(CT, IMPL, 0), ctx(CT, EXPL, 0), ctx(CT, J2K, 4)],
                                        asked_syntaxes=[J2K])
    assert status == "warn" and causes[0] == "transfer-syntax-not-supported"


def test_a_peer_is_judged_by_its_role() -> None:
    roles = default_roles()
    assert roles[CT] == "storage" and roles[FIND] == "query-retrieve" and roles["1.2.840.10008.1.1"] == "verification"
    storage_only = [ctx(CT, IMPL, 0), ctx(MR, IMPL, 0), ctx(FIND, IMPL, 3)]
    status, summary, _, extra = judge_matrix(storage_only, role_of=roles)
    assert status == "pass" and "no Query/Retrieve" in str(summary) and extra["roles_not_played"]["query-retrieve"]
    status, _, causes, _ = judge_matrix(storage_only, role_of=roles, asked_roles=["query-retrieve"])
    assert status == "warn" and causes == ("abstract-syntax-not-supported",)
    # A Storage SCP that takes MR but not CT is not healthy.
    status, _, causes, _ = judge_matrix([ctx(CT, IMPL, 3), ctx(MR, IMPL, 0), ctx(FIND, IMPL, 3)], role_of=roles)
    assert status == "warn" and causes == ("abstract-syntax-not-supported",)


def test_store_refusal_follows_the_matrix() -> None:
    learned = judge.class_answers([ctx(CT, IMPL, 3), ctx(CT, J2K, 0)])[0]
    assert judge.store_refusal_causes(3, learned) == (("transfer-syntax-not-supported",), J2K)
    nothing = judge.class_answers([ctx(CT, IMPL, 3), ctx(CT, J2K, 3)])[0]
    assert judge.store_refusal_causes(3, nothing)[0][0] == "abstract-syntax-not-supported"
    assert judge.store_refusal_causes(4)[0] == ("transfer-syntax-not-supported",)


def test_sop_class_in_data_set_and_file_meta() -> None:
    assert judge.sop_class_causes(CT, CT) == ((), "")
    assert judge.sop_class_causes(None, CT)[1] == "dataset"
    assert judge.sop_class_causes(None, CT)[0][0] == "store-missing-sop-class"
    assert judge.sop_class_causes(MR, CT) == (("store-missing-sop-class", "dataset-sop-mismatch"), "disagree")
    assert judge.sop_class_causes(None, None)[1] == "both"


def test_calling_ae_behind_reason_7_and_1() -> None:
    for reason in (7, 1):
        j = judge.judge_ae_reject(1, 1, reason, judge.Prior(calling_ae_checked=True), called_ae_right=True)
        assert j.causes[:2] == ("calling-ae-not-recognized", "calling-host-mismatch") and j.note
    alike = judge.judge_ae_reject(1, 1, 7, None, refused_alike=True)
    assert alike.causes[0] == "called-ae-not-recognized" and "calling-ae-not-recognized" in alike.causes[:3]
    assert judge.judge_ae_reject(2, 3, 2, None, called_ae_right=True) == judge.judge_reject(2, 3, 2, None)


def test_every_cause_these_rules_return_is_in_the_knowledge_base() -> None:
    kb = load_kb()
    ids = {"transfer-syntax-not-supported", "abstract-syntax-not-supported", "no-presentation-context",
           "store-missing-sop-class", "dataset-sop-mismatch", "calling-ae-not-recognized", "calling-host-mismatch"}
    for cid in ids:
        assert kb.cause(cid).id == cid  # strict: an unknown id raises


def test_bad_keyword_message_says_syntax() -> None:
    try:
        _uids(["NoSuchThing"], "abstract_syntaxes")
    except BadInput as exc:
        assert "unknown abstract syntax 'NoSuchThing'" in str(exc)
    else:
        raise AssertionError("no BadInput")


def test_mixed_3_and_4_trust_the_answer_to_implicit_vr() -> None:
    unknown = judge.class_answers([ctx(CT, IMPL, 3), ctx(CT, J2K, 4)])[0]
    assert judge.refusal_causes(unknown)[0] == "abstract-syntax-not-supported"
    narrow = judge.class_answers([ctx(CT, IMPL, 4), ctx(CT, J2K, 3)])[0]
    assert judge.refusal_causes(narrow)[0] == "transfer-syntax-not-supported"


def test_no_reason_refused_alike_without_an_identity_names_user_identity_second() -> None:
    # An archive that requires a user identity can only say "no reason given" (1/1/1) in its reject.
    bare = judge.judge_ae_reject(1, 1, 1, None, refused_alike=True, identity_proposed=False)
    assert bare.causes[:2] == ("reject-no-reason", "user-identity-required")
    sent = judge.judge_ae_reject(1, 1, 1, None, refused_alike=True, identity_proposed=True)
    assert sent.causes[1] != "user-identity-required"
