"""A small asyncio SCP over the same Channel as our SCU: the C-MOVE destination, the C-GET/C-STORE peer of
the interop tests, and the base of the fault simulator (sim/ subclasses `SCPBehaviour`).

`SCPServer` accepts connections (loopback by default), negotiates through `behaviour.negotiate`, and
dispatches DIMSE requests to the behaviour's `on_*` methods, with `before_response` before each response
(the simulator's hook for slow answers and aborts). storage.py has the behaviours that hold instances
(`StorageSCP`, `ArchiveSCP`).
"""

from __future__ import annotations

import asyncio
import inspect
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, AsyncIterator, Awaitable, Callable

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydicom.dataset import Dataset

from ..dimse.fragment import AssembledMessage
from ..dimse.messages import (CEchoRQ, CEchoRSP, CFindRQ, CFindRSP, CGetRQ, CGetRSP, CMoveRQ, CMoveRSP, CStoreRQ,
                              CStoreRSP, DimseMessage)
from ..ul.items import PresentationContextAC, RoleSelection, UserInformation
from ..ul.pdu import (DICOM_APPLICATION_CONTEXT, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME, AAbort,
                      AAssociateAC, AAssociateRJ, AAssociateRQ, AReleaseRP, AReleaseRQ)
from ..ul.validate import Violation
from . import datasets as _ds
from .channel import Channel
from .timeouts import Timeouts, within
from .trace import Trace

SCPTimeouts = Timeouts(connect=None, association=10.0, dimse=60.0, release=5.0)


@dataclass
class Reply:
    """A status with the optional elements PS3.7 Annex C lets a failure or warning carry."""

    status: int
    error_comment: str | None = None
    offending_element: tuple[int, ...] | None = None
    error_id: int | None = None

    def fields(self) -> dict[str, Any]:
        out: dict[str, Any] = {"status": self.status}
        if self.error_comment is not None:
            out["error_comment"] = self.error_comment[:64]  # LO: 64 characters at most
        if self.offending_element is not None:
            out["offending_element"] = tuple(self.offending_element)
        if self.error_id is not None:
            out["error_id"] = self.error_id
        return out


@dataclass
class RetrieveStatus:
    """One C-MOVE/C-GET response: pending (0xFF00) with counts, or the final status."""

    status: int
    remaining: int | None = None
    completed: int = 0
    failed: int = 0
    warning: int = 0
    error_comment: str | None = None


def as_reply(value: "int | Reply") -> Reply:
    return value if isinstance(value, Reply) else Reply(int(value))


@dataclass
class SCPContext:
    """What a handler knows about the request: the association, the presentation context, the message."""

    server: "SCPServer"
    channel: Channel
    peer: tuple[str, int]
    rq: AAssociateRQ
    ac: AAssociateAC
    accepted: dict[int, tuple[str, str]]
    context_id: int = 0
    abstract_syntax: str = ""
    transfer_syntax: str = ""
    message_id: int = 0

    @property
    def calling_ae(self) -> str:
        return self.rq.calling_ae

    @property
    def called_ae(self) -> str:
        return self.rq.called_ae

    @property
    def cancelled(self) -> bool:
        """True once the peer sent C-CANCEL-RQ for this request."""
        return self.message_id in self.channel.cancelled

    @property
    def writer(self) -> asyncio.StreamWriter:
        return self.channel.writer

    @property
    def trace(self) -> Trace | None:
        return self.channel.trace

    async def abort(self, source: int = 2, reason: int = 0) -> None:
        await self.channel.send_abort(source, reason)
        raise _Stop()


class _Stop(Exception):
    """Unwinds a connection handler after a deliberate abort."""


@dataclass
class ReceivedInstance:
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax: str
    calling_ae: str
    path: Path | None = None
    data: bytes | None = None  # the data set bytes (kept in memory when there is no folder)
    size: int = 0


class SCPBehaviour:
    """Policy + handlers of an SCP. Override what you need; defaults accept Verification, every storage
    class and the Q/R models, and answer politely. `server` is set by SCPServer."""

    check_called_ae = False
    accept_unknown_abstract = False
    # Transfer syntaxes we can decode (identifiers, echo); storage takes any the peer proposes by default.
    transfer_syntaxes: tuple[str, ...] = (_ds.EXPLICIT_VR_LE, _ds.IMPLICIT_VR_LE, _ds.EXPLICIT_VR_BE)
    storage_transfer_syntaxes: tuple[str, ...] | None = None
    implementation_class_uid = IMPLEMENTATION_CLASS_UID
    implementation_version_name = IMPLEMENTATION_VERSION_NAME

    def __init__(self) -> None:
        self.server: SCPServer | None = None
        self.move_destinations: dict[str, tuple[str, int]] = {}

    # ---------------------------------------------------------------------------------------- policy
    async def on_connection(self, peer: tuple[str, int], writer: asyncio.StreamWriter) -> bool:
        """False closes the connection at once (the simulator may write garbage to `writer` first)."""
        return True

    def supports(self, abstract_syntax: str) -> bool:
        return (abstract_syntax == _ds.VERIFICATION or _ds.is_storage(abstract_syntax)
                or abstract_syntax in _ds.QR_FIND or abstract_syntax in _ds.QR_MOVE
                or abstract_syntax in _ds.QR_GET or self.accept_unknown_abstract)

    def choose_transfer_syntax(self, abstract_syntax: str, proposed: tuple[str, ...]) -> str | None:
        if _ds.is_storage(abstract_syntax) and self.storage_transfer_syntaxes is None:
            return proposed[0] if proposed else None  # stored as received: any syntax will do
        allowed = self.storage_transfer_syntaxes if _ds.is_storage(abstract_syntax) else self.transfer_syntaxes
        for ts in proposed:  # the peer's order of preference (PS3.8 §9.3.2.2)
            if ts in (allowed or ()):
                return ts
        return None

    def negotiate(self, rq: AAssociateRQ) -> AAssociateAC | AAssociateRJ:
        server = self.server
        ae_title = server.ae_title if server else "DICOMDOCTOR"
        if self.check_called_ae and rq.called_ae != ae_title:
            return AAssociateRJ(1, 1, 7)  # called AE title not recognized
        if rq.application_context != DICOM_APPLICATION_CONTEXT:
            return AAssociateRJ(1, 1, 2)
        if not rq.protocol_version & 1:
            return AAssociateRJ(1, 2, 2)
        pcs = []
        for pc in rq.presentation_contexts:
            if not self.supports(pc.abstract_syntax):
                pcs.append(PresentationContextAC(pc.context_id, 3, ""))
                continue
            ts = self.choose_transfer_syntax(pc.abstract_syntax, pc.transfer_syntaxes)
            pcs.append(PresentationContextAC(pc.context_id, 0, ts) if ts else
                       PresentationContextAC(pc.context_id, 4, ""))
        roles = []
        if rq.user_information is not None:
            for r in rq.user_information.role_selections:  # accept the roles as proposed (C-GET needs scp_role)
                if self.supports(r.sop_class_uid):
                    roles.append(RoleSelection(r.sop_class_uid, r.scu_role, r.scp_role))
        ui = UserInformation(max_length=server.max_pdu if server else 16384,
                             implementation_class_uid=self.implementation_class_uid,
                             implementation_version_name=self.implementation_version_name,
                             role_selections=tuple(roles))
        return AAssociateAC(rq.called_ae, rq.calling_ae, presentation_contexts=tuple(pcs), user_information=ui)

    # ---------------------------------------------------------------------------------------- handlers
    async def on_echo(self, ctx: SCPContext, rq: CEchoRQ) -> "int | Reply":
        return 0x0000

    async def on_store(self, ctx: SCPContext, rq: CStoreRQ, dataset: bytes, transfer_syntax: str) -> "int | Reply":
        return 0x0000

    async def on_find(self, ctx: SCPContext, rq: CFindRQ,
                      identifier: Dataset) -> AsyncIterator[tuple["int | Reply", Dataset | None]]:
        """Yield (0xFF00, match) per match, then optionally a final (status, None); the server sends
        0x0000 if the iterator ends without a final status, and 0xFE00 once the peer cancels."""
        for ds in self.match(identifier):
            yield 0xFF00, ds

    async def on_move(self, ctx: SCPContext, rq: CMoveRQ, identifier: Dataset) -> AsyncIterator[RetrieveStatus]:
        """Default: C-STORE `self.instances_for(identifier)` to `self.move_destinations[rq.move_destination]`."""
        dest = self.move_destinations.get(rq.move_destination)
        if dest is None:
            yield RetrieveStatus(0xA801, error_comment=f"unknown destination {rq.move_destination}")
            return
        from .storage import send_instances  # storage.py builds on this module
        sources = self.instances_for(identifier)
        async for st in send_instances(ctx, sources, rq.move_destination, dest, rq.message_id):
            yield st

    async def on_get(self, ctx: SCPContext, rq: CGetRQ, identifier: Dataset,
                     send_store: Callable[[Any], Awaitable[int]]) -> AsyncIterator[RetrieveStatus]:
        sources = self.instances_for(identifier)
        done = failed = 0
        for i, src in enumerate(sources):
            if ctx.cancelled:
                yield RetrieveStatus(0xFE00, len(sources) - i, done, failed)
                return
            status = await send_store(src)
            done, failed = (done + 1, failed) if status == 0 else (done, failed + 1)
            if i + 1 < len(sources):
                yield RetrieveStatus(0xFF00, len(sources) - i - 1, done, failed)
        yield RetrieveStatus(0xB000 if failed else 0x0000, None, done, failed)

    async def before_response(self, ctx: SCPContext, msg: DimseMessage) -> None:
        """Called before every response is written: sleep here for a slow peer, `await ctx.abort()` to abort."""

    # ------------------------------------------------------------------------- archive helpers (override)
    def match(self, identifier: Dataset) -> list[Dataset]:
        return []

    def instances_for(self, identifier: Dataset) -> list[Any]:
        return []


# --------------------------------------------------------------------------------------------- the server


@dataclass
class AssociationRecord:
    """What the server saw on one connection (tests and the simulator read it)."""

    peer: tuple[str, int]
    rq: AAssociateRQ | None = None
    reply: AAssociateAC | AAssociateRJ | None = None
    messages: list[str] = field(default_factory=list)
    ended: str = ""  # released | aborted | closed | rejected | timeout | error | refused
    trace: Trace | None = None
    violations: list[Violation] = field(default_factory=list)


class SCPServer:
    def __init__(self, ae_title: str, behaviour: SCPBehaviour | None = None, *, max_pdu: int = 16384,
                 ssl_context: ssl.SSLContext | None = None, timeouts: Timeouts = SCPTimeouts,
                 keep_records: int = 100) -> None:
        self.ae_title = ae_title
        self.behaviour = behaviour or SCPBehaviour()
        self.behaviour.server = self
        self.max_pdu = max_pdu
        self.ssl_context = ssl_context
        self.timeouts = timeouts
        self.records: list[AssociationRecord] = []
        self._keep = keep_records
        self._server: asyncio.AbstractServer | None = None
        self._conns: set[asyncio.Task[Any]] = set()
        self._channels: set[Channel] = set()
        self.port = 0

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> int:
        extra: dict[str, Any] = {}
        if self.ssl_context is not None:
            extra = {"ssl": self.ssl_context, "ssl_handshake_timeout": self.timeouts.association}
        self._server = await asyncio.start_server(self._on_client, host, port, limit=1 << 20, **extra)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.port

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for ch in list(self._channels):
            ch.abort_transport()
        for task in list(self._conns):
            task.cancel()
        if self._conns:
            await asyncio.wait(list(self._conns), timeout=2.0)
        if self._server is not None:
            try:
                await within(2.0, self._server.wait_closed())
            except TimeoutError:
                pass
            self._server = None

    async def idle(self) -> None:
        """Until every connection accepted so far has ended and its record is final (tests wait on this
        instead of sleeping)."""
        while self._conns:
            await asyncio.wait(list(self._conns))

    async def __aenter__(self) -> "SCPServer":
        if self._server is None:
            await self.start()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conns.add(task)
        peer = writer.get_extra_info("peername") or ("?", 0)
        rec = AssociationRecord((str(peer[0]), int(peer[1])), trace=Trace())
        self.records.append(rec)
        del self.records[:-self._keep]
        channel = Channel(reader, writer, our_max_pdu=self.max_pdu, role="acceptor", trace=rec.trace,
                          label=f"scp {peer}")
        rec.violations = channel.violations
        self._channels.add(channel)
        try:
            if not await self.behaviour.on_connection(rec.peer, writer):
                rec.ended = "refused"
                return
            channel.start()
            await self._serve(channel, rec)
        except _Stop:
            rec.ended = rec.ended or "aborted"
        except asyncio.CancelledError:
            rec.ended = rec.ended or "closed"
        except (OSError, ssl.SSLError, RuntimeError, ConnectionError) as exc:
            rec.ended = rec.ended or "error"
            if rec.trace is not None:
                rec.trace.note(f"transport error: {exc!r}")
        except Exception as exc:  # a handler bug must not kill the server: abort this association only
            rec.ended = "error"
            if rec.trace is not None:
                rec.trace.note(f"handler error: {exc!r}")
            await channel.send_abort(2, 0)
        finally:
            channel.close()
            self._channels.discard(channel)
            self._conns.discard(task)

    async def _serve(self, channel: Channel, rec: AssociationRecord) -> None:
        try:
            ev = await channel.next_event(self.timeouts.association)
        except TimeoutError:
            rec.ended = "timeout"  # ARTIM: a client that connects and says nothing
            return
        if ev.kind != "pdu" or not isinstance(ev.pdu, AAssociateRQ):
            rec.ended = "error"
            if ev.kind == "pdu":
                await channel.send_abort(2, 2)
            return
        rq = rec.rq = ev.pdu
        reply = self.behaviour.negotiate(rq)
        if inspect.isawaitable(reply):
            reply = await reply
        rec.reply = reply
        await channel.send_pdu(reply)
        if isinstance(reply, AAssociateRJ):
            rec.ended = "rejected"
            try:
                await channel.next_event(1.0)  # let the requestor close first (ARTIM, PS3.8 Sta13)
            except TimeoutError:
                pass
            return
        peer_max = rq.max_length
        channel.peer_max_pdu = 16384 if peer_max is None or 0 < peer_max <= 12 else peer_max
        proposed = {pc.context_id: pc for pc in rq.presentation_contexts}
        accepted = {pc.context_id: (proposed[pc.context_id].abstract_syntax, pc.transfer_syntax)
                    for pc in reply.presentation_contexts if pc.result == 0 and pc.context_id in proposed}
        base = SCPContext(self, channel, rec.peer, rq, reply, accepted)
        while True:
            ev = await channel.next_event(self.timeouts.dimse)
            if ev.kind == "message":
                assert ev.message is not None
                rec.messages.append(ev.message.message.name)
                await self._dispatch(base, ev.message)
            elif ev.kind == "pdu" and isinstance(ev.pdu, AReleaseRQ):
                await channel.send_pdu(AReleaseRP())
                rec.ended = "released"
                try:
                    await channel.next_event(1.0)  # the requestor closes the transport (PS3.8 Sta13)
                except TimeoutError:
                    pass
                return
            elif ev.kind == "pdu" and isinstance(ev.pdu, AAbort):
                rec.ended = "aborted"
                return
            elif ev.kind == "pdu":
                rec.violations.append(Violation("unexpected-pdu", f"unexpected {type(ev.pdu).__name__}"))
                await channel.send_abort(2, 2)
                rec.ended = "aborted"
                return
            else:
                rec.ended = "closed" if ev.kind == "closed" else "error"
                return

    # ------------------------------------------------------------------------------------------- dispatch
    async def _respond(self, ctx: SCPContext, msg: DimseMessage, dataset: bytes | None = None) -> None:
        await self.behaviour.before_response(ctx, msg)
        await ctx.channel.send_message(ctx.context_id, msg, dataset)

    async def _dispatch(self, base: SCPContext, am: AssembledMessage) -> None:
        rq = am.message
        ab, ts = base.accepted.get(am.context_id, ("", ""))
        ctx = SCPContext(base.server, base.channel, base.peer, base.rq, base.ac, base.accepted, am.context_id, ab,
                         ts, getattr(rq, "message_id", 0))
        b = self.behaviour
        if not ab:
            base.channel.violations.append(Violation("unknown-context-id", f"{rq.name} on presentation context "
                                                     f"{am.context_id}, which was not accepted"))
            await base.channel.send_abort(2, 6)
            raise _Stop()
        if isinstance(rq, CEchoRQ):
            r = as_reply(await b.on_echo(ctx, rq))
            await self._respond(ctx, CEchoRSP(message_id_being_responded_to=rq.message_id,
                                              affected_sop_class_uid=rq.affected_sop_class_uid, **r.fields()))
        elif isinstance(rq, CStoreRQ):
            r = as_reply(await b.on_store(ctx, rq, am.dataset or b"", ts))
            await self._respond(ctx, CStoreRSP(message_id_being_responded_to=rq.message_id,
                                               affected_sop_class_uid=rq.affected_sop_class_uid,
                                               affected_sop_instance_uid=rq.affected_sop_instance_uid,
                                               **r.fields()))
        elif isinstance(rq, CFindRQ):
            await self._find(ctx, rq, am)
        elif isinstance(rq, (CMoveRQ, CGetRQ)):
            await self._retrieve(ctx, rq, am)
        else:
            base.channel.violations.append(Violation("unsupported-message", f"{rq.name} is not supported"))
            if getattr(rq, "message_id", None) is not None and not rq.IS_RESPONSE:
                # Answer with the generic response shape the requestor's service expects: 0x0211 unrecognized op.
                from ..dimse.messages import MESSAGE_TYPES
                rsp_cls: Any = MESSAGE_TYPES.get(rq.command_field | 0x8000)
                if rsp_cls is not None:
                    await self._respond(ctx, rsp_cls(message_id_being_responded_to=getattr(rq, "message_id"),
                                                     status=0x0211))

    def _identifier(self, ctx: SCPContext, am: AssembledMessage) -> Dataset | None:
        try:
            return _ds.decode(am.dataset or b"", ctx.transfer_syntax)
        except Exception:
            return None

    async def _find(self, ctx: SCPContext, rq: CFindRQ, am: AssembledMessage) -> None:
        ident = self._identifier(ctx, am)

        def rsp(status: int | Reply) -> CFindRSP:
            r = as_reply(status)
            return CFindRSP(message_id_being_responded_to=rq.message_id,
                            affected_sop_class_uid=rq.affected_sop_class_uid,
                            command_data_set_type=0x0001 if r.status in (0xFF00, 0xFF01) else 0x0101, **r.fields())
        if ident is None:
            await self._respond(ctx, rsp(Reply(0xA900, "identifier cannot be decoded")))
            return
        final: int | Reply = 0x0000
        try:
            async for status, match in self.behaviour.on_find(ctx, rq, ident):
                if ctx.cancelled:
                    final = 0xFE00
                    break
                if as_reply(status).status in (0xFF00, 0xFF01) and match is not None:
                    await self._respond(ctx, rsp(status), _ds.encode(match, ctx.transfer_syntax))
                else:
                    final = status
                    break
            else:
                if ctx.cancelled:
                    final = 0xFE00
        except (OSError, ConnectionError, _Stop):
            raise
        except Exception as exc:  # an identifier the behaviour cannot match: a failure status, not an abort
            if ctx.trace is not None:
                ctx.trace.note(f"C-FIND identifier not understood: {exc!r}")
            final = Reply(0xC000, error_comment=f"identifier not understood: {type(exc).__name__}"[:64])
        await self._respond(ctx, rsp(final))

    async def _retrieve(self, ctx: SCPContext, rq: CMoveRQ | CGetRQ, am: AssembledMessage) -> None:
        ident = self._identifier(ctx, am)
        cls = CMoveRSP if isinstance(rq, CMoveRQ) else CGetRSP

        def rsp(st: RetrieveStatus) -> DimseMessage:
            return cls(message_id_being_responded_to=rq.message_id, affected_sop_class_uid=rq.affected_sop_class_uid,
                       status=st.status, number_of_remaining_suboperations=st.remaining,
                       number_of_completed_suboperations=st.completed, number_of_failed_suboperations=st.failed,
                       number_of_warning_suboperations=st.warning,
                       error_comment=st.error_comment[:64] if st.error_comment else None)
        if ident is None:
            await self._respond(ctx, rsp(RetrieveStatus(0xA900, error_comment="identifier cannot be decoded")))
            return
        if isinstance(rq, CMoveRQ):
            stream = self.behaviour.on_move(ctx, rq, ident)
        else:
            stream = self.behaviour.on_get(ctx, rq, ident, lambda src: self._send_store(ctx, src, rq.message_id))
        last = RetrieveStatus(0x0000)
        async for st in stream:
            last = st
            if st.status in (0xFF00, 0xFF01):
                await self._respond(ctx, rsp(st))
            else:
                break
        if last.status in (0xFF00, 0xFF01):
            last = RetrieveStatus(0x0000, None, last.completed, last.failed, last.warning)
        await self._respond(ctx, rsp(last))

    async def _send_store(self, ctx: SCPContext, source: Any, originator_id: int) -> int:
        """A C-STORE sub-operation of C-GET on the requestor's own association; returns its status."""
        src = source if isinstance(source, _ds.StoreSource) else _ds.load_source(source)
        cid = ts = None
        for c, (ab, t) in ctx.accepted.items():
            if ab == src.sop_class_uid and (cid is None or t == src.transfer_syntax):
                cid, ts = c, t
        if cid is None or ts is None:
            return 0xA702  # no storage context for this SOP class: counted as a failed sub-operation
        ch = ctx.channel
        self._store_id = getattr(self, "_store_id", 0) % 0xFFFF + 1
        mid = self._store_id
        try:
            payload = src.dataset_in(ts)
        except ValueError:
            return 0xA702
        await ch.send_message(cid, CStoreRQ(message_id=mid, affected_sop_class_uid=src.sop_class_uid,
                                            affected_sop_instance_uid=src.sop_instance_uid), payload)
        while True:
            ev = await ch.next_event(self.timeouts.dimse)
            if ev.kind == "message" and ev.message is not None:
                m = ev.message.message
                if isinstance(m, CStoreRSP) and m.message_id_being_responded_to == mid:
                    return m.status
                ch.violations.append(Violation("unexpected-message", f"{m.name} during a C-GET sub-operation"))
                continue
            raise _Stop()  # released, aborted or closed in the middle of C-GET
