"""dicomdoctor.ul: the sans-I/O DICOM Upper Layer (PS3.8). Bytes in -> events out; events in -> bytes out.

No sockets, clocks or threads here (tests/test_layering.py): drivers in ``dicomdoctor.net`` feed bytes and
the current time in. See docs/ARCHITECTURE.md (the ``ul/`` section) for the contract.
"""

from . import craft
from .codec import (
    decode_ae,
    decode_item,
    decode_pdu,
    decode_pdu_body,
    decode_uid,
    encode_ae,
    encode_any_item,
    encode_item,
    encode_pdu,
    encode_presentation_context,
    encode_uid,
    encode_user_information,
    iter_items,
)
from .connection import (
    NEED_DATA,
    Aborted,
    ARTIMExpired,
    AssociateAccept,
    AssociateReject,
    AssociateRequest,
    DataTransfer,
    ProtocolViolation,
    ReleaseConfirm,
    ReleaseRequest,
    TransportClosed,
    ULConnection,
    ULEvent,
)
from .craft import (
    ae_field,
    associate_rq_bytes,
    item_offsets,
    many_contexts,
    oversized_pdata_header,
    raw_item,
    raw_pdu,
    truncate,
    truncated_item,
    with_item_length,
    with_pdu_length,
)
from .errors import (
    LocalProtocolError,
    MalformedPDU,
    PDUTooLarge,
    ProtocolError,
    RemoteProtocolError,
    UnrecognizedPDU,
)
from .fsm import (
    ACTIONS,
    TRANSITIONS,
    CloseTransport,
    ConnectTransport,
    Effect,
    Event,
    Indication,
    SendPDU,
    StartARTIM,
    State,
    StateMachine,
    StopARTIM,
    Transition,
)
from .items import (
    ABORT_REASON_NAMES,
    ABORT_SOURCE_NAMES,
    ITEM_NAMES,
    ITEM_TYPES,
    PC_RESULT_NAMES,
    REJECT_REASON_NAMES,
    REJECT_RESULT_NAMES,
    REJECT_SOURCE_NAMES,
    USER_IDENTITY_TYPE_NAMES,
    AbstractSyntaxItem,
    ApplicationContextItem,
    AsyncOpsWindow,
    ImplementationClassUID,
    ImplementationVersionName,
    Item,
    MaximumLength,
    PresentationContextAC,
    PresentationContextRQ,
    RoleSelection,
    SOPClassCommonExtendedNegotiation,
    SOPClassExtendedNegotiation,
    TransferSyntaxItem,
    UnknownItem,
    UserIdentityAC,
    UserIdentityRQ,
    UserInformation,
    abort_reason_name,
    abort_source_name,
    describe_reject,
    pc_result_name,
    reject_reason_name,
    reject_result_name,
    reject_source_name,
)
from .pdu import (
    DICOM_APPLICATION_CONTEXT,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    PDU,
    PDU_NAMES,
    PDU_TYPES,
    PDV,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    AReleaseRP,
    AReleaseRQ,
    PDataTF,
)
from .reader import ASSOCIATION_PDU_CAP, UNLIMITED_PDATA_CAP, PDUReader
from .validate import Violation, check_ae_title, check_uid, validate

__all__ = [
    # pdu.py
    "AAssociateRQ", "AAssociateAC", "AAssociateRJ", "PDataTF", "PDV", "AReleaseRQ", "AReleaseRP", "AAbort",
    "PDU", "PDU_TYPES", "PDU_NAMES", "DICOM_APPLICATION_CONTEXT", "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    # items.py
    "ApplicationContextItem", "PresentationContextRQ", "PresentationContextAC", "AbstractSyntaxItem",
    "TransferSyntaxItem", "UserInformation", "MaximumLength", "ImplementationClassUID", "AsyncOpsWindow",
    "RoleSelection", "ImplementationVersionName", "SOPClassExtendedNegotiation",
    "SOPClassCommonExtendedNegotiation", "UserIdentityRQ", "UserIdentityAC", "UnknownItem", "Item",
    "ITEM_TYPES", "ITEM_NAMES", "PC_RESULT_NAMES", "pc_result_name", "REJECT_RESULT_NAMES",
    "REJECT_SOURCE_NAMES", "REJECT_REASON_NAMES", "reject_result_name", "reject_source_name",
    "reject_reason_name", "describe_reject", "ABORT_SOURCE_NAMES", "ABORT_REASON_NAMES", "abort_source_name",
    "abort_reason_name", "USER_IDENTITY_TYPE_NAMES",
    # codec.py
    "encode_pdu", "decode_pdu", "decode_pdu_body", "encode_item", "encode_ae", "encode_uid",
    "encode_user_information", "encode_presentation_context", "iter_items", "decode_ae", "decode_uid",
    "encode_any_item", "decode_item",
    # validate.py
    "Violation", "validate", "check_ae_title", "check_uid",
    # reader.py
    "PDUReader", "ASSOCIATION_PDU_CAP", "UNLIMITED_PDATA_CAP",
    # fsm.py
    "State", "Event", "SendPDU", "StartARTIM", "StopARTIM", "CloseTransport", "ConnectTransport", "Indication",
    "Effect", "Transition", "TRANSITIONS", "ACTIONS", "StateMachine",
    # connection.py
    "ULConnection", "NEED_DATA", "ULEvent", "AssociateRequest", "AssociateAccept", "AssociateReject",
    "DataTransfer", "ReleaseRequest", "ReleaseConfirm", "Aborted", "TransportClosed", "ProtocolViolation",
    "ARTIMExpired",
    # craft.py
    "craft", "raw_pdu", "raw_item", "ae_field", "associate_rq_bytes", "many_contexts", "with_pdu_length",
    "with_item_length", "truncate", "truncated_item", "item_offsets", "oversized_pdata_header",
    # errors.py
    "ProtocolError", "LocalProtocolError", "RemoteProtocolError", "MalformedPDU", "UnrecognizedPDU",
    "PDUTooLarge",
]
