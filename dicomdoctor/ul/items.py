"""Items and sub-items of the association PDUs (PS3.8 §9.3.2-9.3.3, PS3.7 Annex D), and the code tables.

Every item is a frozen, slotted dataclass with its type code in ``item_type``; ``ITEM_TYPES`` is the one
registry from type code to class. Items we do not know are kept as ``UnknownItem`` (never dropped), so a
decoded PDU can be re-encoded and a check can report what the peer sent.

The association PDUs (pdu.py) hold the common items flattened into plain values (``application_context:
str``, ``UserInformation.max_length: int``); the single-value item classes here (``ApplicationContextItem``,
``MaximumLength``...) exist so the registry covers every type code and craft.py can emit any of them alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Union

__all__ = [
    "ApplicationContextItem", "PresentationContextRQ", "PresentationContextAC", "AbstractSyntaxItem",
    "TransferSyntaxItem", "UserInformation", "MaximumLength", "ImplementationClassUID", "AsyncOpsWindow",
    "RoleSelection", "ImplementationVersionName", "SOPClassExtendedNegotiation",
    "SOPClassCommonExtendedNegotiation", "UserIdentityRQ", "UserIdentityAC", "UnknownItem", "Item",
    "ITEM_TYPES", "ITEM_NAMES",
    "PC_RESULT_NAMES", "pc_result_name",
    "REJECT_RESULT_NAMES", "REJECT_SOURCE_NAMES", "REJECT_REASON_NAMES", "reject_result_name",
    "reject_source_name", "reject_reason_name", "describe_reject",
    "ABORT_SOURCE_NAMES", "ABORT_REASON_NAMES", "abort_source_name", "abort_reason_name",
    "USER_IDENTITY_TYPE_NAMES",
]


def _tuple(obj: object, name: str) -> None:
    """Let callers pass lists; store tuples so the dataclass stays immutable and hashable."""
    value = getattr(obj, name)
    if not isinstance(value, tuple):
        object.__setattr__(obj, name, tuple(value))


@dataclass(frozen=True, slots=True)
class UnknownItem:
    """An item whose type code we do not know (or whose content could not be parsed): kept verbatim."""

    item_type: int
    data: bytes = b""


@dataclass(frozen=True, slots=True)
class ApplicationContextItem:
    """PS3.8 Table 9-12: the application context name (one UID; DICOM defines only 1.2.840.10008.3.1.1.1)."""

    item_type: ClassVar[int] = 0x10
    name: str


@dataclass(frozen=True, slots=True)
class AbstractSyntaxItem:
    """PS3.8 Table 9-14: abstract syntax sub-item (a SOP class UID)."""

    item_type: ClassVar[int] = 0x30
    name: str


@dataclass(frozen=True, slots=True)
class TransferSyntaxItem:
    """PS3.8 Table 9-15 / 9-19: transfer syntax sub-item (a transfer syntax UID)."""

    item_type: ClassVar[int] = 0x40
    name: str


@dataclass(frozen=True, slots=True)
class PresentationContextRQ:
    """PS3.8 Table 9-13: one proposed presentation context: an odd id 1..255, one abstract syntax, one or
    more transfer syntaxes. ``extra`` keeps sub-items beyond that (a second abstract syntax, unknown types)."""

    item_type: ClassVar[int] = 0x20
    context_id: int
    abstract_syntax: str
    transfer_syntaxes: tuple[str, ...] = ()
    extra: tuple[UnknownItem, ...] = ()

    def __post_init__(self) -> None:
        _tuple(self, "transfer_syntaxes")
        _tuple(self, "extra")


@dataclass(frozen=True, slots=True)
class PresentationContextAC:
    """PS3.8 Table 9-18: the answer to one context: result (Table B of failure-modes.md) and the chosen
    transfer syntax ("" when the peer omitted it; it is "not significant" unless result is 0)."""

    item_type: ClassVar[int] = 0x21
    context_id: int
    result: int
    transfer_syntax: str = ""
    extra: tuple[UnknownItem, ...] = ()

    def __post_init__(self) -> None:
        _tuple(self, "extra")

    @property
    def accepted(self) -> bool:
        return self.result == 0

    @property
    def result_name(self) -> str:
        return pc_result_name(self.result)


@dataclass(frozen=True, slots=True)
class MaximumLength:
    """PS3.8 Annex D.1 (Table D.1-1): the largest P-DATA-TF variable field the sender accepts; 0 = no limit."""

    item_type: ClassVar[int] = 0x51
    max_length: int


@dataclass(frozen=True, slots=True)
class ImplementationClassUID:
    """PS3.7 Annex D.3.3.2 (Table D.3-1): who built the peer's DICOM stack."""

    item_type: ClassVar[int] = 0x52
    uid: str


@dataclass(frozen=True, slots=True)
class AsyncOpsWindow:
    """PS3.7 Annex D.3.3.3 (Table D.3-7): asynchronous operations window; 0 = unlimited, 1/1 = synchronous."""

    item_type: ClassVar[int] = 0x53
    max_operations_invoked: int = 1
    max_operations_performed: int = 1


@dataclass(frozen=True, slots=True)
class RoleSelection:
    """PS3.7 Annex D.3.3.4 (Table D.3-9): SCP/SCU role selection for one SOP class (C-GET needs scp_role=1)."""

    item_type: ClassVar[int] = 0x54
    sop_class_uid: str
    scu_role: int = 1
    scp_role: int = 0


@dataclass(frozen=True, slots=True)
class ImplementationVersionName:
    """PS3.7 Annex D.3.3.2 (Table D.3-3): 1-16 characters naming the peer's software version."""

    item_type: ClassVar[int] = 0x55
    name: str


@dataclass(frozen=True, slots=True)
class SOPClassExtendedNegotiation:
    """PS3.7 Annex D.3.3.5 (Table D.3-11): service-class-specific application information for a SOP class."""

    item_type: ClassVar[int] = 0x56
    sop_class_uid: str
    service_class_application_information: bytes = b""


@dataclass(frozen=True, slots=True)
class SOPClassCommonExtendedNegotiation:
    """PS3.7 Annex D.3.3.6 (Table D.3-12): the service class and related general SOP classes of a SOP class.
    ``sub_item_version`` is the byte PS3.7 puts where other items have a reserved byte (0 today)."""

    item_type: ClassVar[int] = 0x57
    sop_class_uid: str
    service_class_uid: str
    related_general_sop_class_uids: tuple[str, ...] = ()
    sub_item_version: int = 0

    def __post_init__(self) -> None:
        _tuple(self, "related_general_sop_class_uids")


USER_IDENTITY_TYPE_NAMES: dict[int, str] = {
    1: "username", 2: "username-and-passcode", 3: "kerberos", 4: "saml", 5: "jwt",
}


@dataclass(frozen=True, slots=True)
class UserIdentityRQ:
    """PS3.7 Annex D.3.3.7.1 (Table D.3-14): user identity proposed by the requestor. The secondary field is
    the passcode for type 2 and empty otherwise. Bytes, not str: a passcode is not ours to decode."""

    item_type: ClassVar[int] = 0x58
    identity_type: int
    primary_field: bytes
    secondary_field: bytes = b""
    positive_response_requested: bool = False

    def __repr__(self) -> str:  # never print a passcode into a trace or a report
        return (f"UserIdentityRQ(identity_type={self.identity_type}, primary_field=<{len(self.primary_field)}"
                f" bytes>, secondary_field=<{len(self.secondary_field)} bytes>, "
                f"positive_response_requested={self.positive_response_requested})")


@dataclass(frozen=True, slots=True)
class UserIdentityAC:
    """PS3.7 Annex D.3.3.7.2 (Table D.3-15): the acceptor's server response (a Kerberos ticket, a SAML
    response, a JWT; empty for types 1 and 2)."""

    item_type: ClassVar[int] = 0x59
    server_response: bytes = b""


@dataclass(frozen=True, slots=True)
class UserInformation:
    """PS3.8 Table 9-16 / 9-20: the user information item and its sub-items, flattened.

    ``max_length`` None means the sub-item was absent (a violation: PS3.8 D.1 makes it mandatory);
    0 means "no limit". ``unknown`` keeps sub-items we do not know, or could not parse, in order.
    """

    item_type: ClassVar[int] = 0x50
    max_length: int | None = None
    implementation_class_uid: str | None = None
    implementation_version_name: str | None = None
    async_ops: AsyncOpsWindow | None = None
    role_selections: tuple[RoleSelection, ...] = ()
    sop_extended: tuple[SOPClassExtendedNegotiation, ...] = ()
    sop_common_extended: tuple[SOPClassCommonExtendedNegotiation, ...] = ()
    user_identity_rq: UserIdentityRQ | None = None
    user_identity_ac: UserIdentityAC | None = None
    unknown: tuple[UnknownItem, ...] = ()

    def __post_init__(self) -> None:
        for name in ("role_selections", "sop_extended", "sop_common_extended", "unknown"):
            _tuple(self, name)


Item = Union[
    ApplicationContextItem, PresentationContextRQ, PresentationContextAC, AbstractSyntaxItem,
    TransferSyntaxItem, UserInformation, MaximumLength, ImplementationClassUID, AsyncOpsWindow, RoleSelection,
    ImplementationVersionName, SOPClassExtendedNegotiation, SOPClassCommonExtendedNegotiation, UserIdentityRQ,
    UserIdentityAC, UnknownItem,
]

# The one registry: type code -> class (codec.py dispatches on it).
ITEM_TYPES: dict[int, type] = {
    cls.item_type: cls for cls in (
        ApplicationContextItem, PresentationContextRQ, PresentationContextAC, AbstractSyntaxItem,
        TransferSyntaxItem, UserInformation, MaximumLength, ImplementationClassUID, AsyncOpsWindow,
        RoleSelection, ImplementationVersionName, SOPClassExtendedNegotiation,
        SOPClassCommonExtendedNegotiation, UserIdentityRQ, UserIdentityAC,
    )
}

ITEM_NAMES: dict[int, str] = {
    0x10: "application context", 0x20: "presentation context (RQ)", 0x21: "presentation context (AC)",
    0x30: "abstract syntax", 0x40: "transfer syntax", 0x50: "user information", 0x51: "maximum length",
    0x52: "implementation class UID", 0x53: "asynchronous operations window", 0x54: "SCP/SCU role selection",
    0x55: "implementation version name", 0x56: "SOP class extended negotiation",
    0x57: "SOP class common extended negotiation", 0x58: "user identity (RQ)", 0x59: "user identity (AC)",
}

# --- code tables -------------------------------------------------------------------------------------

# PS3.8 Table 9-18, result/reason of a presentation context in A-ASSOCIATE-AC.
PC_RESULT_NAMES: dict[int, str] = {
    0: "acceptance",
    1: "user-rejection",
    2: "no-reason (provider rejection)",
    3: "abstract-syntax-not-supported (provider rejection)",
    4: "transfer-syntaxes-not-supported (provider rejection)",
}


def pc_result_name(result: int) -> str:
    return PC_RESULT_NAMES.get(result, f"unknown ({result})")


# PS3.8 Table 9-21, A-ASSOCIATE-RJ.
REJECT_RESULT_NAMES: dict[int, str] = {1: "rejected-permanent", 2: "rejected-transient"}
REJECT_SOURCE_NAMES: dict[int, str] = {
    1: "DICOM UL service-user",
    2: "DICOM UL service-provider (ACSE related function)",
    3: "DICOM UL service-provider (presentation related function)",
}
REJECT_REASON_NAMES: dict[tuple[int, int], str] = {
    (1, 1): "no-reason-given",
    (1, 2): "application-context-name-not-supported",
    (1, 3): "calling-AE-title-not-recognized",
    (1, 7): "called-AE-title-not-recognized",
    (2, 1): "no-reason-given",
    (2, 2): "protocol-version-not-supported",
    (3, 1): "temporary-congestion",
    (3, 2): "local-limit-exceeded",
}


def reject_result_name(result: int) -> str:
    return REJECT_RESULT_NAMES.get(result, f"unknown ({result})")


def reject_source_name(source: int) -> str:
    return REJECT_SOURCE_NAMES.get(source, f"unknown ({source})")


def reject_reason_name(result: int, source: int, reason: int) -> str:
    """The reason's name; reasons are defined per source (Table 9-21), so the same number means different
    things under different sources. ``result`` is accepted for symmetry with the PDU's three bytes and
    does not change the name. Reserved or undefined combinations name themselves as such."""
    name = REJECT_REASON_NAMES.get((source, reason))
    if name is not None:
        return name
    if source in REJECT_SOURCE_NAMES:
        return f"reserved ({reason})"
    return f"unknown ({reason})"


def describe_reject(result: int, source: int, reason: int) -> str:
    """One line for humans: ``rejected-permanent by DICOM UL service-user: called-AE-title-not-recognized``."""
    return (f"{reject_result_name(result)} by {reject_source_name(source)}: "
            f"{reject_reason_name(result, source, reason)}")


# PS3.8 Table 9-26, A-ABORT. The reason is significant only when the source is 2 (provider).
ABORT_SOURCE_NAMES: dict[int, str] = {
    0: "DICOM UL service-user (initiated abort)",
    1: "reserved",
    2: "DICOM UL service-provider (initiated abort)",
}
ABORT_REASON_NAMES: dict[int, str] = {
    0: "reason-not-specified",
    1: "unrecognized-PDU",
    2: "unexpected-PDU",
    3: "reserved",
    4: "unrecognized-PDU-parameter",
    5: "unexpected-PDU-parameter",
    6: "invalid-PDU-parameter-value",
}


def abort_source_name(source: int) -> str:
    return ABORT_SOURCE_NAMES.get(source, f"unknown ({source})")


def abort_reason_name(source: int, reason: int) -> str:
    """The reason's name. For a service-user abort (source 0) the standard leaves the reason unspecified,
    so any value there reads as "reason-not-specified"."""
    if source == 0:
        return "reason-not-specified"
    return ABORT_REASON_NAMES.get(reason, f"unknown ({reason})")

