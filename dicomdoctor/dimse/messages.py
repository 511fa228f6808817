"""DIMSE messages as frozen dataclasses (PS3.7 §9.3 DIMSE-C, §10.3 DIMSE-N).

Each class holds the command elements of one message; the data set (if any) travels separately as
bytes (see `Message` and fragment.py). Field names are the snake_case of the PS3.7 Annex E keywords.

Decoding is lenient, as a doctor's must be: `decode_message` never fails on content (only on bytes that
cannot be walked, `MalformedCommand`). An unknown Command Field gives an `UnknownMessage`; elements a class
does not model are kept in ``extra``; mandatory elements the peer left out get the field default and are
listed in ``missing`` (so `to_command_bytes()` of a decoded message reproduces what the peer sent, and a
check can report "C-STORE-RSP without Status").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, TypeVar

from .commands import (
    DATASET_PRESENT,
    NO_DATASET,
    CommandSet,
    CommandValue,
    decode_command,
    encode_command,
)

T = TypeVar("T", bound="DimseMessage")

# Priority (0000,0700), PS3.7 §9.1.1.1.x: medium is the default.
PRIORITY_MEDIUM = 0x0000
PRIORITY_HIGH = 0x0001
PRIORITY_LOW = 0x0002

_CMD_FIELD = 0x00000100


def _el(tag: int, kind: str, default: Any = None, *, required: bool = False) -> Any:
    """A command element field: `kind` is "int", "str" or "tags" (AT, VM 1-n)."""
    return field(default=default, metadata={"tag": tag, "kind": kind, "required": required})


_Spec = tuple[str, int, str, bool]  # field name, tag, kind, required
_SPECS: dict[type, tuple[_Spec, ...]] = {}


def _specs(cls: type) -> tuple[_Spec, ...]:
    """The command-element fields of a class, computed once: `dataclasses.fields` is slow on a hot path."""
    specs = _SPECS.get(cls)
    if specs is None:
        specs = tuple((f.name, f.metadata["tag"], f.metadata["kind"], bool(f.metadata["required"]))
                      for f in fields(cls) if "tag" in f.metadata)
        _SPECS[cls] = specs
    return specs


def _coerce(kind: str, value: CommandValue) -> tuple[bool, Any]:
    """(fits, value) for a decoded value; values that do not fit the field go to ``extra`` untouched."""
    if value is None:
        return True, None
    if kind == "int":
        if isinstance(value, int):
            return True, value
        return False, value
    if kind == "str":
        return (True, value) if isinstance(value, str) else (False, value)
    if kind == "tags":
        if isinstance(value, tuple):
            return True, value
        return False, value
    return False, value


@dataclass(frozen=True, slots=True, kw_only=True)
class DimseMessage:
    """Base of every message. ``extra``: elements not modelled by the class (tag, decoded value);
    ``missing``: mandatory elements absent from a decoded command (their fields hold defaults)."""

    COMMAND_FIELD: ClassVar[int] = -1
    NAME: ClassVar[str] = "UNKNOWN"
    SERVICE: ClassVar[str | None] = None
    IS_RESPONSE: ClassVar[bool] = False

    command_data_set_type: int = _el(0x00000800, "int", NO_DATASET, required=True)
    extra: tuple[tuple[int, CommandValue], ...] = ()
    missing: tuple[int, ...] = ()

    @property
    def command_field(self) -> int:
        return self.COMMAND_FIELD

    @property
    def name(self) -> str:
        return self.NAME

    @property
    def service(self) -> str | None:
        return self.SERVICE

    @property
    def has_dataset(self) -> bool:
        """PS3.7 §9.3: CommandDataSetType 0101H means no data set; any other value means one follows."""
        return self.command_data_set_type != NO_DATASET

    def to_command(self) -> CommandSet:
        """The command set as a tag -> value dict (without group length), ready for `encode_command`."""
        out: CommandSet = {_CMD_FIELD: self.command_field}
        skip = self.missing
        for name, tag, _kind, _req in _specs(type(self)):
            if skip and tag in skip:
                continue
            value = getattr(self, name)
            if value is not None:
                out[tag] = value
        for tag, value in self.extra:
            out.setdefault(tag, value)
        return out

    def to_command_bytes(self) -> bytes:
        return encode_command(self.to_command())

    @classmethod
    def from_command(cls: type[T], command: Mapping[int, CommandValue]) -> T:
        kwargs: dict[str, Any] = {}
        used = {0x00000000, _CMD_FIELD}
        extra: list[tuple[int, CommandValue]] = []
        missing: list[int] = []
        for name, tag, kind, required in _specs(cls):
            used.add(tag)
            if tag not in command:
                if required:
                    missing.append(tag)
                else:
                    kwargs[name] = None
                continue
            fits, value = _coerce(kind, command[tag])
            if fits and not (value is None and required):
                kwargs[name] = value
            else:
                # Keep the peer's value verbatim; the field keeps its default and is reported missing.
                extra.append((tag, command[tag]))
                if required:
                    missing.append(tag)
                else:
                    kwargs[name] = None
        extra.extend((tag, value) for tag, value in command.items() if tag not in used)
        if len(extra) > 1:
            extra.sort(key=lambda kv: kv[0])
        return cls(extra=tuple(extra), missing=tuple(missing), **kwargs)


# --- shapes shared by many messages -------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class _Request(DimseMessage):
    message_id: int = _el(0x00000110, "int", 1, required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class _Response(DimseMessage):
    """Status elements every response may carry (PS3.7 Annex C: Error Comment, Error ID, Offending
    Element accompany failure and warning statuses)."""

    IS_RESPONSE: ClassVar[bool] = True
    message_id_being_responded_to: int = _el(0x00000120, "int", 0, required=True)
    status: int = _el(0x00000900, "int", 0x0000, required=True)
    offending_element: tuple[int, ...] | None = _el(0x00000901, "tags")
    error_comment: str | None = _el(0x00000902, "str")
    error_id: int | None = _el(0x00000903, "int")

    @property
    def is_pending(self) -> bool:
        return self.status in (0xFF00, 0xFF01)

    @property
    def category(self) -> str:
        from .status import category  # local: status.py is independent of messages.py

        return category(self.status, self.SERVICE)


# --- DIMSE-C (PS3.7 §9.3) -----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class CEchoRQ(_Request):
    """C-ECHO-RQ, PS3.7 Table 9.3-12."""

    COMMAND_FIELD: ClassVar[int] = 0x0030
    NAME: ClassVar[str] = "C-ECHO-RQ"
    SERVICE: ClassVar[str | None] = "c-echo"
    affected_sop_class_uid: str = _el(0x00000002, "str", "1.2.840.10008.1.1", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CEchoRSP(_Response):
    """C-ECHO-RSP, PS3.7 Table 9.3-13."""

    COMMAND_FIELD: ClassVar[int] = 0x8030
    NAME: ClassVar[str] = "C-ECHO-RSP"
    SERVICE: ClassVar[str | None] = "c-echo"
    affected_sop_class_uid: str | None = _el(0x00000002, "str", "1.2.840.10008.1.1")


@dataclass(frozen=True, slots=True, kw_only=True)
class CStoreRQ(_Request):
    """C-STORE-RQ, PS3.7 Table 9.3-1. The move originator fields are set on C-STOREs that are
    sub-operations of a C-MOVE."""

    COMMAND_FIELD: ClassVar[int] = 0x0001
    NAME: ClassVar[str] = "C-STORE-RQ"
    SERVICE: ClassVar[str | None] = "c-store"
    command_data_set_type: int = _el(0x00000800, "int", DATASET_PRESENT, required=True)
    affected_sop_class_uid: str = _el(0x00000002, "str", "", required=True)
    affected_sop_instance_uid: str = _el(0x00001000, "str", "", required=True)
    priority: int = _el(0x00000700, "int", PRIORITY_MEDIUM, required=True)
    move_originator_ae_title: str | None = _el(0x00001030, "str")
    move_originator_message_id: int | None = _el(0x00001031, "int")


@dataclass(frozen=True, slots=True, kw_only=True)
class CStoreRSP(_Response):
    """C-STORE-RSP, PS3.7 Table 9.3-2."""

    COMMAND_FIELD: ClassVar[int] = 0x8001
    NAME: ClassVar[str] = "C-STORE-RSP"
    SERVICE: ClassVar[str | None] = "c-store"
    affected_sop_class_uid: str | None = _el(0x00000002, "str")
    affected_sop_instance_uid: str | None = _el(0x00001000, "str")


@dataclass(frozen=True, slots=True, kw_only=True)
class CFindRQ(_Request):
    """C-FIND-RQ, PS3.7 Table 9.3-3; the identifier follows as the data set."""

    COMMAND_FIELD: ClassVar[int] = 0x0020
    NAME: ClassVar[str] = "C-FIND-RQ"
    SERVICE: ClassVar[str | None] = "c-find"
    command_data_set_type: int = _el(0x00000800, "int", DATASET_PRESENT, required=True)
    affected_sop_class_uid: str = _el(0x00000002, "str", "", required=True)
    priority: int = _el(0x00000700, "int", PRIORITY_MEDIUM, required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CFindRSP(_Response):
    """C-FIND-RSP, PS3.7 Table 9.3-4; pending responses carry an identifier (data set)."""

    COMMAND_FIELD: ClassVar[int] = 0x8020
    NAME: ClassVar[str] = "C-FIND-RSP"
    SERVICE: ClassVar[str | None] = "c-find"
    affected_sop_class_uid: str | None = _el(0x00000002, "str")


@dataclass(frozen=True, slots=True, kw_only=True)
class CGetRQ(_Request):
    """C-GET-RQ, PS3.7 Table 9.3-5."""

    COMMAND_FIELD: ClassVar[int] = 0x0010
    NAME: ClassVar[str] = "C-GET-RQ"
    SERVICE: ClassVar[str | None] = "c-get"
    command_data_set_type: int = _el(0x00000800, "int", DATASET_PRESENT, required=True)
    affected_sop_class_uid: str = _el(0x00000002, "str", "", required=True)
    priority: int = _el(0x00000700, "int", PRIORITY_MEDIUM, required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class _RetrieveRSP(_Response):
    """Shared by C-GET-RSP and C-MOVE-RSP: sub-operation counters (0000,1020)-(0000,1023)."""

    affected_sop_class_uid: str | None = _el(0x00000002, "str")
    number_of_remaining_suboperations: int | None = _el(0x00001020, "int")
    number_of_completed_suboperations: int | None = _el(0x00001021, "int")
    number_of_failed_suboperations: int | None = _el(0x00001022, "int")
    number_of_warning_suboperations: int | None = _el(0x00001023, "int")


@dataclass(frozen=True, slots=True, kw_only=True)
class CGetRSP(_RetrieveRSP):
    """C-GET-RSP, PS3.7 Table 9.3-6."""

    COMMAND_FIELD: ClassVar[int] = 0x8010
    NAME: ClassVar[str] = "C-GET-RSP"
    SERVICE: ClassVar[str | None] = "c-get"


@dataclass(frozen=True, slots=True, kw_only=True)
class CMoveRQ(_Request):
    """C-MOVE-RQ, PS3.7 Table 9.3-7."""

    COMMAND_FIELD: ClassVar[int] = 0x0021
    NAME: ClassVar[str] = "C-MOVE-RQ"
    SERVICE: ClassVar[str | None] = "c-move"
    command_data_set_type: int = _el(0x00000800, "int", DATASET_PRESENT, required=True)
    affected_sop_class_uid: str = _el(0x00000002, "str", "", required=True)
    priority: int = _el(0x00000700, "int", PRIORITY_MEDIUM, required=True)
    move_destination: str = _el(0x00000600, "str", "", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class CMoveRSP(_RetrieveRSP):
    """C-MOVE-RSP, PS3.7 Table 9.3-8."""

    COMMAND_FIELD: ClassVar[int] = 0x8021
    NAME: ClassVar[str] = "C-MOVE-RSP"
    SERVICE: ClassVar[str | None] = "c-move"


@dataclass(frozen=True, slots=True, kw_only=True)
class CCancelRQ(DimseMessage):
    """C-CANCEL-RQ, PS3.7 Table 9.3-9/10/11: names the request to cancel; no Message ID of its own."""

    COMMAND_FIELD: ClassVar[int] = 0x0FFF
    NAME: ClassVar[str] = "C-CANCEL-RQ"
    SERVICE: ClassVar[str | None] = None
    message_id_being_responded_to: int = _el(0x00000120, "int", 0, required=True)


# --- DIMSE-N (PS3.7 §10.3) ----------------------------------------------------------------------------

@dataclass(frozen=True, slots=True, kw_only=True)
class NEventReportRQ(_Request):
    """N-EVENT-REPORT-RQ, PS3.7 Table 10.3-1 (event information, if any, is the data set)."""

    COMMAND_FIELD: ClassVar[int] = 0x0100
    NAME: ClassVar[str] = "N-EVENT-REPORT-RQ"
    SERVICE: ClassVar[str | None] = "n-event-report"
    affected_sop_class_uid: str = _el(0x00000002, "str", "", required=True)
    affected_sop_instance_uid: str = _el(0x00001000, "str", "", required=True)
    event_type_id: int = _el(0x00001002, "int", 0, required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class NEventReportRSP(_Response):
    """N-EVENT-REPORT-RSP, PS3.7 Table 10.3-2."""

    COMMAND_FIELD: ClassVar[int] = 0x8100
    NAME: ClassVar[str] = "N-EVENT-REPORT-RSP"
    SERVICE: ClassVar[str | None] = "n-event-report"
    affected_sop_class_uid: str | None = _el(0x00000002, "str")
    affected_sop_instance_uid: str | None = _el(0x00001000, "str")
    event_type_id: int | None = _el(0x00001002, "int")


@dataclass(frozen=True, slots=True, kw_only=True)
class NGetRQ(_Request):
    """N-GET-RQ, PS3.7 Table 10.3-3; an empty attribute list asks for every attribute."""

    COMMAND_FIELD: ClassVar[int] = 0x0110
    NAME: ClassVar[str] = "N-GET-RQ"
    SERVICE: ClassVar[str | None] = "n-get"
    requested_sop_class_uid: str = _el(0x00000003, "str", "", required=True)
    requested_sop_instance_uid: str = _el(0x00001001, "str", "", required=True)
    attribute_identifier_list: tuple[int, ...] | None = _el(0x00001005, "tags")


@dataclass(frozen=True, slots=True, kw_only=True)
class _NResponse(_Response):
    """N-* responses: affected SOP class/instance and, for attribute list errors, the attribute list."""

    affected_sop_class_uid: str | None = _el(0x00000002, "str")
    affected_sop_instance_uid: str | None = _el(0x00001000, "str")
    attribute_identifier_list: tuple[int, ...] | None = _el(0x00001005, "tags")


@dataclass(frozen=True, slots=True, kw_only=True)
class NGetRSP(_NResponse):
    """N-GET-RSP, PS3.7 Table 10.3-4; the attribute list (values) is the data set."""

    COMMAND_FIELD: ClassVar[int] = 0x8110
    NAME: ClassVar[str] = "N-GET-RSP"
    SERVICE: ClassVar[str | None] = "n-get"


@dataclass(frozen=True, slots=True, kw_only=True)
class NSetRQ(_Request):
    """N-SET-RQ, PS3.7 Table 10.3-5; the modification list is the data set."""

    COMMAND_FIELD: ClassVar[int] = 0x0120
    NAME: ClassVar[str] = "N-SET-RQ"
    SERVICE: ClassVar[str | None] = "n-set"
    command_data_set_type: int = _el(0x00000800, "int", DATASET_PRESENT, required=True)
    requested_sop_class_uid: str = _el(0x00000003, "str", "", required=True)
    requested_sop_instance_uid: str = _el(0x00001001, "str", "", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class NSetRSP(_NResponse):
    """N-SET-RSP, PS3.7 Table 10.3-6."""

    COMMAND_FIELD: ClassVar[int] = 0x8120
    NAME: ClassVar[str] = "N-SET-RSP"
    SERVICE: ClassVar[str | None] = "n-set"


@dataclass(frozen=True, slots=True, kw_only=True)
class NActionRQ(_Request):
    """N-ACTION-RQ, PS3.7 Table 10.3-7 (e.g. Storage Commitment request, action type 1)."""

    COMMAND_FIELD: ClassVar[int] = 0x0130
    NAME: ClassVar[str] = "N-ACTION-RQ"
    SERVICE: ClassVar[str | None] = "n-action"
    requested_sop_class_uid: str = _el(0x00000003, "str", "", required=True)
    requested_sop_instance_uid: str = _el(0x00001001, "str", "", required=True)
    action_type_id: int = _el(0x00001008, "int", 0, required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class NActionRSP(_NResponse):
    """N-ACTION-RSP, PS3.7 Table 10.3-8."""

    COMMAND_FIELD: ClassVar[int] = 0x8130
    NAME: ClassVar[str] = "N-ACTION-RSP"
    SERVICE: ClassVar[str | None] = "n-action"
    action_type_id: int | None = _el(0x00001008, "int")


@dataclass(frozen=True, slots=True, kw_only=True)
class NCreateRQ(_Request):
    """N-CREATE-RQ, PS3.7 Table 10.3-9; the SCU may leave the instance UID to the SCP."""

    COMMAND_FIELD: ClassVar[int] = 0x0140
    NAME: ClassVar[str] = "N-CREATE-RQ"
    SERVICE: ClassVar[str | None] = "n-create"
    affected_sop_class_uid: str = _el(0x00000002, "str", "", required=True)
    affected_sop_instance_uid: str | None = _el(0x00001000, "str")


@dataclass(frozen=True, slots=True, kw_only=True)
class NCreateRSP(_NResponse):
    """N-CREATE-RSP, PS3.7 Table 10.3-10."""

    COMMAND_FIELD: ClassVar[int] = 0x8140
    NAME: ClassVar[str] = "N-CREATE-RSP"
    SERVICE: ClassVar[str | None] = "n-create"


@dataclass(frozen=True, slots=True, kw_only=True)
class NDeleteRQ(_Request):
    """N-DELETE-RQ, PS3.7 Table 10.3-11."""

    COMMAND_FIELD: ClassVar[int] = 0x0150
    NAME: ClassVar[str] = "N-DELETE-RQ"
    SERVICE: ClassVar[str | None] = "n-delete"
    requested_sop_class_uid: str = _el(0x00000003, "str", "", required=True)
    requested_sop_instance_uid: str = _el(0x00001001, "str", "", required=True)


@dataclass(frozen=True, slots=True, kw_only=True)
class NDeleteRSP(_NResponse):
    """N-DELETE-RSP, PS3.7 Table 10.3-12."""

    COMMAND_FIELD: ClassVar[int] = 0x8150
    NAME: ClassVar[str] = "N-DELETE-RSP"
    SERVICE: ClassVar[str | None] = "n-delete"


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownMessage(DimseMessage):
    """A command whose Command Field we do not know (or that has none): kept whole, never a crash."""

    unknown_command_field: int | None = None

    @property
    def command_field(self) -> int:
        return -1 if self.unknown_command_field is None else self.unknown_command_field

    @property
    def name(self) -> str:
        if self.unknown_command_field is None:
            return "UNKNOWN (no Command Field)"
        return f"UNKNOWN (Command Field 0x{self.unknown_command_field:04X})"

    def to_command(self) -> CommandSet:
        out = DimseMessage.to_command(self)
        if self.unknown_command_field is None:
            del out[_CMD_FIELD]
        return out


MESSAGE_TYPES: dict[int, type[DimseMessage]] = {
    cls.COMMAND_FIELD: cls
    for cls in (CEchoRQ, CEchoRSP, CStoreRQ, CStoreRSP, CFindRQ, CFindRSP, CGetRQ, CGetRSP, CMoveRQ,
                CMoveRSP, CCancelRQ, NEventReportRQ, NEventReportRSP, NGetRQ, NGetRSP, NSetRQ, NSetRSP,
                NActionRQ, NActionRSP, NCreateRQ, NCreateRSP, NDeleteRQ, NDeleteRSP)
}

# Command Field -> service name used by status.py ("c-store", ...). C-CANCEL belongs to the operation it
# cancels, which the command itself does not say.
SERVICE_BY_COMMAND_FIELD: dict[int, str] = {
    cf: cls.SERVICE for cf, cls in MESSAGE_TYPES.items() if cls.SERVICE is not None
}


def message_from_command(command: Mapping[int, CommandValue]) -> DimseMessage:
    """Dispatch a decoded command set on (0000,0100) Command Field."""
    cf = command.get(_CMD_FIELD)
    cls = MESSAGE_TYPES.get(cf) if isinstance(cf, int) else None
    if cls is None:
        msg = UnknownMessage.from_command(command)
        if isinstance(cf, int):
            return UnknownMessage(unknown_command_field=cf, command_data_set_type=msg.command_data_set_type,
                                  extra=msg.extra, missing=msg.missing)
        # A Command Field with an unusable value stays visible in `extra`.
        extra = msg.extra if cf is None else tuple(sorted(msg.extra + ((_CMD_FIELD, cf),)))
        return UnknownMessage(command_data_set_type=msg.command_data_set_type, extra=extra, missing=msg.missing)
    return cls.from_command(command)


def decode_message(command_bytes: bytes | memoryview) -> DimseMessage:
    """Decode an encoded command set into its message class (`UnknownMessage` if the field is unknown).
    Raises `MalformedCommand` only when the bytes cannot be walked."""
    return message_from_command(decode_command(command_bytes))


@dataclass(frozen=True, slots=True)
class Message:
    """A whole DIMSE message as it travels: its presentation context, command and optional data set.
    ``dataset`` is None when the command announced none, or when the data set was streamed to a sink."""

    context_id: int
    command: DimseMessage
    dataset: bytes | memoryview | None = None
