"""Deliberately non-conformant PDUs, for probing how a peer copes (STYLE.md #4: "the tool can also build
non-conformant PDUs on purpose").

codec.py refuses what cannot be encoded (an AE title of 17 bytes); these builders do it on purpose and
say exactly what is wrong in their names. They return bytes ready to write; nothing here validates.
Typical probes: does the peer reject an over-long AE title politely (A-ASSOCIATE-RJ) or drop the
connection; does it cope with 129+ presentation contexts (PS3.8 caps them at 128); does it abort with
reason 6 on a lying length field or hang waiting for bytes that never come.
"""

from __future__ import annotations

import struct
from typing import Iterable, Sequence

from .codec import (
    ITEM_HEADER,
    PDU_HEADER,
    encode_item,
    encode_pdu,
    encode_presentation_context,
    encode_uid,
    encode_user_information,
)
from .items import PresentationContextRQ, UserInformation
from .pdu import (
    DICOM_APPLICATION_CONTEXT,
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    PDU,
    AAssociateRQ,
)

__all__ = [
    "raw_pdu", "raw_item", "ae_field", "associate_rq_bytes", "many_contexts", "with_pdu_length",
    "with_item_length", "truncate", "truncated_item", "item_offsets", "oversized_pdata_header",
    "VERIFICATION_SOP_CLASS", "IMPLICIT_VR_LITTLE_ENDIAN",
]

VERIFICATION_SOP_CLASS = "1.2.840.10008.1.1"
IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"


def raw_pdu(pdu_type: int, body: bytes, *, length: int | None = None, reserved: int = 0) -> bytes:
    """A PDU of any type byte around any body; ``length`` overrides the length field (may lie)."""
    return PDU_HEADER.pack(pdu_type & 0xFF, reserved & 0xFF,
                           (len(body) if length is None else length) & 0xFFFFFFFF) + body


def raw_item(item_type: int, data: bytes, *, length: int | None = None, reserved: int = 0) -> bytes:
    """An item of any type with any content; ``length`` overrides the 2-byte length field (may lie).
    Content over 65535 bytes is truncated in the length field only (the bytes all follow)."""
    return ITEM_HEADER.pack(item_type & 0xFF, reserved & 0xFF,
                            (len(data) if length is None else length) & 0xFFFF) + data


def ae_field(ae: str | bytes, *, width: int | None = 16, pad: bytes = b" ") -> bytes:
    """An AE title field. ``width=None`` writes the title as is, however long: the 16-byte field then
    overflows into the next one and shifts everything after it (an over-long AE, probed on purpose)."""
    raw = ae.encode("latin-1") if isinstance(ae, str) else ae
    if width is None:
        return raw
    return raw[:width].ljust(width, pad) if len(raw) <= width else raw


def many_contexts(n: int, abstract_syntax: str = VERIFICATION_SOP_CLASS,
                  transfer_syntaxes: Sequence[str] = (IMPLICIT_VR_LITTLE_ENDIAN,)) -> list[PresentationContextRQ]:
    """``n`` presentation contexts. Ids run 1, 3, ... 255 and then start again at 1, since PS3.8 §9.3.2.2
    allows only 128 odd ids: beyond 128 the ids repeat, which is itself non-conformant."""
    return [PresentationContextRQ((2 * i + 1) % 256, abstract_syntax, tuple(transfer_syntaxes)) for i in range(n)]


def associate_rq_bytes(called_ae: str | bytes = "ANY-SCP", calling_ae: str | bytes = "DICOMDOCTOR", *,
                       contexts: Iterable[PresentationContextRQ] | None = None, max_pdu: int | None = 16384,
                       protocol_version: int = 1, application_context: str | None = DICOM_APPLICATION_CONTEXT,
                       user_information: UserInformation | None | bytes = None,
                       extra_items: Sequence[bytes] = (), ae_width: int | None = 16,
                       pdu_length: int | None = None, items_first: Sequence[bytes] = ()) -> bytes:
    """An A-ASSOCIATE-RQ with any of its parts bent.

    - ``ae_width=None`` writes over-long AE titles unpadded (fields overflow); bytes AEs go in verbatim.
    - ``contexts`` may hold more than 128 (see ``many_contexts``) or none at all.
    - ``application_context=None`` omits the item; ``user_information`` may be raw item bytes, or a
      ``UserInformation`` (default: ours with ``max_pdu``); ``max_pdu=None`` with the default omits the
      maximum length sub-item.
    - ``items_first`` go before the application context (wrong order); ``extra_items`` after user info.
    - ``pdu_length`` overrides the PDU length field.
    """
    if contexts is None:
        contexts = [PresentationContextRQ(1, VERIFICATION_SOP_CLASS, (IMPLICIT_VR_LITTLE_ENDIAN,))]
    if user_information is None:
        user_information = UserInformation(max_pdu, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME)
    body = [struct.pack(">HH", protocol_version & 0xFFFF, 0), ae_field(called_ae, width=ae_width),
            ae_field(calling_ae, width=ae_width), bytes(32), *items_first]
    if application_context is not None:
        body.append(encode_item(0x10, encode_uid(application_context)))
    body += [encode_presentation_context(pc) for pc in contexts]
    body.append(user_information if isinstance(user_information, bytes)
                else encode_user_information(user_information))
    body += extra_items
    return raw_pdu(0x01, b"".join(body), length=pdu_length)


def with_pdu_length(pdu: PDU | bytes, length: int) -> bytes:
    """The PDU with a length field that lies (the body is unchanged)."""
    raw = encode_pdu(pdu) if not isinstance(pdu, (bytes, bytearray)) else bytes(pdu)
    return raw[:2] + struct.pack(">I", length & 0xFFFFFFFF) + raw[6:]


def item_offsets(raw: bytes) -> list[tuple[int, int]]:
    """(offset, item_type) of each top-level item of an A-ASSOCIATE-RQ/AC, to aim ``with_item_length``."""
    out = []
    pos, end = 74, min(len(raw), 6 + struct.unpack_from(">I", raw, 2)[0])
    while pos + 4 <= end:
        item_type, _, length = ITEM_HEADER.unpack_from(raw, pos)
        out.append((pos, item_type))
        pos += 4 + length
    return out


def with_item_length(raw: bytes, offset: int, length: int) -> bytes:
    """The PDU with the item at ``offset`` claiming ``length`` bytes (its content unchanged)."""
    return raw[:offset + 2] + struct.pack(">H", length & 0xFFFF) + raw[offset + 4:]


def truncate(pdu: PDU | bytes, keep: int, *, fix_length: bool = False) -> bytes:
    """The first ``keep`` bytes of a PDU. With ``fix_length`` the length field is rewritten to match, so
    the PDU is complete but its last item is cut (a framing error inside); without it the peer waits for
    bytes that never come (a stall probe)."""
    raw = encode_pdu(pdu) if not isinstance(pdu, (bytes, bytearray)) else bytes(pdu)
    cut = raw[:keep]
    if fix_length and len(cut) >= 6:
        cut = cut[:2] + struct.pack(">I", len(cut) - 6) + cut[6:]
    return cut


def truncated_item(item_type: int, data: bytes, cut: int) -> bytes:
    """An item whose header claims all of ``data`` but carries only its first ``cut`` bytes."""
    return raw_item(item_type, data[:cut], length=len(data))


def oversized_pdata_header(claimed: int = 0xFFFFFFFF) -> bytes:
    """Just a P-DATA-TF header claiming ``claimed`` bytes: a peer must not allocate what is merely claimed."""
    return raw_pdu(0x04, b"", length=claimed)
