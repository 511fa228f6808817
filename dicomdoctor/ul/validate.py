"""Judge a decoded PDU (and, given them, its raw bytes) against PS3.8 / PS3.7 Annex D (STYLE.md #4).

``validate(pdu, raw=None) -> list[Violation]``. The decoder is lenient and keeps going; this module says
precisely what was wrong, with byte offsets counted from the PDU's first byte, so a check can turn each
violation into a finding ("item 0x21 at offset 74 claims 400 bytes, 23 remain"). Severity ``error`` is a
breach of a "shall"; ``warning`` is tolerated by PS3.8 (reserved fields are "not tested on receipt") but
worth showing, e.g. NUL-padded UIDs.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .codec import ASSOCIATE_FIXED_LENGTH, ITEM_HEADER, PDU_HEADER, decode_pdu
from .errors import MalformedPDU
from .items import ITEM_NAMES, REJECT_REASON_NAMES, PresentationContextAC, PresentationContextRQ, UserInformation
from .pdu import (
    DICOM_APPLICATION_CONTEXT,
    PDU,
    AAbort,
    AAssociateAC,
    AAssociateRJ,
    AAssociateRQ,
    PDataTF,
)

__all__ = ["Violation", "validate", "check_ae_title", "check_uid"]

_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*\Z")


@dataclass(frozen=True, slots=True)
class Violation:
    """One breach of the standard. ``code`` is stable (checks match on it); ``offset`` counts bytes from
    the PDU's first byte when known."""

    code: str
    message: str
    offset: int | None = None
    severity: str = "error"

    def __str__(self) -> str:
        return self.message


def check_ae_title(ae: str, what: str = "AE title") -> list[Violation]:
    """PS3.5 §6.2 (AE VR): 1-16 characters of the default repertoire, no backslash or control characters,
    not all spaces (PS3.8 §7.1.1.3/4 give the called and calling AE titles this VR)."""
    out = []
    if not ae.strip():
        out.append(Violation("ae-title-empty", f"{what} is empty or all spaces"))
    if len(ae.encode("latin-1", "replace")) > 16:
        out.append(Violation("ae-title-too-long", f"{what} {ae!r} is {len(ae)} characters; the limit is 16"))
    bad = sorted({c for c in ae if c == "\\" or ord(c) < 0x20 or ord(c) > 0x7E})
    if bad:
        out.append(Violation("ae-title-characters", f"{what} {ae!r} contains characters outside the AE VR "
                                                    f"repertoire: {', '.join(repr(c) for c in bad)}"))
    return out


def check_uid(uid: str, what: str) -> list[Violation]:
    """PS3.5 §9.1: at most 64 characters, digits and dots, no leading zero in a component."""
    if not uid:
        return [Violation("uid-empty", f"{what} is empty")]
    out = []
    if len(uid) > 64:
        out.append(Violation("uid-too-long", f"{what} {uid!r} is {len(uid)} characters; the limit is 64"))
    if not _UID_RE.match(uid):
        out.append(Violation("uid-syntax", f"{what} {uid!r} is not a valid UID (PS3.5 §9.1)"))
    return out


# --- semantic checks on the decoded values ----------------------------------------------------------

def _check_user_information(ui: UserInformation | None, is_rq: bool) -> list[Violation]:
    if ui is None:
        return [Violation("user-information-missing", "no user information item (PS3.8 Table 9-11 requires "
                                                      "one, with a maximum length sub-item)")]
    out = []
    if ui.max_length is None:
        out.append(Violation("max-length-missing", "user information has no maximum length sub-item (PS3.8 D.1)"))
    if ui.implementation_class_uid is None:
        out.append(Violation("implementation-class-uid-missing", "user information has no implementation class "
                                                                 "UID sub-item (PS3.7 D.3.3.2)"))
    else:
        out += check_uid(ui.implementation_class_uid, "implementation class UID")
    name = ui.implementation_version_name
    if name is not None and not 1 <= len(name) <= 16:
        out.append(Violation("implementation-version-name", f"implementation version name {name!r} is "
                                                            f"{len(name)} characters; PS3.7 D.3.3.2 allows 1-16"))
    for rs in ui.role_selections:
        out += check_uid(rs.sop_class_uid, "role selection SOP class UID")
        if rs.scu_role not in (0, 1) or rs.scp_role not in (0, 1):
            out.append(Violation("role-selection-value", f"role selection for {rs.sop_class_uid} has "
                                                         f"scu={rs.scu_role} scp={rs.scp_role}; each must be 0 or 1"))
    if ui.user_identity_rq is not None and not is_rq:
        out.append(Violation("user-identity-direction", "user identity RQ sub-item (0x58) in an A-ASSOCIATE-AC"))
    if ui.user_identity_rq is not None and not 1 <= ui.user_identity_rq.identity_type <= 5:
        out.append(Violation("user-identity-type", f"user identity type {ui.user_identity_rq.identity_type} "
                                                   f"is not defined (PS3.7 D.3.3.7: 1-5)"))
    if ui.user_identity_ac is not None and is_rq:
        out.append(Violation("user-identity-direction", "user identity AC sub-item (0x59) in an A-ASSOCIATE-RQ"))
    for item in ui.unknown:
        name_ = ITEM_NAMES.get(item.item_type)
        what = f"{name_} sub-item that could not be parsed or is repeated" if name_ else "unknown sub-item"
        out.append(Violation("user-information-sub-item", f"{what} 0x{item.item_type:02x} ({len(item.data)} "
                                                          f"bytes) kept verbatim", severity="warning"))
    return out


def _check_associate(pdu: AAssociateRQ | AAssociateAC) -> list[Violation]:
    is_rq = isinstance(pdu, AAssociateRQ)
    out = check_ae_title(pdu.called_ae, "called AE title") + check_ae_title(pdu.calling_ae, "calling AE title")
    if not pdu.protocol_version & 1:  # PS3.8 §9.3.2: bit 0 = version 1
        out.append(Violation("protocol-version", f"protocol version 0x{pdu.protocol_version:04x} does not "
                                                 f"include version 1 (bit 0)"))
    if not pdu.application_context:
        out.append(Violation("application-context-missing", "no application context item (0x10)"))
    elif pdu.application_context != DICOM_APPLICATION_CONTEXT:
        out.append(Violation("application-context", f"application context {pdu.application_context!r} is "
                                                    f"not the DICOM one ({DICOM_APPLICATION_CONTEXT})"))
    contexts = pdu.presentation_contexts
    if not contexts and is_rq:
        out.append(Violation("no-presentation-context", "A-ASSOCIATE-RQ proposes no presentation context"))
    if len(contexts) > 128:  # odd ids 1..255 allow 128 (PS3.8 §9.3.2.2)
        out.append(Violation("too-many-contexts", f"{len(contexts)} presentation contexts; at most 128"))
    seen: set[int] = set()
    for pc in contexts:
        cid = pc.context_id
        if cid % 2 == 0 or not 1 <= cid <= 255:
            out.append(Violation("context-id", f"presentation context id {cid} is not an odd integer 1-255"))
        if cid in seen:
            out.append(Violation("context-id-duplicate", f"presentation context id {cid} appears twice"))
        seen.add(cid)
        if isinstance(pc, PresentationContextRQ):
            out += check_uid(pc.abstract_syntax, f"abstract syntax of context {cid}")
            if not pc.transfer_syntaxes:
                out.append(Violation("no-transfer-syntax", f"presentation context {cid} proposes no transfer "
                                                           f"syntax"))
            for ts in pc.transfer_syntaxes:
                out += check_uid(ts, f"transfer syntax of context {cid}")
        elif isinstance(pc, PresentationContextAC):
            if not 0 <= pc.result <= 4:
                out.append(Violation("context-result", f"presentation context {cid} result {pc.result} is not "
                                                       f"defined (PS3.8 Table 9-18: 0-4)"))
            if pc.result == 0:
                out += check_uid(pc.transfer_syntax, f"accepted transfer syntax of context {cid}")
        if pc.extra:
            out.append(Violation("context-sub-items", f"presentation context {cid} has {len(pc.extra)} "
                                                      f"unexpected sub-item(s)", severity="warning"))
    out += _check_user_information(pdu.user_information, is_rq)
    for item in pdu.unknown_items:
        out.append(Violation("unknown-item", f"unexpected item 0x{item.item_type:02x} ({len(item.data)} bytes) "
                                             f"kept verbatim", severity="warning"))
    return out


def _check_values(pdu: PDU) -> list[Violation]:
    if isinstance(pdu, (AAssociateRQ, AAssociateAC)):
        return _check_associate(pdu)
    if isinstance(pdu, AAssociateRJ):
        out = []
        if pdu.result not in (1, 2):
            out.append(Violation("reject-result", f"A-ASSOCIATE-RJ result {pdu.result} is not 1 or 2"))
        if (pdu.source, pdu.reason) not in REJECT_REASON_NAMES:
            out.append(Violation("reject-reason", f"A-ASSOCIATE-RJ source {pdu.source} reason {pdu.reason} is not "
                                                  f"a defined combination (PS3.8 Table 9-21)"))
        return out
    if isinstance(pdu, AAbort):
        out = []
        if pdu.source not in (0, 2):
            out.append(Violation("abort-source", f"A-ABORT source {pdu.source} is not 0 or 2"))
        if pdu.source == 2 and pdu.reason not in (0, 1, 2, 4, 5, 6):
            out.append(Violation("abort-reason", f"A-ABORT reason {pdu.reason} is not defined (Table 9-26)"))
        return out
    if isinstance(pdu, PDataTF):
        out = []
        if not pdu.pdvs:
            out.append(Violation("pdata-empty", "P-DATA-TF carries no PDV (PS3.8 §9.3.5 needs one or more)"))
        for pdv in pdu.pdvs:
            if pdv.context_id % 2 == 0:
                out.append(Violation("context-id", f"PDV for presentation context {pdv.context_id}: ids are odd"))
        return out
    return []


# --- structural checks on the raw bytes ---------------------------------------------------------------

def _walk(raw: bytes, start: int, end: int, parent: str, out: list[Violation]) -> list[tuple[int, int, int, int]]:
    """Items in raw[start:end] as (offset, type, data_start, data_end); overruns become violations."""
    items = []
    pos = start
    while pos < end:
        if end - pos < 4:
            out.append(Violation("trailing-bytes", f"{end - pos} stray byte(s) at offset {pos} in {parent}, too "
                                                   f"few for an item header", pos))
            break
        item_type, reserved, length = ITEM_HEADER.unpack_from(raw, pos)
        if pos + 4 + length > end:
            out.append(Violation("item-overrun", f"item 0x{item_type:02x} at offset {pos} claims {length} bytes, "
                                                 f"{end - pos - 4} remain", pos))
            break
        if reserved and item_type != 0x57:  # 0x57 uses this byte as its sub-item version
            out.append(Violation("reserved-nonzero", f"item 0x{item_type:02x} at offset {pos} has reserved byte "
                                                     f"0x{reserved:02x}", pos + 1, "warning"))
        items.append((pos, item_type, pos + 4, pos + 4 + length))
        pos += 4 + length
    return items


def _check_uid_bytes(raw: bytes, off: int, ds: int, de: int, out: list[Violation]) -> None:
    value = raw[ds:de]
    if value.endswith((b"\x00", b" ")):
        out.append(Violation("uid-padding", f"UID in item 0x{raw[off]:02x} at offset {off} is padded with "
                                            f"{value[-1:]!r} (PS3.8 items carry UIDs unpadded)", de - 1, "warning"))


_FIXED_SIZES = {0x51: 4, 0x53: 4}


def _check_raw_associate(raw: bytes, end: int, out: list[Violation]) -> None:
    if end - 6 < ASSOCIATE_FIXED_LENGTH:
        return  # decode_pdu reports it
    for off, what in ((10, "called"), (26, "calling")):
        if b"\x00" in raw[off:off + 16]:
            out.append(Violation("ae-title-padding", f"{what} AE title field at offset {off} contains NUL bytes "
                                                     f"(PS3.8: space padded)", off, "warning"))
    order = []
    for off, item_type, ds, de in _walk(raw, 6 + ASSOCIATE_FIXED_LENGTH, end, "the PDU", out):
        order.append(item_type)
        if item_type == 0x10:
            _check_uid_bytes(raw, off, ds, de, out)
        elif item_type in (0x20, 0x21):
            if de - ds < 4:
                out.append(Violation("item-content", f"presentation context item at offset {off} is {de - ds} "
                                                     f"bytes; it needs at least 4", off))
                continue
            subs = _walk(raw, ds + 4, de, f"presentation context item at offset {off}", out)
            n_as = sum(1 for s in subs if s[1] == 0x30)
            n_ts = sum(1 for s in subs if s[1] == 0x40)
            cid = raw[ds]
            if item_type == 0x20 and (n_as != 1 or n_ts < 1):
                out.append(Violation("context-sub-items", f"presentation context {cid} at offset {off} has {n_as} "
                                                          f"abstract syntax and {n_ts} transfer syntax sub-items "
                                                          f"(needs 1 and 1+)", off))
            if item_type == 0x21 and n_ts != 1:
                sev = "error" if raw[ds + 2] == 0 else "warning"
                out.append(Violation("context-sub-items", f"presentation context {cid} at offset {off} has {n_ts} "
                                                          f"transfer syntax sub-items (needs 1)", off, sev))
            for soff, stype, sds, sde in subs:
                if stype in (0x30, 0x40):
                    _check_uid_bytes(raw, soff, sds, sde, out)
        elif item_type == 0x50:
            counts: dict[int, int] = {}
            for soff, stype, sds, sde in _walk(raw, ds, de, f"user information item at offset {off}", out):
                counts[stype] = counts.get(stype, 0) + 1
                size = _FIXED_SIZES.get(stype)
                if size is not None and sde - sds != size:
                    out.append(Violation("item-length", f"{ITEM_NAMES[stype]} sub-item at offset {soff} has length "
                                                        f"{sde - sds}; it must be {size}", soff))
                if stype == 0x52:
                    _check_uid_bytes(raw, soff, sds, sde, out)
                if stype not in ITEM_NAMES or stype < 0x51:
                    out.append(Violation("unknown-sub-item", f"unknown user information sub-item 0x{stype:02x} at "
                                                             f"offset {soff}", soff, "warning"))
            for stype in (0x51, 0x52, 0x53, 0x55, 0x58, 0x59):
                if counts.get(stype, 0) > 1:
                    out.append(Violation("sub-item-repeated", f"{ITEM_NAMES[stype]} sub-item appears "
                                                              f"{counts[stype]} times", off))
    rank = {0x10: 0, 0x20: 1, 0x21: 1, 0x50: 2}
    ranks = [rank[t] for t in order if t in rank]
    if ranks != sorted(ranks):
        out.append(Violation("item-order", "items are not in the order application context, presentation "
                                           "contexts, user information (PS3.8 Table 9-11)", None, "warning"))
    for item_type in (0x10, 0x50):
        if order.count(item_type) > 1:
            out.append(Violation("item-repeated", f"{ITEM_NAMES[item_type]} item appears {order.count(item_type)} "
                                                  f"times"))


def _check_raw(raw: bytes, out: list[Violation]) -> None:
    if len(raw) < 6:
        return
    pdu_type, reserved, length = PDU_HEADER.unpack_from(raw, 0)
    if reserved:
        out.append(Violation("reserved-nonzero", f"PDU reserved byte is 0x{reserved:02x}", 1, "warning"))
    if 6 + length > len(raw):
        out.append(Violation("pdu-length", f"PDU length field says {length} bytes, {len(raw) - 6} follow", 2))
    elif 6 + length < len(raw):
        out.append(Violation("trailing-bytes", f"{len(raw) - 6 - length} bytes follow the PDU's declared length "
                                               f"of {length}", 6 + length))
    end = min(len(raw), 6 + length)
    if pdu_type in (0x01, 0x02):
        _check_raw_associate(raw, end, out)
    elif pdu_type in (0x03, 0x05, 0x06, 0x07):
        if length != 4:
            out.append(Violation("pdu-length", f"PDU type 0x{pdu_type:02x} length is {length}; it must be 4", 2))
        reserved_at = {0x03: (6,), 0x05: (6, 7, 8, 9), 0x06: (6, 7, 8, 9), 0x07: (6, 7)}[pdu_type]
        for off in reserved_at:
            if off < end and raw[off]:
                out.append(Violation("reserved-nonzero", f"reserved byte at offset {off} is 0x{raw[off]:02x}", off,
                                     "warning"))
    elif pdu_type == 0x04:
        pos = 6
        while pos + 6 <= end:
            plen = int.from_bytes(raw[pos:pos + 4], "big")
            if plen < 2 or pos + 4 + plen > end:
                break  # decode_pdu reports the overrun
            if raw[pos + 5] & 0xFC:
                out.append(Violation("reserved-nonzero", f"PDV at offset {pos} sets reserved message control "
                                                         f"header bits (0x{raw[pos + 5]:02x})", pos + 5, "warning"))
            pos += 4 + plen


def validate(pdu: PDU | None, raw: bytes | bytearray | memoryview | None = None) -> list[Violation]:
    """Every violation found in ``pdu`` (its values) and in ``raw`` (its bytes, with offsets).

    With ``pdu=None`` the raw bytes are decoded first; a framing error then becomes one violation
    (code ``malformed``) instead of an exception. Never raises for peer data.
    """
    out: list[Violation] = []
    if raw is not None:
        raw = bytes(raw)
        if pdu is None:
            try:
                pdu = decode_pdu(raw)
            except MalformedPDU as exc:
                out.append(Violation("malformed", exc.message, exc.offset))
        _check_raw(raw, out)
    if pdu is not None:
        out += _check_values(pdu)
    return out
