"""Bytes <-> PDUs (PS3.8 §9.3, PS3.7 Annex D). Decode leniently; judge separately (validate.py).

What "lenient" means here, precisely:
- *Framing* errors raise ``MalformedPDU`` with the byte offset: a fixed field cut short, an item or PDV whose
  length runs past its parent. Past such a point nothing can be trusted, so there is nothing to return.
- *Content* oddities are tolerated and kept: unknown item types become ``UnknownItem``; a known item whose
  content cannot be parsed (a maximum-length item of 2 bytes, a role selection whose UID length overruns)
  is kept as ``UnknownItem`` of its type; AE titles lose their space/NUL padding, UIDs their trailing NULs;
  1-3 stray bytes after the last item (too few for an item header) are ignored. ``validate.validate()``
  reports all of these with offsets.
"""

from __future__ import annotations

import struct
from typing import Any, Callable, Iterator

from .errors import LocalProtocolError, MalformedPDU, UnrecognizedPDU
from .items import (
    ITEM_TYPES,
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
)
from .pdu import (
    PDU,
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

__all__ = [
    "encode_pdu", "decode_pdu", "decode_pdu_body", "encode_item", "encode_ae", "encode_uid",
    "encode_user_information", "encode_presentation_context", "encode_any_item", "decode_item", "iter_items",
    "decode_ae", "decode_uid",
    "PDU_HEADER", "ITEM_HEADER", "ASSOCIATE_FIXED_LENGTH",
]

PDU_HEADER = struct.Struct(">BBI")   # type, reserved, length (PS3.8 §9.3.1: big-endian lengths)
ITEM_HEADER = struct.Struct(">BBH")  # type, reserved, length
_U16 = struct.Struct(">H")
_U32 = struct.Struct(">I")
_PDV_HEADER = struct.Struct(">IBB")  # item length, presentation context id, message control header
ASSOCIATE_FIXED_LENGTH = 68  # bytes 7-74 of Tables 9-11/9-17: version, reserved, 2 AE titles, 32 reserved

Buffer = bytes | memoryview


# --- primitive encoders (also used by craft.py) ------------------------------------------------------

def encode_ae(ae: str) -> bytes:
    """16 bytes, space padded (PS3.8 Table 9-11). Over 16 bytes cannot be encoded: craft.py builds that."""
    raw = ae.encode("latin-1")
    if len(raw) > 16:
        raise LocalProtocolError(f"AE title {ae!r} is {len(raw)} bytes; the field holds 16")
    return raw.ljust(16, b" ")


def encode_uid(uid: str) -> bytes:
    # PS3.8 items carry UIDs unpadded (Annex F); the item length gives their size.
    return uid.encode("latin-1")


def encode_item(item_type: int, data: bytes, reserved: int = 0) -> bytes:
    if len(data) > 0xFFFF:
        raise LocalProtocolError(f"item 0x{item_type:02x} content is {len(data)} bytes; the length field "
                                 f"holds 65535")
    return ITEM_HEADER.pack(item_type, reserved, len(data)) + data


def _u16_prefixed(data: bytes) -> bytes:
    if len(data) > 0xFFFF:
        raise LocalProtocolError(f"field of {len(data)} bytes does not fit a 2-byte length")
    return _U16.pack(len(data)) + data


def encode_presentation_context(pc: PresentationContextRQ | PresentationContextAC) -> bytes:
    if isinstance(pc, PresentationContextRQ):  # PS3.8 Table 9-13
        body = bytes((pc.context_id & 0xFF, 0, 0, 0)) + encode_item(0x30, encode_uid(pc.abstract_syntax))
        body += b"".join(encode_item(0x40, encode_uid(ts)) for ts in pc.transfer_syntaxes)
        body += b"".join(encode_item(u.item_type, u.data) for u in pc.extra)
        return encode_item(0x20, body)
    body = bytes((pc.context_id & 0xFF, 0, pc.result & 0xFF, 0))  # PS3.8 Table 9-18
    body += encode_item(0x40, encode_uid(pc.transfer_syntax))
    body += b"".join(encode_item(u.item_type, u.data) for u in pc.extra)
    return encode_item(0x21, body)


def _uid_pair(first: str, second: bytes) -> bytes:
    return _u16_prefixed(encode_uid(first)) + second


# Content encoders by item class (the registry ITEM_TYPES gives the class for each type code).
_CONTENT_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    ApplicationContextItem: lambda i: encode_uid(i.name),
    AbstractSyntaxItem: lambda i: encode_uid(i.name),
    TransferSyntaxItem: lambda i: encode_uid(i.name),
    MaximumLength: lambda i: _U32.pack(i.max_length & 0xFFFFFFFF),
    ImplementationClassUID: lambda i: encode_uid(i.uid),
    ImplementationVersionName: lambda i: i.name.encode("latin-1"),
    AsyncOpsWindow: lambda i: struct.pack(">HH", i.max_operations_invoked, i.max_operations_performed),
    RoleSelection: lambda i: _uid_pair(i.sop_class_uid, bytes((i.scu_role & 0xFF, i.scp_role & 0xFF))),
    SOPClassExtendedNegotiation: lambda i: _uid_pair(i.sop_class_uid, i.service_class_application_information),
    SOPClassCommonExtendedNegotiation: lambda i: _uid_pair(i.sop_class_uid, _uid_pair(
        i.service_class_uid, _u16_prefixed(b"".join(_u16_prefixed(encode_uid(u))
                                                     for u in i.related_general_sop_class_uids)))),
    UserIdentityRQ: lambda i: (bytes((i.identity_type & 0xFF, 1 if i.positive_response_requested else 0))
                               + _u16_prefixed(i.primary_field) + _u16_prefixed(i.secondary_field)),
    UserIdentityAC: lambda i: _u16_prefixed(i.server_response),
}


def encode_any_item(item: Item) -> bytes:
    """Any item or sub-item of items.py, header included (craft.py uses it to emit items alone)."""
    if isinstance(item, UnknownItem):
        return encode_item(item.item_type, item.data)
    if isinstance(item, (PresentationContextRQ, PresentationContextAC)):
        return encode_presentation_context(item)
    if isinstance(item, UserInformation):
        return encode_user_information(item)
    reserved = item.sub_item_version if isinstance(item, SOPClassCommonExtendedNegotiation) else 0
    return encode_item(item.item_type, _CONTENT_ENCODERS[type(item)](item), reserved)


def encode_user_information(ui: UserInformation) -> bytes:
    """PS3.8 Table 9-16. Sub-item order: 51, 52, 55 (as dcmtk and pynetdicom send them), then 53, 54, 56,
    57, 58, 59 and unknown ones; PS3.7 Annex D does not impose an order."""
    subs: list[Item] = []
    if ui.max_length is not None:
        subs.append(MaximumLength(ui.max_length))
    if ui.implementation_class_uid is not None:
        subs.append(ImplementationClassUID(ui.implementation_class_uid))
    if ui.implementation_version_name is not None:
        subs.append(ImplementationVersionName(ui.implementation_version_name))
    if ui.async_ops is not None:
        subs.append(ui.async_ops)
    subs += [*ui.role_selections, *ui.sop_extended, *ui.sop_common_extended]
    if ui.user_identity_rq is not None:
        subs.append(ui.user_identity_rq)
    if ui.user_identity_ac is not None:
        subs.append(ui.user_identity_ac)
    subs += ui.unknown
    return encode_item(0x50, b"".join(encode_any_item(sub) for sub in subs))


def _encode_associate(pdu: AAssociateRQ | AAssociateAC) -> bytes:
    body = [struct.pack(">HH", pdu.protocol_version & 0xFFFF, 0), encode_ae(pdu.called_ae),
            encode_ae(pdu.calling_ae), bytes(32), encode_item(0x10, encode_uid(pdu.application_context))]
    body += [encode_presentation_context(pc) for pc in pdu.presentation_contexts]
    if pdu.user_information is not None:
        body.append(encode_user_information(pdu.user_information))
    body += [encode_item(u.item_type, u.data) for u in pdu.unknown_items]
    return b"".join(body)


def encode_pdu(pdu: PDU) -> bytes:
    """The complete PDU, header included (PS3.8 §9.3)."""
    if isinstance(pdu, PDataTF):
        parts: list[bytes | memoryview] = []
        for pdv in pdu.pdvs:  # PS3.8 Table 9-23; the PDV length counts the id and header bytes
            parts.append(_PDV_HEADER.pack(len(pdv.data) + 2, pdv.context_id & 0xFF, pdv.message_control_header))
            parts.append(pdv.data)
        body = b"".join(parts)
    elif isinstance(pdu, (AAssociateRQ, AAssociateAC)):
        body = _encode_associate(pdu)
    elif isinstance(pdu, AAssociateRJ):
        body = bytes((0, pdu.result & 0xFF, pdu.source & 0xFF, pdu.reason & 0xFF))
    elif isinstance(pdu, AAbort):
        body = bytes((0, 0, pdu.source & 0xFF, pdu.reason & 0xFF))
    elif isinstance(pdu, (AReleaseRQ, AReleaseRP)):
        body = bytes(4)
    else:
        raise LocalProtocolError(f"not a PDU: {pdu!r}")
    return PDU_HEADER.pack(pdu.pdu_type, 0, len(body)) + body


# --- decoding -----------------------------------------------------------------------------------------

def decode_ae(raw: Buffer) -> str:
    # Leading and trailing spaces are not significant (PS3.5 AE VR); NULs are a common lenient padding.
    return bytes(raw).decode("latin-1").strip(" \x00")


def decode_uid(raw: Buffer) -> str:
    # Some implementations NUL-pad UIDs to even length as in data sets (PS3.5 §9.1); a few pad with spaces.
    return bytes(raw).decode("latin-1").rstrip("\x00 ")


def iter_items(buf: Buffer, start: int, end: int, base: int, parent: str = "PDU"
               ) -> Iterator[tuple[int, int, int, int]]:
    """Yield (item_type, reserved, data_start, data_end) for the items in ``buf[start:end]``.

    ``base`` is added to positions in messages, so offsets count from the PDU's first byte. Fewer than 4
    trailing bytes are ignored (validate() reports them); an item running past ``end`` is a framing error.
    """
    pos = start
    while end - pos >= 4:
        item_type, reserved, length = ITEM_HEADER.unpack_from(buf, pos)
        data_start = pos + 4
        if data_start + length > end:
            raise MalformedPDU(f"item 0x{item_type:02x} at offset {pos + base} in {parent} claims {length} "
                               f"bytes, {end - data_start} remain", offset=pos + base)
        yield item_type, reserved, data_start, data_start + length
        pos = data_start + length


class _Content(Exception):
    """An item's content does not parse: the caller keeps the item as UnknownItem (lenient)."""


def _take_u16_field(data: bytes, pos: int) -> tuple[bytes, int]:
    if pos + 2 > len(data):
        raise _Content
    (n,) = _U16.unpack_from(data, pos)
    if pos + 2 + n > len(data):
        raise _Content
    return data[pos + 2:pos + 2 + n], pos + 2 + n


def _role_selection(data: bytes, reserved: int) -> RoleSelection:
    uid, pos = _take_u16_field(data, 0)
    if len(data) - pos < 2:
        raise _Content
    return RoleSelection(decode_uid(uid), data[pos], data[pos + 1])


def _sop_extended(data: bytes, reserved: int) -> SOPClassExtendedNegotiation:
    uid, pos = _take_u16_field(data, 0)
    return SOPClassExtendedNegotiation(decode_uid(uid), data[pos:])


def _sop_common_extended(data: bytes, reserved: int) -> SOPClassCommonExtendedNegotiation:
    sop, pos = _take_u16_field(data, 0)
    service, pos = _take_u16_field(data, pos)
    related_block, pos = _take_u16_field(data, pos) if pos < len(data) else (b"", pos)
    related: list[str] = []
    rpos = 0
    while rpos < len(related_block):
        uid, rpos = _take_u16_field(related_block, rpos)
        related.append(decode_uid(uid))
    return SOPClassCommonExtendedNegotiation(decode_uid(sop), decode_uid(service), tuple(related), reserved)


def _user_identity_rq(data: bytes, reserved: int) -> UserIdentityRQ:
    if len(data) < 2:
        raise _Content
    primary, pos = _take_u16_field(data, 2)
    secondary, pos = _take_u16_field(data, pos) if pos < len(data) else (b"", pos)
    return UserIdentityRQ(data[0], primary, secondary, bool(data[1]))


def _user_identity_ac(data: bytes, reserved: int) -> UserIdentityAC:
    response, _ = _take_u16_field(data, 0)
    return UserIdentityAC(response)


def _async_ops(data: bytes, reserved: int) -> AsyncOpsWindow:
    if len(data) != 4:
        raise _Content
    return AsyncOpsWindow(*struct.unpack(">HH", data))


# Content decoders of the structured sub-items, by class (ITEM_TYPES maps the type code to the class).
_SUB_DECODERS: dict[type, Callable[[bytes, int], object]] = {
    AsyncOpsWindow: _async_ops, RoleSelection: _role_selection, SOPClassExtendedNegotiation: _sop_extended,
    SOPClassCommonExtendedNegotiation: _sop_common_extended, UserIdentityRQ: _user_identity_rq,
    UserIdentityAC: _user_identity_ac,
}


def _decode_user_information(buf: Buffer, start: int, end: int, base: int) -> UserInformation:
    fields: dict[str, object] = {}
    roles: list[RoleSelection] = []
    ext: list[SOPClassExtendedNegotiation] = []
    cext: list[SOPClassCommonExtendedNegotiation] = []
    unknown: list[UnknownItem] = []
    for item_type, reserved, ds, de in iter_items(buf, start, end, base, "user information item"):
        data = bytes(buf[ds:de])
        try:
            if item_type == 0x51 and "max_length" not in fields:
                if len(data) != 4:
                    raise _Content
                fields["max_length"] = _U32.unpack(data)[0]
            elif item_type == 0x52 and "implementation_class_uid" not in fields:
                fields["implementation_class_uid"] = decode_uid(data)
            elif item_type == 0x55 and "implementation_version_name" not in fields:
                fields["implementation_version_name"] = data.decode("latin-1").rstrip("\x00 ")
            elif ITEM_TYPES.get(item_type) in _SUB_DECODERS:
                value = _SUB_DECODERS[ITEM_TYPES[item_type]](data, reserved)
                if isinstance(value, RoleSelection):
                    roles.append(value)
                elif isinstance(value, SOPClassExtendedNegotiation):
                    ext.append(value)
                elif isinstance(value, SOPClassCommonExtendedNegotiation):
                    cext.append(value)
                else:
                    key = {AsyncOpsWindow: "async_ops", UserIdentityRQ: "user_identity_rq",
                           UserIdentityAC: "user_identity_ac"}[type(value)]
                    if key in fields:
                        raise _Content  # a second one: keep it verbatim, validate() reports it
                    fields[key] = value
            else:
                raise _Content
        except _Content:
            unknown.append(UnknownItem(item_type, data))
    return UserInformation(role_selections=tuple(roles), sop_extended=tuple(ext), sop_common_extended=tuple(cext),
                           unknown=tuple(unknown), **fields)  # type: ignore[arg-type]


def _decode_pc(buf: Buffer, item_type: int, start: int, end: int, base: int
               ) -> PresentationContextRQ | PresentationContextAC | UnknownItem:
    if end - start < 4:  # id + 3 bytes (reserved or result): content, not framing
        return UnknownItem(item_type, bytes(buf[start:end]))
    context_id, result = buf[start], buf[start + 2]
    abstract: str | None = None
    transfer: list[str] = []
    extra: list[UnknownItem] = []
    parent = f"presentation context item at offset {start - 4 + base}"
    for sub_type, _res, ds, de in iter_items(buf, start + 4, end, base, parent):
        if sub_type == 0x30 and item_type == 0x20 and abstract is None:
            abstract = decode_uid(buf[ds:de])
        elif sub_type == 0x40 and (item_type == 0x20 or not transfer):
            transfer.append(decode_uid(buf[ds:de]))
        else:
            extra.append(UnknownItem(sub_type, bytes(buf[ds:de])))
    if item_type == 0x20:
        return PresentationContextRQ(context_id, abstract or "", tuple(transfer), tuple(extra))
    return PresentationContextAC(context_id, result, transfer[0] if transfer else "", tuple(extra))


_UID_ITEMS: dict[type, Callable[[str], Any]] = {
    ApplicationContextItem: ApplicationContextItem, AbstractSyntaxItem: AbstractSyntaxItem,
    TransferSyntaxItem: TransferSyntaxItem, ImplementationClassUID: ImplementationClassUID,
}


def decode_item(data: Buffer, offset: int = 0) -> tuple[Item, int]:
    """Decode the one item starting at ``data[offset]`` (any level); returns it and the offset after it.
    Content that does not parse gives ``UnknownItem``; an item running past the data is ``MalformedPDU``."""
    if len(data) - offset < 4:
        raise MalformedPDU(f"{len(data) - offset} bytes are too few for an item header", offset=offset)
    item_type, reserved, length = ITEM_HEADER.unpack_from(data, offset)
    ds, de = offset + 4, offset + 4 + length
    if de > len(data):
        raise MalformedPDU(f"item 0x{item_type:02x} at offset {offset} claims {length} bytes, "
                           f"{len(data) - ds} remain", offset=offset)
    cls = ITEM_TYPES.get(item_type)
    content = bytes(data[ds:de])
    item: Any
    try:
        if cls in _UID_ITEMS:
            item = _UID_ITEMS[cls](decode_uid(content))
        elif cls is MaximumLength:
            if length != 4:
                raise _Content
            item = MaximumLength(_U32.unpack(content)[0])
        elif cls is ImplementationVersionName:
            item = ImplementationVersionName(content.decode("latin-1").rstrip("\x00 "))
        elif cls in (PresentationContextRQ, PresentationContextAC):
            item = _decode_pc(data, item_type, ds, de, 0)
        elif cls is UserInformation:
            item = _decode_user_information(data, ds, de, 0)
        elif cls in _SUB_DECODERS:
            item = _SUB_DECODERS[cls](content, reserved)
        else:
            raise _Content
    except _Content:
        item = UnknownItem(item_type, content)
    return item, de


def _decode_associate(pdu_type: int, body: Buffer, base: int) -> AAssociateRQ | AAssociateAC:
    if len(body) < ASSOCIATE_FIXED_LENGTH:
        raise MalformedPDU(f"{'A-ASSOCIATE-RQ' if pdu_type == 1 else 'A-ASSOCIATE-AC'} has {len(body)} bytes "
                           f"after the header; the fixed fields need {ASSOCIATE_FIXED_LENGTH}",
                           offset=base + len(body), pdu_type=pdu_type)
    (version,) = _U16.unpack_from(body, 0)
    called, calling = decode_ae(body[4:20]), decode_ae(body[20:36])
    app_context: str | None = None
    contexts: list[PresentationContextRQ | PresentationContextAC] = []
    user_info: UserInformation | None = None
    unknown: list[UnknownItem] = []
    pc_type = 0x20 if pdu_type == 1 else 0x21
    for item_type, _res, ds, de in iter_items(body, ASSOCIATE_FIXED_LENGTH, len(body), base):
        if item_type == 0x10 and app_context is None:
            app_context = decode_uid(body[ds:de])
        elif item_type == pc_type:
            pc = _decode_pc(body, item_type, ds, de, base)
            (unknown if isinstance(pc, UnknownItem) else contexts).append(pc)  # type: ignore[arg-type]
        elif item_type == 0x50 and user_info is None:
            user_info = _decode_user_information(body, ds, de, base)
        else:
            unknown.append(UnknownItem(item_type, bytes(body[ds:de])))
    cls = AAssociateRQ if pdu_type == 1 else AAssociateAC
    return cls(called, calling, version, app_context if app_context is not None else "",
               tuple(contexts), user_info, tuple(unknown))  # type: ignore[arg-type]


def _decode_pdata(body: Buffer, base: int) -> PDataTF:
    # Hot path for 100+ MB transfers: one struct call per PDV, data as zero-copy memoryview slices.
    view = body if isinstance(body, memoryview) else memoryview(body)
    if not view.readonly:  # never hand out views that a later buffer compaction could overwrite
        view = memoryview(bytes(view))
    pdvs = []
    pos, end = 0, len(view)
    unpack = _U32.unpack_from
    while pos < end:
        if end - pos < 4:
            raise MalformedPDU(f"P-DATA-TF has {end - pos} stray bytes at offset {pos + base}, too few for a "
                               f"PDV item", offset=pos + base, pdu_type=4)
        (length,) = unpack(view, pos)
        if length < 2:  # the length counts the context id and the message control header
            raise MalformedPDU(f"PDV at offset {pos + base} claims {length} bytes; a PDV needs at least 2",
                               offset=pos + base, pdu_type=4)
        if pos + 4 + length > end:
            raise MalformedPDU(f"PDV at offset {pos + base} claims {length} bytes, {end - pos - 4} remain",
                               offset=pos + base, pdu_type=4)
        mch = view[pos + 5]
        pdvs.append(PDV(view[pos + 4], bool(mch & 1), bool(mch & 2), view[pos + 6:pos + 4 + length]))
        pos += 4 + length
    return PDataTF(tuple(pdvs))


def _decode_fixed4(pdu_type: int, body: Buffer, base: int) -> PDU:
    # RJ, release and abort carry 4 bytes (Tables 9-21, 9-24..9-26); extra bytes are tolerated.
    if len(body) < 4:
        raise MalformedPDU(f"PDU type 0x{pdu_type:02x} has {len(body)} bytes after the header; it needs 4",
                           offset=base + len(body), pdu_type=pdu_type)
    if pdu_type == 0x03:
        return AAssociateRJ(body[1], body[2], body[3])
    if pdu_type == 0x07:
        return AAbort(body[2], body[3])
    return AReleaseRQ() if pdu_type == 0x05 else AReleaseRP()


def decode_pdu_body(pdu_type: int, body: Buffer, base: int = 6) -> PDU:
    """Decode a PDU from its type and variable field (what follows the 6-byte header). Used by the reader
    to avoid re-joining header and body. ``base`` is the body's offset in the PDU, for messages."""
    if pdu_type == 0x04:
        return _decode_pdata(body, base)
    if pdu_type not in PDU_TYPES:
        raise UnrecognizedPDU(pdu_type, bytes(body[:16]))
    if pdu_type in (0x01, 0x02):
        return _decode_associate(pdu_type, body, base)
    return _decode_fixed4(pdu_type, body, base)


def decode_pdu(data: Buffer) -> PDU:
    """Decode one complete PDU (header included). Bytes beyond the header's length are ignored; fewer
    bytes than it claims is ``MalformedPDU``. Raises nothing else."""
    if isinstance(data, bytearray):
        data = bytes(data)  # PDVs keep views into the input: it must not change under them
    if len(data) < 6:
        if len(data) >= 1 and data[0] not in PDU_TYPES:
            raise UnrecognizedPDU(data[0], bytes(data))
        raise MalformedPDU(f"{len(data)} bytes are too few for a PDU header (6)", offset=len(data))
    pdu_type, _reserved, length = PDU_HEADER.unpack_from(data, 0)
    if pdu_type not in PDU_TYPES:
        raise UnrecognizedPDU(pdu_type, bytes(data[:16]))
    if 6 + length > len(data):
        raise MalformedPDU(f"PDU type 0x{pdu_type:02x} claims {length} bytes, {len(data) - 6} follow",
                           offset=2, pdu_type=pdu_type)
    view = memoryview(data)[6:6 + length]
    return decode_pdu_body(pdu_type, view, 6)

