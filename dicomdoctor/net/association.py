"""Our SCU: `associate()` and the `Association` it returns (echo, store, find, move, get, release, abort).

Every wait is bounded by a phase of `Timeouts`; every failure is an exception that carries its meaning
(connect outcome, reject result/source/reason, abort source/reason, timeout phase, protocol violation), so a
probe can turn it into evidence. A C-STORE of a Part-10 file whose transfer syntax was accepted sends the
file's own bytes (no decode, no re-encode); only a mismatch goes through pydicom.
"""

from __future__ import annotations

import inspect
import ssl
import time
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

from ..dimse.commands import command_violations
from ..dimse.fragment import AssembledMessage
from ..dimse.messages import (CCancelRQ, CEchoRQ, CFindRQ, CGetRQ, CMoveRQ, CStoreRQ, CStoreRSP, DimseMessage,
                              PRIORITY_MEDIUM)
from ..target import Target
from ..user_identity import identity_rq
from ..ul.items import PresentationContextRQ, RoleSelection, UserInformation
from ..ul.pdu import (IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, AAbort, AAssociateAC, AAssociateRJ,
                      AAssociateRQ, AReleaseRP, AReleaseRQ)
from ..ul.errors import LocalProtocolError
from ..ul.validate import Violation
from . import datasets as _ds
from .channel import Channel, ChannelEvent
from .connect import ConnectFailed, Connected, TLSHandshakeFailed, connect
from .errors import (AssociationAborted, AssociationError, AssociationRejected, AssociationTimeout,
                     NoAcceptedContext, PeerProtocolError)
from .responses import Response, RetrieveResult
from .timeouts import DEFAULT_TIMEOUTS, Timeouts
from .tls import classify_ssl_error, client_context, describe_ssl_error
from .trace import Trace

DEFAULT_TRANSFER_SYNTAXES = (_ds.EXPLICIT_VR_LE, _ds.IMPLICIT_VR_LE)
ContextSpec = PresentationContextRQ | str | tuple[str, str | Sequence[str]]
RoleSpec = RoleSelection | str | tuple[str, int | bool, int | bool]
OnStore = Callable[[CStoreRQ, bytes, str], "int | Awaitable[int]"]
# After our C-CANCEL-RQ the peer has this long (at most one DIMSE timeout) to send its final response; then
# we abort and report `cancel-ignored` (PS3.7 C.4.2.3: the SCP shall stop and answer Cancel, FE00).
CANCEL_GRACE = 2.0
# At most this many C-GET sub-operations are kept as (class, instance, status); the rest are only counted.
STORES_KEPT = 1000
MATCHES_KEPT = 1000  # C-FIND responses FindQuery.matches keeps; `match_count` counts them all
# While waiting for A-RELEASE-RP we tolerate this many other PDUs/messages from the peer, then abort.
RELEASE_PDUS_TOLERATED = 16
# Messages that answer nothing we asked are recorded once; past this many the peer is flooding us: abort.
UNEXPECTED_TOLERATED = 100
# Response command elements without which a response cannot be matched or judged (PS3.7 Annex E).
_REQUIRED_IN_RESPONSE = {0x00000120: "Message ID Being Responded To", 0x00000900: "Status"}


# ------------------------------------------------------------------------------------------ negotiation


def build_contexts(contexts: Iterable[ContextSpec]) -> tuple[PresentationContextRQ, ...]:
    """Proposed contexts from UIDs / keywords, (abstract, ts | [ts...]) pairs or ready items; odd ids
    1, 3, 5... in order (given items keep theirs)."""
    out: list[PresentationContextRQ] = []
    used = set()
    next_id = 1
    for spec in contexts:
        if isinstance(spec, PresentationContextRQ):
            out.append(spec)
            used.add(spec.context_id)
            continue
        tss: tuple[str, ...]
        if isinstance(spec, str):
            abstract, tss = spec, DEFAULT_TRANSFER_SYNTAXES
        else:
            abstract, ts = spec
            tss = (ts,) if isinstance(ts, str) else tuple(ts)
        while next_id in used:
            next_id += 2
        out.append(PresentationContextRQ(next_id, _uid(abstract), tuple(_uid(t) for t in tss)))
        used.add(next_id)
        next_id += 2
    return tuple(out)


def build_roles(roles: Iterable[RoleSpec]) -> tuple[RoleSelection, ...]:
    """A bare UID means "we want the SCP role" (C-GET storage classes)."""
    out = []
    for r in roles:
        if isinstance(r, RoleSelection):
            out.append(r)
        elif isinstance(r, str):
            out.append(RoleSelection(_uid(r), 0, 1))
        else:
            out.append(RoleSelection(_uid(r[0]), int(r[1]), int(r[2])))
    return tuple(out)


def retrieve_contexts(model: str = "study", storage_classes: Iterable[str] = (), *,
                      transfer_syntaxes: Sequence[str] = DEFAULT_TRANSFER_SYNTAXES,
                      service: str = "get") -> tuple[list[ContextSpec], list[RoleSpec]]:
    """Contexts + role selections for a C-GET (the Q/R GET model, plus each storage class with the SCP role
    for us) or a C-MOVE (just the model)."""
    contexts: list[ContextSpec] = [(_ds.sop_class_for(model, service), tuple(transfer_syntaxes))]
    roles: list[RoleSpec] = []
    if service == "get":
        for uid in storage_classes:
            contexts.append((_uid(uid), tuple(transfer_syntaxes)))
            roles.append(_uid(uid))
    return contexts, roles


def _uid(value: str) -> str:
    """A UID, or a pydicom keyword for one (CTImageStorage, ExplicitVRLittleEndian)."""
    if value and value[0].isdigit():
        return value
    from pydicom.uid import UID_dictionary
    for uid, entry in UID_dictionary.items():
        if entry[4] == value:
            return uid
    raise ValueError(f"{value!r} is neither a UID nor a known UID keyword")


# ------------------------------------------------------------------------------------------------ associate


async def associate(target: Target, contexts: Iterable[ContextSpec], *, max_pdu: int = 16384,
                    timeouts: Timeouts = DEFAULT_TIMEOUTS, trace: Trace | None = None,
                    roles: Iterable[RoleSpec] = (), tls_context: ssl.SSLContext | None = None,
                    implementation_class_uid: str = IMPLEMENTATION_CLASS_UID,
                    implementation_version_name: str | None = IMPLEMENTATION_VERSION_NAME,
                    user_information: UserInformation | None = None,
                    rq: AAssociateRQ | None = None) -> "Association":
    """Connect (TLS when `target.tls` or `tls_context`), send an A-ASSOCIATE-RQ and wait for the answer.

    Raises ConnectFailed / TLSHandshakeFailed, AssociationRejected, AssociationAborted, AssociationTimeout
    ("association"), PeerProtocolError. `rq` sends a ready-made request instead (probes). The target's user
    identity (`target.user_identity`) goes into the default user information; a given `user_information` is
    sent as it is (assoc.user-identity proposes its own, and none)."""
    trace = trace if trace is not None else Trace()
    if tls_context is None and target.tls is not None:
        tls_context = client_context(target.tls)
    server_name = target.tls.server_name if target.tls and target.tls.server_name else None
    conn = await connect(target.host, target.port, timeouts.connect, tls_context, server_name)
    trace.note(f"connected to {conn.address[0]}:{conn.address[1]} in {conn.connect_ms:.1f} ms"
               + (f", {conn.tls_info.get('protocol')} {conn.tls_info.get('cipher')}" if conn.tls_info else ""))
    if rq is None:
        ui = user_information or UserInformation(
            max_length=max_pdu, implementation_class_uid=implementation_class_uid,
            implementation_version_name=implementation_version_name, role_selections=build_roles(roles),
            user_identity_rq=identity_rq(target.user_identity))
        rq = AAssociateRQ(called_ae=target.called_ae, calling_ae=target.calling_ae,
                          presentation_contexts=build_contexts(contexts), user_information=ui)
    our_max = rq.user_information.max_length if rq.user_information and rq.user_information.max_length \
        is not None else max_pdu
    channel = Channel(conn.reader, conn.writer, our_max_pdu=our_max, trace=trace, label=target.id)
    channel.start()
    t0 = time.monotonic()
    try:
        await channel.send_pdu(rq)
        try:
            ev = await channel.next_event(timeouts.association)
        except TimeoutError:
            await channel.send_abort(0, 0)
            trace.note(f"no A-ASSOCIATE answer within {timeouts.association} s; aborted")
            raise AssociationTimeout("association", timeouts.association,
                                     "TCP accepted but no answer to the A-ASSOCIATE-RQ") from None
    except (OSError, ssl.SSLError) as exc:
        channel.abort_transport()
        raise _transport_error(exc, conn, "association") from None
    except BaseException:  # our own error (an RQ that cannot be encoded), a timeout, a cancellation
        channel.abort_transport()
        raise
    associate_ms = (time.monotonic() - t0) * 1000.0
    if ev.kind == "pdu" and isinstance(ev.pdu, AAssociateAC):
        return Association(channel, conn, target, rq, ev.pdu, timeouts, trace, associate_ms, ev.raw)
    channel.close()
    if ev.kind == "pdu" and isinstance(ev.pdu, AAssociateRJ):
        await channel.wait_closed(0.5)
        raise AssociationRejected(ev.pdu)
    if ev.kind == "pdu" and isinstance(ev.pdu, AAbort):
        raise AssociationAborted(ev.pdu.source, ev.pdu.reason, pdu=ev.pdu, phase="association")
    if ev.kind == "closed":
        if isinstance(ev.error, ssl.SSLError):
            raise _transport_error(ev.error, conn, "association")
        if (conn.tls_info.get("protocol") == "TLSv1.3" and tls_context is not None
                and not getattr(tls_context, "dicomdoctor_client_cert", False)):
            # TLS 1.3 finishes the client's handshake before the server checks for a client certificate;
            # a server that then hangs up without a word (no alert, no PDU) most likely wanted one.
            raise TLSHandshakeFailed("client-cert-required", "the TLS 1.3 peer closed the connection right "
                                     "after the handshake, before answering A-ASSOCIATE-RQ, and we presented no "
                                     "client certificate (inferred)", address=conn.address,
                                     connect_ms=conn.connect_ms, certificate=conn.tls_info.get("certificate"))
        raise AssociationAborted(None, None, phase="association",
                                 detail=str(ev.error) if ev.error else "the peer closed the connection after "
                                 "our A-ASSOCIATE-RQ (no AC, RJ or A-ABORT)")
    if ev.kind == "error":
        raise PeerProtocolError(channel.violations[-1] if channel.violations else
                                Violation("malformed-pdu", str(ev.error)), ev.error)
    await channel.send_abort(2, 2)
    raise PeerProtocolError(Violation("unexpected-pdu", f"expected A-ASSOCIATE-AC/RJ, got "
                                      f"{type(ev.pdu).__name__ if ev.pdu else ev.kind}"))


def _transport_error(exc: BaseException, conn: Connected, phase: str) -> AssociationError | ConnectFailed:
    """An error while waiting for the AC. Over TLS 1.3 a server refusing our (missing) client certificate
    says so only now, after the handshake looked complete: report it as the TLS failure it is."""
    if isinstance(exc, ssl.SSLError):
        return TLSHandshakeFailed(classify_ssl_error(exc), describe_ssl_error(exc), address=conn.address,
                                  connect_ms=conn.connect_ms, certificate=conn.tls_info.get("certificate"))
    return AssociationAborted(None, None, phase=phase, detail=f"{type(exc).__name__}: {exc}")


# --------------------------------------------------------------------------------------------- Association


class Association:
    def __init__(self, channel: Channel, conn: Connected, target: Target, rq: AAssociateRQ, ac: AAssociateAC,
                 timeouts: Timeouts, trace: Trace, associate_ms: float, raw_ac: bytes | None = None) -> None:
        self.channel, self.conn, self.target = channel, conn, target
        self.rq, self.ac, self.timeouts, self.trace = rq, ac, timeouts, trace
        self.connect_ms, self.associate_ms = conn.connect_ms, associate_ms
        self.address, self.tls_info = conn.address, conn.tls_info
        self.state = "open"  # open | released | aborted | closed
        self._message_id = 0
        self._abandoned: set[int] = set()
        # Deadlines (monotonic) of the running operation and of the grace after a C-CANCEL we sent.
        self._deadline: float | None = None
        self._cancel_deadline: float | None = None
        self._unexpected = 0  # messages answering nothing we asked, on this association
        self.violations: list[Violation] = channel.violations  # includes ul.validate() of the AC
        proposed = {pc.context_id: pc for pc in rq.presentation_contexts}
        self.accepted: dict[int, tuple[str, str]] = {}
        self.rejected: dict[int, tuple[str, int]] = {}
        self.context_results: list[dict[str, Any]] = []
        answered = set()
        for pc in ac.presentation_contexts:
            answered.add(pc.context_id)
            prop = proposed.get(pc.context_id)
            if prop is None:
                self.violations.append(Violation("unknown-context-id", f"A-ASSOCIATE-AC answers presentation "
                                                 f"context {pc.context_id}, which we did not propose"))
                continue
            if pc.result == 0:
                ts = pc.transfer_syntax
                if ts not in prop.transfer_syntaxes:
                    self.violations.append(Violation("transfer-syntax-not-proposed", f"context {pc.context_id} "
                                                     f"accepted with {ts!r}, which we did not propose for it"))
                self.accepted[pc.context_id] = (prop.abstract_syntax, ts)
            else:
                self.rejected[pc.context_id] = (prop.abstract_syntax, pc.result)
            self.context_results.append({
                "context_id": pc.context_id, "abstract_syntax": prop.abstract_syntax,
                "transfer_syntax": prop.transfer_syntaxes[0] if len(prop.transfer_syntaxes) == 1
                else list(prop.transfer_syntaxes),
                "result": pc.result, "result_name": pc.result_name,
                "accepted_transfer_syntax": pc.transfer_syntax if pc.result == 0 else None})
        for cid, prop in proposed.items():
            if cid not in answered:
                self.violations.append(Violation("context-not-answered", f"A-ASSOCIATE-AC does not answer "
                                                 f"presentation context {cid}"))
                self.rejected[cid] = (prop.abstract_syntax, -1)
        ui = ac.user_information
        peer_max = ui.max_length if ui is not None else None
        if peer_max is None:
            self.violations.append(Violation("max-length-missing", "A-ASSOCIATE-AC has no Maximum Length "
                                             "sub-item (PS3.8 Annex D.1 makes it mandatory); assuming 16384"))
            peer_max = 16384
        elif 0 < peer_max <= 12:
            self.violations.append(Violation("max-length-too-small", f"peer's maximum PDU length {peer_max} "
                                             "leaves no room for data; sending 16384-byte PDUs instead"))
            peer_max = 16384
        self.peer_max_pdu: int = peer_max
        self.our_max_pdu = channel.our_max_pdu
        channel.peer_max_pdu = peer_max
        self.accepted_roles: dict[str, tuple[int, int]] = {
            r.sop_class_uid: (r.scu_role, r.scp_role) for r in (ui.role_selections if ui else ())}

    # ------------------------------------------------------------------------------------------ facts
    @property
    def peer_implementation_class_uid(self) -> str | None:
        return self.ac.user_information.implementation_class_uid if self.ac.user_information else None

    @property
    def peer_implementation_version_name(self) -> str | None:
        return self.ac.user_information.implementation_version_name if self.ac.user_information else None

    @property
    def is_open(self) -> bool:
        return self.state == "open" and not self.channel.closed

    def context_for(self, abstract_syntax: str, transfer_syntax: str | None = None) -> tuple[int, str]:
        """(context id, transfer syntax) of an accepted context for the abstract syntax, preferring
        `transfer_syntax` when given. Raises NoAcceptedContext."""
        first = None
        for cid, (abstract, ts) in self.accepted.items():
            if abstract == abstract_syntax:
                if transfer_syntax is None or ts == transfer_syntax:
                    return cid, ts
                first = first or (cid, ts)
        if first is not None:
            return first
        raise NoAcceptedContext(abstract_syntax, transfer_syntax)

    def _next_id(self) -> int:
        self._message_id = self._message_id % 0xFFFF + 1
        return self._message_id

    # ------------------------------------------------------------------------------------------ plumbing
    def _check_open(self) -> None:
        if not self.is_open:
            raise AssociationAborted(None, None, detail=f"the association is {self.state}", phase="dimse")

    async def _next(self, timeout: float | None, phase: str) -> ChannelEvent:
        try:
            return await self.channel.next_event(timeout)
        except TimeoutError:
            self.trace.note(f"no answer within {timeout} s ({phase}); aborting")
            await self.abort()
            raise AssociationTimeout(phase, timeout) from None

    async def _fail(self, ev: ChannelEvent, phase: str) -> None:
        """Raise for an event that is not a DIMSE message."""
        if ev.kind == "pdu":
            if isinstance(ev.pdu, AAbort):
                self.state = "aborted"
                self.channel.close()
                raise AssociationAborted(ev.pdu.source, ev.pdu.reason, pdu=ev.pdu, phase=phase)
            if isinstance(ev.pdu, AReleaseRQ):
                # Only the requestor releases (PS3.7 D.3.3.1 / PS3.8 7.2); answer politely and stop.
                self.violations.append(Violation("unexpected-release", "the acceptor sent A-RELEASE-RQ"))
                await self.channel.send_pdu(AReleaseRP())
                self.state = "released"
                self.channel.close()
                raise AssociationAborted(None, None, phase=phase, detail="the peer released the association")
            v = Violation("unexpected-pdu", f"unexpected {type(ev.pdu).__name__} during {phase}")
            self.violations.append(v)
            await self.abort(2, 2)
            raise PeerProtocolError(v)
        self.state = "closed" if ev.kind == "closed" else "aborted"
        self.channel.close()
        if ev.kind == "closed":
            if isinstance(ev.error, ssl.SSLError):
                detail = f"TLS error: {describe_ssl_error(ev.error)} ({classify_ssl_error(ev.error)})"
            else:
                detail = str(ev.error) if ev.error else ""
            raise AssociationAborted(None, None, phase=phase, detail=detail)
        raise PeerProtocolError(self.violations[-1] if self.violations else Violation("malformed-pdu",
                                str(ev.error)), ev.error)

    async def _send(self, context_id: int, message: DimseMessage, dataset: Any = None,
                    dataset_length: int | None = None) -> None:
        try:
            await self.channel.send_message(context_id, message, dataset, dataset_length=dataset_length)
        except (OSError, ssl.SSLError, RuntimeError, LocalProtocolError) as exc:
            # The peer went away while we were sending (or the UL already saw it abort): find out how.
            self.state = "closed"
            try:
                ev = await self.channel.next_event(0.2)
            except TimeoutError:
                ev = ChannelEvent("closed", error=exc)
            if ev.kind == "message":
                ev = ChannelEvent("closed", error=exc)
            await self._fail(ev, "dimse")

    def _start_operation(self) -> None:
        """Arm the whole-operation deadline (Timeouts.operation_limit) for the request about to be sent."""
        limit = self.timeouts.operation_limit
        self._deadline = None if limit is None else time.monotonic() + limit
        self._cancel_deadline = None

    def _cancel_sent(self) -> None:
        grace = CANCEL_GRACE if self.timeouts.dimse is None else min(CANCEL_GRACE, self.timeouts.dimse)
        self._cancel_deadline = time.monotonic() + grace
        self.trace.note(f"C-CANCEL-RQ sent; the peer has {grace:g} s to end the operation")

    def _wait_limit(self) -> tuple[float | None, str]:
        """How long the next wait may last, and the phase to blame when it runs out."""
        wait, phase = self.timeouts.dimse, "dimse"
        now = time.monotonic()
        for deadline, name in ((self._deadline, "operation"), (self._cancel_deadline, "cancel")):
            if deadline is not None and (wait is None or deadline - now < wait):
                wait, phase = max(deadline - now, 0.0), name
        return wait, phase

    async def _expired(self, phase: str) -> None:
        """The operation deadline or the cancel grace is over: abort and say which."""
        await self.abort()
        if phase == "cancel":
            v = Violation("cancel-ignored", "the peer kept the operation going after our C-CANCEL-RQ "
                          f"(no final response within {CANCEL_GRACE:g} s); aborted")
            self.violations.append(v)
            raise AssociationTimeout("cancel", CANCEL_GRACE, v.message)
        limit = self.timeouts.operation_limit
        raise AssociationTimeout("operation", limit, f"the operation did not end within {limit:g} s "
                                 "(pending responses kept coming); aborted")

    def _check_response(self, am: AssembledMessage) -> None:
        """A response we cannot match or judge is the peer's protocol error, said as such (not a timeout)."""
        msg = am.message
        absent = [name for tag, name in _REQUIRED_IN_RESPONSE.items() if tag in getattr(msg, "missing", ())]
        if absent:
            v = Violation("response-missing-fields", f"{msg.name} lacks required command element(s) "
                          f"{', '.join(absent)} (PS3.7 Annex E)")
            self.violations.append(v)
            raise PeerProtocolError(v)
        for problem in command_violations(am.command):
            if "Group Length" in problem:
                v = Violation("command-group-length", f"{msg.name}: {problem} (PS3.7 §6.3.1)")
                self.violations.append(v)
                raise PeerProtocolError(v)

    async def _response(self, message_id: int, *, phase: str = "dimse",
                        handler: Callable[[AssembledMessage], Awaitable[bool]] | None = None) -> AssembledMessage:
        """The next response to `message_id`; other messages go to `handler` (C-GET's C-STOREs) or are
        recorded as unexpected. Each wait is bounded by the DIMSE timeout, and all of them together by the
        operation deadline (and, after a C-CANCEL, the cancel grace)."""
        while True:
            wait, limit_phase = self._wait_limit()
            if limit_phase != "dimse" and wait is not None and wait <= 0:
                await self._expired(limit_phase)
            try:
                ev = await self.channel.next_event(wait)
            except TimeoutError:
                if limit_phase != "dimse":
                    await self._expired(limit_phase)
                self.trace.note(f"no answer within {wait} s ({phase}); aborting")
                await self.abort()
                raise AssociationTimeout(phase, wait) from None
            if ev.kind != "message":
                await self._fail(ev, phase)
            assert ev.message is not None
            msg = ev.message.message
            if getattr(msg, "IS_RESPONSE", False):
                self._check_response(ev.message)
                if msg.message_id_being_responded_to == message_id:  # type: ignore[attr-defined]
                    if ev.message.context_id not in self.accepted:
                        self.violations.append(Violation("response-on-unknown-context", f"{msg.name} on "
                                                         f"presentation context {ev.message.context_id}"))
                    return ev.message
                if msg.message_id_being_responded_to in self._abandoned:  # type: ignore[attr-defined]
                    continue
            if handler is not None and await handler(ev.message):
                continue
            self._unexpected += 1
            if self._unexpected == 1:
                self.violations.append(Violation("unexpected-message", f"unexpected {msg.name} while waiting "
                                                 f"for the response to message {message_id}"))
            if self._unexpected > UNEXPECTED_TOLERATED:
                v = Violation("unexpected-messages", f"{self._unexpected} messages that answer nothing we asked "
                              f"(the last: {msg.name}) while waiting for the response to message {message_id}")
                self.violations.append(v)
                await self.abort()
                raise PeerProtocolError(v)

    def _make_response(self, am: AssembledMessage, t0: float) -> Response:
        ident = None
        if am.dataset is not None:
            ts = self.accepted.get(am.context_id, ("", _ds.IMPLICIT_VR_LE))[1]
            try:
                ident = _ds.decode(am.dataset, ts)
            except Exception as exc:  # a broken identifier is evidence, not a crash
                self.violations.append(Violation("undecodable-identifier", f"{am.message.name} identifier "
                                                 f"cannot be decoded as {ts}: {exc}"))
        return Response(am.message, am.context_id, (time.monotonic() - t0) * 1000.0, ident)

    # ------------------------------------------------------------------------------------------ services
    async def request(self, message: DimseMessage, dataset: "Dataset | bytes | None" = None, *,
                      abstract_syntax: str) -> Response:
        """Any one-response request (N-CREATE, N-SET, N-ACTION, N-GET...): sent with a fresh message id on
        the context of `abstract_syntax` (a Dataset is encoded in its transfer syntax), answered by the
        final response, under the same timeouts as the other services (net/workflow.py uses it)."""
        import dataclasses

        self._check_open()
        cid, ts = self.context_for(abstract_syntax)
        mid = self._next_id()
        data = dataset if dataset is None or isinstance(dataset, (bytes, bytearray)) else _ds.encode(dataset, ts)
        t0 = time.monotonic()
        self._start_operation()
        await self._send(cid, dataclasses.replace(message, message_id=mid), data)  # type: ignore[call-arg]
        return self._make_response(await self._response(mid), t0)

    async def echo(self) -> Response:
        self._check_open()
        cid, _ = self.context_for(_ds.VERIFICATION)
        mid = self._next_id()
        t0 = time.monotonic()
        self._start_operation()
        await self._send(cid, CEchoRQ(message_id=mid))
        return self._make_response(await self._response(mid), t0)

    async def store(self, source: Any, *, priority: int = PRIORITY_MEDIUM,
                    move_originator: tuple[str, int] | None = None) -> Response:
        """C-STORE one instance: a Part-10 path, Part-10 bytes, a pydicom Dataset, or a datasets.StoreSource.
        Sent as the file's own bytes when its transfer syntax was accepted for its SOP class."""
        self._check_open()
        src = source if isinstance(source, _ds.StoreSource) else _ds.load_source(source)
        cid, ts = self.context_for(src.sop_class_uid, src.transfer_syntax)
        length = None
        if ts == src.transfer_syntax and src.payload is None and src.path is not None:
            payload: Any = src.chunks()
            length = src.size - src.dataset_offset
        else:
            try:
                payload = src.dataset_in(ts)
            except ValueError as exc:
                raise NoAcceptedContext(src.sop_class_uid, src.transfer_syntax, str(exc)) from None
        mid = self._next_id()
        rq = CStoreRQ(message_id=mid, affected_sop_class_uid=src.sop_class_uid,
                      affected_sop_instance_uid=src.sop_instance_uid, priority=priority,
                      move_originator_ae_title=move_originator[0] if move_originator else None,
                      move_originator_message_id=move_originator[1] if move_originator else None)
        t0 = time.monotonic()
        self._start_operation()
        await self._send(cid, rq, payload, length)
        return self._make_response(await self._response(mid), t0)

    def find(self, level: str | None, identifier: Mapping[str, Any] | Dataset | None, model: str = "study",
             *, priority: int = PRIORITY_MEDIUM) -> "FindQuery":
        """C-FIND: `async for rsp in assoc.find("STUDY", {"PatientID": "X", "StudyInstanceUID": ""})` yields
        every response (pending ones carry `.identifier`; the last is final). `await query.cancel()`."""
        return FindQuery(self, level, identifier, model, priority)

    async def move(self, level: str | None, identifier: Mapping[str, Any] | Dataset | None, destination: str, *,
                   model: str = "study", priority: int = PRIORITY_MEDIUM,
                   on_pending: Callable[[Response], Any] | None = None) -> RetrieveResult:
        """C-MOVE to `destination` (an AE the peer must know). Returns the final status, the pending
        responses and the sub-operation counts. `on_pending` returning True sends a C-CANCEL."""
        sop = _ds.sop_class_for(model, "move")
        return await self._retrieve(CMoveRQ, sop, level, identifier, priority, on_pending, None,
                                    move_destination=destination)

    async def get(self, level: str | None, identifier: Mapping[str, Any] | Dataset | None,
                  on_store: OnStore | None = None, *, model: str = "study", priority: int = PRIORITY_MEDIUM,
                  on_pending: Callable[[Response], Any] | None = None) -> RetrieveResult:
        """C-GET: the peer sends the instances back as C-STORE sub-operations on this association (needs the
        storage contexts and SCP role, see `retrieve_contexts`). `on_store(rq, dataset_bytes, ts)` returns
        the C-STORE status (sync or async); without it instances are accepted and dropped."""
        sop = _ds.sop_class_for(model, "get")
        return await self._retrieve(CGetRQ, sop, level, identifier, priority, on_pending, on_store or _discard)

    async def _retrieve(self, cls: type, sop: str, level: str | None, ident: Any, priority: int,
                        on_pending: Callable[[Response], Any] | None, on_store: OnStore | None,
                        **fields: Any) -> RetrieveResult:
        self._check_open()
        cid, ts = self.context_for(sop)
        mid = self._next_id()
        data = _ds.encode(_ds.identifier(level, ident), ts)
        t0 = time.monotonic()
        self._start_operation()
        await self._send(cid, cls(message_id=mid, affected_sop_class_uid=sop, priority=priority, **fields), data)
        stores: list[tuple[str, str, int]] = []
        store_count = 0

        async def handle_store(am: AssembledMessage) -> bool:
            rq = am.message
            if not isinstance(rq, CStoreRQ) or on_store is None:
                return False
            status = 0xC000
            ts_store = self.accepted.get(am.context_id, ("", ""))[1]
            if am.context_id not in self.accepted:
                self.violations.append(Violation("store-on-unknown-context", f"C-STORE-RQ on presentation "
                                                 f"context {am.context_id}, which was not accepted"))
                status = 0x0122  # SOP class not supported
            else:
                try:
                    result = on_store(rq, am.dataset or b"", ts_store)
                    status = await result if inspect.isawaitable(result) else result  # type: ignore[assignment]
                except Exception as exc:
                    self.trace.note(f"C-STORE sub-operation handler failed: {exc!r}")
                    status = 0xC000
            nonlocal store_count
            store_count += 1
            if len(stores) < STORES_KEPT:
                stores.append((rq.affected_sop_class_uid, rq.affected_sop_instance_uid, int(status)))
            await self._send(am.context_id, CStoreRSP(
                message_id_being_responded_to=rq.message_id, status=int(status),
                affected_sop_class_uid=rq.affected_sop_class_uid,
                affected_sop_instance_uid=rq.affected_sop_instance_uid))
            return True

        # Counts, not responses: a peer may send pending responses without end; only the last one (its
        # sub-operation counters) is kept.
        last_pending: Response | None = None
        pending_count = 0
        cancelled = False
        while True:
            am = await self._response(mid, handler=handle_store)
            rsp = self._make_response(am, t0)
            if not rsp.pending:
                return RetrieveResult(rsp, [last_pending] if last_pending else [], stores,
                                      pending_count=pending_count, store_count=store_count)
            last_pending = rsp
            pending_count += 1
            if on_pending is not None and not cancelled:
                wanted = on_pending(rsp)
                if inspect.isawaitable(wanted):
                    wanted = await wanted
                if wanted:
                    cancelled = True
                    await self._send(cid, CCancelRQ(message_id_being_responded_to=mid))
                    self._cancel_sent()

    async def cancel(self, message_id: int, context_id: int) -> None:
        """C-CANCEL-RQ for an outstanding C-FIND/C-MOVE/C-GET (FindQuery.cancel and `on_pending` use it)."""
        await self._send(context_id, CCancelRQ(message_id_being_responded_to=message_id))
        self._cancel_sent()

    # ------------------------------------------------------------------------------------------ ending
    async def release(self) -> None:
        """A-RELEASE-RQ, wait for A-RELEASE-RP (release timeout; then abort), close."""
        if self.state != "open" or self.channel.closed:
            self.channel.close()
            return
        self.state = "releasing"
        try:
            await self.channel.send_pdu(AReleaseRQ())
            limit = self.timeouts.release
            deadline = None if limit is None else time.monotonic() + limit
            others = 0
            while True:
                try:
                    wait = None if deadline is None else max(deadline - time.monotonic(), 0.0)
                    ev = await self.channel.next_event(wait)
                except TimeoutError:
                    self.trace.note(f"no A-RELEASE-RP within {self.timeouts.release} s; aborting")
                    await self.abort()
                    raise AssociationTimeout("release", self.timeouts.release) from None
                if ev.kind == "pdu" and isinstance(ev.pdu, AReleaseRP):
                    break
                if ev.kind == "pdu" and isinstance(ev.pdu, AReleaseRQ):
                    await self.channel.send_pdu(AReleaseRP())  # release collision (PS3.8 §7.2.2.1)
                    continue
                if ev.kind == "message":
                    # A late response to an abandoned request is allowed; a stream of them is a peer that
                    # ignores our release (PS3.8 §7.2: after A-RELEASE-RQ only the RP is expected).
                    assert ev.message is not None
                    if getattr(ev.message.message, "message_id_being_responded_to", None) in self._abandoned:
                        continue
                    others += 1
                    if others == 1:
                        self.violations.append(Violation("pdu-after-release-rq", f"the peer sent "
                                                         f"{ev.message.message.name} after our A-RELEASE-RQ "
                                                         "instead of A-RELEASE-RP"))
                    if others > RELEASE_PDUS_TOLERATED:
                        self.trace.note(f"{others} messages after A-RELEASE-RQ and no A-RELEASE-RP; aborting")
                        await self.abort()
                        raise PeerProtocolError(self.violations[-1] if self.violations[-1].code ==
                                                "pdu-after-release-rq" else Violation(
                                                    "pdu-after-release-rq", "messages after A-RELEASE-RQ"))
                    continue
                if ev.kind == "pdu" and isinstance(ev.pdu, AAbort):
                    self.state = "aborted"
                    self.channel.close()
                    raise AssociationAborted(ev.pdu.source, ev.pdu.reason, pdu=ev.pdu, phase="release")
                self.violations.append(Violation("release-without-rp", "the peer closed the connection "
                                                 "instead of answering A-RELEASE-RQ"))
                break
        except (OSError, ssl.SSLError, LocalProtocolError):
            pass  # the peer is gone already: nothing left to release
        self.state = "released"
        self.channel.close()
        await self.channel.wait_closed(1.0)

    async def abort(self, source: int = 0, reason: int = 0) -> None:
        if self.state in ("aborted", "closed"):
            self.channel.close()
            return
        self.state = "aborted"
        await self.channel.send_abort(source, reason)

    async def __aenter__(self) -> "Association":
        return self

    async def __aexit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self.state == "open":
            if exc_type is None:
                await self.release()
            else:
                await self.abort()
        else:
            self.channel.close()


def _discard(rq: CStoreRQ, data: bytes, ts: str) -> int:
    return 0x0000


class FindQuery:
    """An async iterator over C-FIND responses with `cancel()` (C-CANCEL-RQ). `final` is the last response
    once iteration ends; `matches` the pending ones seen."""

    def __init__(self, assoc: Association, level: str | None, ident: Any, model: str, priority: int) -> None:
        self.assoc, self.level, self.ident, self.model, self.priority = assoc, level, ident, model, priority
        self.message_id: int | None = None
        self.context_id: int | None = None
        self.final: Response | None = None
        self.matches: list[Response] = []
        self.match_count = 0
        self.cancel_sent = False

    async def cancel(self) -> None:
        if self.message_id is not None and self.final is None and not self.cancel_sent:
            self.cancel_sent = True
            await self.assoc._send(self.context_id or 1, CCancelRQ(message_id_being_responded_to=self.message_id))
            self.assoc._cancel_sent()

    def __aiter__(self) -> AsyncIterator[Response]:
        return self._run()

    async def _run(self) -> AsyncIterator[Response]:
        a = self.assoc
        a._check_open()
        sop = _ds.sop_class_for(self.model, "find")
        cid, ts = a.context_for(sop)
        self.context_id = cid
        mid = self.message_id = a._next_id()
        data = _ds.encode(_ds.identifier(self.level, self.ident), ts)
        t0 = time.monotonic()
        a._start_operation()
        await a._send(cid, CFindRQ(message_id=mid, affected_sop_class_uid=sop, priority=self.priority), data)
        # Until the final response, responses to this query are expected: if the consumer stops iterating
        # early, later operations skip them instead of calling them unexpected.
        a._abandoned.add(mid)
        while True:
            rsp = a._make_response(await a._response(mid), t0)
            if rsp.pending:
                self.match_count += 1
                if len(self.matches) < MATCHES_KEPT:  # counts, not responses, past the first few
                    self.matches.append(rsp)
            else:
                self.final = rsp
                a._abandoned.discard(mid)
            yield rsp
            if self.final is not None:
                return

    async def all(self) -> list[Response]:
        return [r async for r in self]
