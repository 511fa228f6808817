"""dimse: sans-I/O DIMSE (PS3.7): command sets, messages, P-DATA fragmentation/reassembly, the status
catalogue and Part 10 header parsing. No sockets, no asyncio, no clocks (see DESIGN.md, ARCHITECTURE.md)."""

from .commands import (
    COMMAND_ELEMENTS,
    DATASET_PRESENT,
    DEFAULT_MAX_COMMAND_BYTES,
    NO_DATASET,
    CommandSet,
    CommandValue,
    command_to_dataset,
    command_violations,
    decode_command,
    encode_command,
    tag_name,
)
from .errors import DimseProtocolError, FragmentationError, MalformedCommand
from .fragment import (
    FRAGMENT_OVERHEAD,
    MAX_COMMAND_BYTES,
    MCH_COMMAND,
    MCH_LAST,
    PDV_OVERHEAD,
    UNLIMITED_CHUNK,
    AssembledMessage,
    DatasetSink,
    DatasetWriter,
    Reassembler,
    fragment,
    fragment_command,
    fragment_dataset,
    fragment_dataset_stream,
    max_pdv_data,
    pdv_header,
)
from .messages import (
    MESSAGE_TYPES,
    PRIORITY_HIGH,
    PRIORITY_LOW,
    PRIORITY_MEDIUM,
    SERVICE_BY_COMMAND_FIELD,
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
    DimseMessage,
    Message,
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
    decode_message,
    message_from_command,
)
from .part10 import Part10Error, Part10Info, Part10NeedMore, encode_dataset, parse_part10_header
from .status import (
    CATEGORIES,
    SERVICES,
    StatusInfo,
    all_entries,
    category,
    decode_offending_elements,
    lookup,
    normalize_service,
    range_category,
    response_evidence,
)

__all__ = [
    # commands
    "COMMAND_ELEMENTS", "DATASET_PRESENT", "DEFAULT_MAX_COMMAND_BYTES", "NO_DATASET", "CommandSet",
    "CommandValue", "command_to_dataset", "command_violations", "decode_command", "encode_command", "tag_name",
    # errors
    "DimseProtocolError", "FragmentationError", "MalformedCommand",
    # fragment
    "MCH_COMMAND", "MCH_LAST", "PDV_OVERHEAD", "UNLIMITED_CHUNK", "AssembledMessage", "DatasetSink",
    "DatasetWriter", "FRAGMENT_OVERHEAD", "MAX_COMMAND_BYTES", "Reassembler", "fragment", "fragment_command", "fragment_dataset",
    "fragment_dataset_stream", "max_pdv_data", "pdv_header",
    # messages
    "MESSAGE_TYPES", "PRIORITY_HIGH", "PRIORITY_LOW", "PRIORITY_MEDIUM", "SERVICE_BY_COMMAND_FIELD",
    "CCancelRQ", "CEchoRQ", "CEchoRSP", "CFindRQ", "CFindRSP", "CGetRQ", "CGetRSP", "CMoveRQ", "CMoveRSP",
    "CStoreRQ", "CStoreRSP", "DimseMessage", "Message", "NActionRQ", "NActionRSP", "NCreateRQ", "NCreateRSP",
    "NDeleteRQ", "NDeleteRSP", "NEventReportRQ", "NEventReportRSP", "NGetRQ", "NGetRSP", "NSetRQ", "NSetRSP",
    "UnknownMessage", "decode_message", "message_from_command",
    # part10
    "Part10Error", "Part10Info", "Part10NeedMore", "encode_dataset", "parse_part10_header",
    # status
    "CATEGORIES", "SERVICES", "StatusInfo", "all_entries", "category", "decode_offending_elements", "lookup",
    "normalize_service", "range_category", "response_evidence",
]
