"""The seven PDUs of the DICOM Upper Layer (PS3.8 §9.3), as frozen slotted dataclasses.

Values, not wire structs: AE titles are ``str`` without padding, UIDs are ``str`` without NUL padding, and
the association PDUs hold their items flattened (``application_context``, ``presentation_contexts``,
``user_information``). codec.py turns them into bytes and back; ``PDU_TYPES`` is the registry from the
type byte to the class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Union

from .items import (
    PresentationContextAC,
    PresentationContextRQ,
    UnknownItem,
    UserInformation,
    abort_reason_name,
    abort_source_name,
    describe_reject,
    reject_reason_name,
    reject_result_name,
    reject_source_name,
)

__all__ = [
    "AAssociateRQ", "AAssociateAC", "AAssociateRJ", "PDataTF", "PDV", "AReleaseRQ", "AReleaseRP", "AAbort",
    "PDU", "PDU_TYPES", "PDU_NAMES", "DICOM_APPLICATION_CONTEXT", "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
]

DICOM_APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"  # PS3.7 Annex A.2.1, the only one defined
# dicomdoctor's implementation class UID: a UUID-derived UID (PS3.5 §B.2), so no registered root is needed.
IMPLEMENTATION_CLASS_UID = "2.25.196246733361222028215275816432568834074"
IMPLEMENTATION_VERSION_NAME = "DICOMDOCTOR_01"


def _tuple(obj: object, name: str) -> None:
    value = getattr(obj, name)
    if not isinstance(value, tuple):
        object.__setattr__(obj, name, tuple(value))


@dataclass(frozen=True, slots=True)
class AAssociateRQ:
    """PS3.8 Table 9-11 (A-ASSOCIATE-RQ, type 0x01). ``unknown_items`` keeps variable items of unknown type."""

    pdu_type: ClassVar[int] = 0x01
    called_ae: str
    calling_ae: str
    protocol_version: int = 1
    application_context: str = DICOM_APPLICATION_CONTEXT
    presentation_contexts: tuple[PresentationContextRQ, ...] = ()
    user_information: UserInformation | None = UserInformation()
    unknown_items: tuple[UnknownItem, ...] = ()

    def __post_init__(self) -> None:
        _tuple(self, "presentation_contexts")
        _tuple(self, "unknown_items")

    @property
    def max_length(self) -> int | None:
        return self.user_information.max_length if self.user_information else None


@dataclass(frozen=True, slots=True)
class AAssociateAC:
    """PS3.8 Table 9-17 (A-ASSOCIATE-AC, type 0x02). The AE fields are "reserved" but PS3.8 asks that they
    echo the RQ; they are decoded so a check can see a peer that does not."""

    pdu_type: ClassVar[int] = 0x02
    called_ae: str
    calling_ae: str
    protocol_version: int = 1
    application_context: str = DICOM_APPLICATION_CONTEXT
    presentation_contexts: tuple[PresentationContextAC, ...] = ()
    user_information: UserInformation | None = UserInformation()
    unknown_items: tuple[UnknownItem, ...] = ()

    def __post_init__(self) -> None:
        _tuple(self, "presentation_contexts")
        _tuple(self, "unknown_items")

    @property
    def max_length(self) -> int | None:
        return self.user_information.max_length if self.user_information else None


@dataclass(frozen=True, slots=True)
class AAssociateRJ:
    """PS3.8 Table 9-21 (A-ASSOCIATE-RJ, type 0x03): result 1 permanent / 2 transient, source 1..3, reason."""

    pdu_type: ClassVar[int] = 0x03
    result: int = 1
    source: int = 1
    reason: int = 1

    @property
    def result_name(self) -> str:
        return reject_result_name(self.result)

    @property
    def source_name(self) -> str:
        return reject_source_name(self.source)

    @property
    def reason_name(self) -> str:
        return reject_reason_name(self.result, self.source, self.reason)

    def describe(self) -> str:
        return describe_reject(self.result, self.source, self.reason)


@dataclass(frozen=True, slots=True, eq=True)
class PDV:
    """PS3.8 §9.3.5.1 / Annex E.2: one presentation data value. The message control header packs
    ``is_command`` (bit 0) and ``is_last`` (bit 1).

    ``data`` may be a read-only ``memoryview`` into the received PDU (decoding does not copy fragments);
    it compares equal to the same bytes. Call ``bytes(pdv.data)`` to own a copy.
    """

    context_id: int
    is_command: bool
    is_last: bool
    data: bytes | memoryview = b""

    @property
    def message_control_header(self) -> int:
        return (1 if self.is_command else 0) | (2 if self.is_last else 0)

    def __repr__(self) -> str:  # data may be megabytes, and a memoryview repr says nothing
        return (f"PDV(context_id={self.context_id}, is_command={self.is_command}, is_last={self.is_last}, "
                f"data=<{len(self.data)} bytes>)")


@dataclass(frozen=True, slots=True)
class PDataTF:
    """PS3.8 Table 9-22 (P-DATA-TF, type 0x04): one or more PDV items."""

    pdu_type: ClassVar[int] = 0x04
    pdvs: tuple[PDV, ...] = ()

    def __post_init__(self) -> None:
        _tuple(self, "pdvs")


@dataclass(frozen=True, slots=True)
class AReleaseRQ:
    """PS3.8 Table 9-24 (A-RELEASE-RQ, type 0x05): no parameters."""

    pdu_type: ClassVar[int] = 0x05


@dataclass(frozen=True, slots=True)
class AReleaseRP:
    """PS3.8 Table 9-25 (A-RELEASE-RP, type 0x06): no parameters."""

    pdu_type: ClassVar[int] = 0x06


@dataclass(frozen=True, slots=True)
class AAbort:
    """PS3.8 Table 9-26 (A-ABORT, type 0x07): source 0 service-user, 2 service-provider; reason Table 9-26."""

    pdu_type: ClassVar[int] = 0x07
    source: int = 0
    reason: int = 0

    @property
    def source_name(self) -> str:
        return abort_source_name(self.source)

    @property
    def reason_name(self) -> str:
        return abort_reason_name(self.source, self.reason)


PDU = Union[AAssociateRQ, AAssociateAC, AAssociateRJ, PDataTF, AReleaseRQ, AReleaseRP, AAbort]

# The one registry: PDU type byte -> class (codec.py and reader.py dispatch on it).
PDU_TYPES: dict[int, type] = {
    cls.pdu_type: cls for cls in (AAssociateRQ, AAssociateAC, AAssociateRJ, PDataTF, AReleaseRQ, AReleaseRP,
                                  AAbort)
}

PDU_NAMES: dict[int, str] = {
    0x01: "A-ASSOCIATE-RQ", 0x02: "A-ASSOCIATE-AC", 0x03: "A-ASSOCIATE-RJ", 0x04: "P-DATA-TF",
    0x05: "A-RELEASE-RQ", 0x06: "A-RELEASE-RP", 0x07: "A-ABORT",
}
