"""Every DIMSE message round-trips; unknown and broken commands decode to something, never a crash."""

from __future__ import annotations

from io import BytesIO

import pytest

from dicomdoctor.dimse import (
    DATASET_PRESENT,
    MESSAGE_TYPES,
    NO_DATASET,
    CCancelRQ,
    CEchoRQ,
    CEchoRSP,
    CFindRQ,
    CFindRSP,
    CGetRQ,
    CGetRSP,
    CMoveRQ,
    CMoveRSP,
    CStoreRQ,
    CStoreRSP,
    NActionRQ,
    NActionRSP,
    NCreateRQ,
    NCreateRSP,
    NDeleteRQ,
    NDeleteRSP,
    NEventReportRQ,
    NEventReportRSP,
    NGetRQ,
    NGetRSP,
    NSetRQ,
    NSetRSP,
    UnknownMessage,
    decode_command,
    decode_message,
    encode_command,
)

CT = "1.2.840.10008.5.1.4.1.1.2"
FIND = "1.2.840.10008.5.1.4.1.2.1.1"
MOVE = "1.2.840.10008.5.1.4.1.2.1.2"
GET = "1.2.840.10008.5.1.4.1.2.1.3"
COMMIT = "1.2.840.10008.1.20.1"
COMMIT_INSTANCE = "1.2.840.10008.1.20.1.1"
MPPS = "1.2.840.10008.3.1.2.3.3"

EXAMPLES = [
    CEchoRQ(message_id=1),
    CEchoRSP(message_id_being_responded_to=1, status=0),
    CStoreRQ(message_id=2, affected_sop_class_uid=CT, affected_sop_instance_uid="1.2.3.4", priority=1,
             move_originator_ae_title="ORIGIN", move_originator_message_id=77),
    CStoreRSP(message_id_being_responded_to=2, status=0xA700, affected_sop_class_uid=CT,
              affected_sop_instance_uid="1.2.3.4", error_comment="disk full", error_id=12),
    CFindRQ(message_id=3, affected_sop_class_uid=FIND, priority=2),
    CFindRSP(message_id_being_responded_to=3, status=0xFF00, affected_sop_class_uid=FIND,
             command_data_set_type=DATASET_PRESENT),
    CFindRSP(message_id_being_responded_to=3, status=0xA900, offending_element=(0x00080052,),
             error_comment="Query/Retrieve Level missing"),
    CGetRQ(message_id=4, affected_sop_class_uid=GET),
    CGetRSP(message_id_being_responded_to=4, status=0xFF00, number_of_remaining_suboperations=3,
            number_of_completed_suboperations=1, number_of_failed_suboperations=0,
            number_of_warning_suboperations=0, affected_sop_class_uid=GET),
    CMoveRQ(message_id=5, affected_sop_class_uid=MOVE, move_destination="DEST"),
    CMoveRSP(message_id_being_responded_to=5, status=0xB000, number_of_remaining_suboperations=0,
             number_of_completed_suboperations=8, number_of_failed_suboperations=2,
             number_of_warning_suboperations=0),
    CCancelRQ(message_id_being_responded_to=5),
    NEventReportRQ(message_id=6, affected_sop_class_uid=COMMIT, affected_sop_instance_uid=COMMIT_INSTANCE,
                   event_type_id=1, command_data_set_type=DATASET_PRESENT),
    NEventReportRSP(message_id_being_responded_to=6, status=0, affected_sop_class_uid=COMMIT,
                    affected_sop_instance_uid=COMMIT_INSTANCE, event_type_id=1),
    NGetRQ(message_id=7, requested_sop_class_uid=MPPS, requested_sop_instance_uid="1.2.9",
           attribute_identifier_list=(0x00400252, 0x00400250)),
    NGetRSP(message_id_being_responded_to=7, status=0x0107, attribute_identifier_list=(0x00400252,)),
    NSetRQ(message_id=8, requested_sop_class_uid=MPPS, requested_sop_instance_uid="1.2.9"),
    NSetRSP(message_id_being_responded_to=8, status=0x0106, offending_element=(0x00400252,)),
    NActionRQ(message_id=9, requested_sop_class_uid=COMMIT, requested_sop_instance_uid=COMMIT_INSTANCE,
              action_type_id=1, command_data_set_type=DATASET_PRESENT),
    NActionRSP(message_id_being_responded_to=9, status=0, action_type_id=1),
    NCreateRQ(message_id=10, affected_sop_class_uid=MPPS, command_data_set_type=DATASET_PRESENT),
    NCreateRSP(message_id_being_responded_to=10, status=0x0111, affected_sop_instance_uid="1.2.10",
               error_id=3),
    NDeleteRQ(message_id=11, requested_sop_class_uid=MPPS, requested_sop_instance_uid="1.2.11"),
    NDeleteRSP(message_id_being_responded_to=11, status=0x0112),
]


def test_every_message_type_is_exercised() -> None:
    assert {type(m) for m in EXAMPLES} == set(MESSAGE_TYPES.values())


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: m.name)
def test_round_trip(msg) -> None:
    raw = msg.to_command_bytes()
    back = decode_message(raw)
    assert back == msg
    assert back.missing == () and back.extra == ()
    assert back.to_command_bytes() == raw
    assert decode_command(raw)[0x00000100] == msg.COMMAND_FIELD


@pytest.mark.parametrize("msg", EXAMPLES, ids=lambda m: m.name)
def test_pydicom_and_pynetdicom_read_every_message(msg) -> None:
    dsutils = pytest.importorskip("pynetdicom.dsutils")
    ds = dsutils.decode(BytesIO(msg.to_command_bytes()), True, True)
    assert ds.CommandField == msg.COMMAND_FIELD
    assert ds.CommandDataSetType == msg.command_data_set_type


def test_dataset_type_defaults() -> None:
    assert CStoreRQ().has_dataset and CFindRQ().has_dataset and CMoveRQ().has_dataset and CGetRQ().has_dataset
    assert NSetRQ().has_dataset
    assert not CEchoRQ().has_dataset and not CStoreRSP().has_dataset and not CFindRSP().has_dataset
    assert CFindRSP().command_data_set_type == NO_DATASET


def test_response_helpers() -> None:
    rsp = CFindRSP(status=0xFF01)
    assert rsp.is_pending and rsp.category == "pending" and rsp.service == "c-find"
    assert CMoveRSP(status=0xA801).category == "failure"
    assert CStoreRSP(status=0xB007).category == "warning"


@pytest.mark.parametrize("cls, builder", [
    ("pynetdicom C-STORE", "store"), ("pynetdicom C-FIND-RSP", "find_rsp"), ("pynetdicom C-MOVE", "move"),
])
def test_same_bytes_as_pynetdicom(cls: str, builder: str) -> None:
    prims = pytest.importorskip("pynetdicom.dimse_primitives")
    msgs = pytest.importorskip("pynetdicom.dimse_messages")
    dsutils = pytest.importorskip("pynetdicom.dsutils")
    if builder == "store":
        p = prims.C_STORE()
        p.MessageID, p.AffectedSOPClassUID, p.AffectedSOPInstanceUID, p.Priority = 7, CT, "1.2.3.4", 0
        p.MoveOriginatorApplicationEntityTitle, p.MoveOriginatorMessageID = "MOVER", 3
        p.DataSet = BytesIO(b"xx")
        m = msgs.C_STORE_RQ()
        ours = CStoreRQ(message_id=7, affected_sop_class_uid=CT, affected_sop_instance_uid="1.2.3.4",
                        move_originator_ae_title="MOVER", move_originator_message_id=3)
    elif builder == "find_rsp":
        p = prims.C_FIND()
        p.MessageIDBeingRespondedTo, p.AffectedSOPClassUID, p.Status = 3, FIND, 0xA900
        p.ErrorComment = "bad identifier"
        m = msgs.C_FIND_RSP()
        ours = CFindRSP(message_id_being_responded_to=3, affected_sop_class_uid=FIND, status=0xA900,
                        error_comment="bad identifier")
    else:
        p = prims.C_MOVE()
        p.MessageID, p.AffectedSOPClassUID, p.Priority, p.MoveDestination = 5, MOVE, 0, "DEST"
        p.Identifier = BytesIO(b"xx")
        m = msgs.C_MOVE_RQ()
        ours = CMoveRQ(message_id=5, affected_sop_class_uid=MOVE, move_destination="DEST")
    m.primitive_to_message(p)
    cs = m.command_set
    cs.CommandGroupLength = 0
    cs.CommandGroupLength = len(dsutils.encode(cs, True, True)) - 12
    theirs = dsutils.encode(cs, True, True)
    assert decode_message(theirs) == ours
    if builder != "find_rsp":  # pynetdicom sets CommandDataSetType on responses its own way
        assert theirs == ours.to_command_bytes()


def test_unknown_command_field_is_a_generic_message() -> None:
    raw = encode_command({"CommandField": 0x0ABC, "MessageID": 4, "CommandDataSetType": 0x0101,
                          "AffectedSOPClassUID": "1.2.3"})
    msg = decode_message(raw)
    assert isinstance(msg, UnknownMessage)
    assert msg.command_field == 0x0ABC and "0x0ABC" in msg.name
    assert dict(msg.extra) == {0x00000002: "1.2.3", 0x00000110: 4}
    assert msg.to_command_bytes() == raw


def test_command_without_command_field() -> None:
    raw = encode_command({"MessageID": 4})
    msg = decode_message(raw)
    assert isinstance(msg, UnknownMessage) and msg.command_field == -1
    assert msg.missing == (0x00000800,)
    assert msg.to_command_bytes() == raw


def test_missing_mandatory_and_unmodelled_elements_survive() -> None:
    # A C-STORE-RSP without Status (pynetdicom: "status is empty") and with a retired element.
    raw = encode_command({"CommandField": 0x8001, "MessageIDBeingRespondedTo": 1, "CommandDataSetType": 0x0101,
                          "NumberOfMatches": 3})
    msg = decode_message(raw)
    assert isinstance(msg, CStoreRSP)
    assert 0x00000900 in msg.missing
    assert dict(msg.extra) == {0x00000850: 3}
    assert msg.to_command_bytes() == raw


def test_values_of_the_wrong_shape_go_to_extra() -> None:
    raw = encode_command({"CommandField": 0x8030, "MessageIDBeingRespondedTo": 1, "CommandDataSetType": 0x0101,
                          "Status": (0, 1)})  # VM 2 Status: broken peer
    msg = decode_message(raw)
    assert 0x00000900 in msg.missing and dict(msg.extra)[0x00000900] == (0, 1)
    assert msg.to_command_bytes() == raw
