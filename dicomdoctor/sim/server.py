"""The simulator: a real SCP (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) that any DICOM tool can talk to,
broken on purpose by the faults of `faults.py`.

`Simulator` wires `SimBehaviour` (an `net.scp.SCPBehaviour`: negotiation from `policy.py`, services over
`store.py`) into `net.scp.SCPServer`; the connection faults (close-on-connect, garbage, silent, http) use
`raw.RawServer` instead, since they happen before any DICOM. `SimulatorThread` runs one in a background
event loop for synchronous callers (tests, the CLI demo's TUI).

    async with Simulator("PACS", ["called-ae-strict"], seed=12) as sim:
        ...  # sim.port, sim.target()
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import threading
import weakref
from typing import Any, AsyncIterator, Awaitable, Callable, Iterable

from pydicom.dataset import Dataset

from ..dimse.messages import CEchoRQ, CFindRQ, CGetRQ, CMoveRQ, CStoreRQ, DimseMessage
from ..net import (Reply, RetrieveStatus, SCPBehaviour, SCPContext, SCPServer, StoreSource, Timeouts,
                   send_instances)
from ..net.loopthread import LoopThread
from ..target import check_ae_title
from ..ul.pdu import AAssociateAC, AAssociateRJ, AAssociateRQ
from .certs import CertFiles, generate, server_context
from .faults import Fault, FaultSet, build_fault_set
from .policy import DEFAULT_MAX_PDU, QR_UIDS, SIM_VERSION_NAME, negotiate
from .raw import RawServer, TLSFront
from .store import InstanceStore, QueryError, StoredInstance
from .workflow import WorkflowServices, load_worklist, match_worklist, user_identity_ac

WORKLIST_UID = "1.2.840.10008.5.1.4.31"  # Modality Worklist Information Model - FIND

# Connect-back is bounded (a destination behind a firewall must not hang the C-MOVE); the rest as SCPServer.
SIM_TIMEOUTS = Timeouts(connect=5.0, association=10.0, dimse=60.0, release=5.0)
# Ports tried, in order, when the move destination is the caller's own AE title and no --move-dest names it:
# 11113 is what dicomdoctor's own move check listens on by default, 104 the registered DICOM port.
CALLER_FALLBACK_PORTS = (11113, 104)


class AbortAssociation(Exception):
    """Raised by `negotiate` for the abort-on-associate fault: SCPServer answers a failing negotiation with
    an A-ABORT (source 2, service provider), which is exactly the behaviour being simulated."""


class _SimSource(StoreSource):
    """A stored instance as a C-STORE source; decodes from its own bytes when the destination needs another
    transfer syntax (StoreSource would want a Part-10 file for that)."""

    def as_dataset(self) -> Dataset:
        if self.dataset is None:
            from .store import decode_dataset

            assert self.payload is not None and self.transfer_syntax is not None
            self.dataset = decode_dataset(bytes(self.payload), self.transfer_syntax, header_only=False)
        return self.dataset


def _source(inst: StoredInstance) -> _SimSource:
    data = inst.dataset_bytes()
    return _SimSource(inst.sop_class_uid, inst.sop_instance_uid, inst.transfer_syntax, payload=data,
                      size=len(data))


class SimBehaviour(SCPBehaviour):
    """The simulator's SCP policy and services."""

    implementation_version_name = SIM_VERSION_NAME

    def __init__(self, sim: "Simulator") -> None:
        super().__init__()
        self.sim = sim
        self.faults = sim.faults
        self.move_destinations = sim.move_destinations
        self._accepted_tasks: weakref.WeakSet[asyncio.Task[Any]] = weakref.WeakSet()
        self._requests: weakref.WeakKeyDictionary[Any, int] = weakref.WeakKeyDictionary()
        # The workflow services the faults turn on (sim/workflow.py); none by default.
        modes = self.faults.workflow
        self.worklist = load_worklist(modes["worklist"] or None) if "worklist" in modes else None
        self.workflow = WorkflowServices(modes, lambda uid: any(i.sop_instance_uid == uid for i in sim.store),
                                         sim.move_destinations) if modes else None

    # ---------------------------------------------------------------------------------------- negotiation
    def active_associations(self) -> int:
        """Associations accepted and still open. SCPServer runs each connection in its own task, and
        `negotiate` is called from it, so the task identifies the association."""
        return sum(1 for t in list(self._accepted_tasks) if not t.done())

    def negotiate(self, rq: AAssociateRQ) -> AAssociateAC | AAssociateRJ:
        decision = negotiate(rq, self.sim.aet, self.faults, self.active_associations())
        if decision.abort:
            raise AbortAssociation("abort-on-associate")
        if decision.rj is not None:
            return decision.rj
        assert decision.ac is not None
        ac = self._workflow_negotiation(rq, decision.ac)
        if isinstance(ac, AAssociateRJ):
            return ac
        task = asyncio.current_task()
        if task is not None:
            self._accepted_tasks.add(task)
        return ac

    def _workflow_negotiation(self, rq: AAssociateRQ, ac: AAssociateAC) -> AAssociateAC | AAssociateRJ:
        """The workflow faults' part of the answer: their SOP classes accepted (in a native transfer syntax),
        and user-identity-required (no identity: 1/1/1; a positive response when asked)."""
        from dataclasses import replace

        from ..ul.items import PresentationContextAC
        from .policy import NATIVE_TS

        ui = ac.user_information
        if self.faults.user_identity_required:
            item = user_identity_ac(rq)
            if item is None:
                return AAssociateRJ(result=1, source=1, reason=1)
            if item is not False and ui is not None:
                ui = replace(ui, user_identity_ac=item)
        pcs = list(ac.presentation_contexts)
        if self.workflow is not None or self.worklist is not None:
            proposed = {pc.context_id: pc for pc in rq.presentation_contexts}
            for i, pc in enumerate(pcs):
                want = proposed.get(pc.context_id)
                if want is None or pc.result == 0 or want.abstract_syntax in self.faults.refuse_sop:
                    continue
                ours = (self.worklist is not None and want.abstract_syntax == WORKLIST_UID) or \
                    (self.workflow is not None and self.workflow.supports(want.abstract_syntax))
                ts = next((t for t in want.transfer_syntaxes if t in NATIVE_TS), "")
                if ours and ts:
                    pcs[i] = PresentationContextAC(pc.context_id, 0, ts)
        return replace(ac, presentation_contexts=tuple(pcs), user_information=ui)

    # ----------------------------------------------------------------------------------- request hooks
    async def _request(self, ctx: SCPContext, service: str) -> Reply | None:
        """Every DIMSE request passes here: abort-after counts it; a status fault answers it."""
        if self.faults.abort_after is not None:
            n = self._requests.get(ctx.channel, 0) + 1
            self._requests[ctx.channel] = n
            if n > self.faults.abort_after:
                await ctx.abort(source=0, reason=0)  # the application aborts: A-ABORT source 0 (service user)
        code = self.faults.statuses.get(service)
        if code is not None:
            return Reply(code, error_comment=f"dicomdoctor simulator fault status={service}:{code:04X}")
        return None

    async def before_response(self, ctx: SCPContext, msg: DimseMessage) -> None:
        if self.faults.slow:
            await asyncio.sleep(self.faults.slow)

    # ------------------------------------------------------------------------------------------ services
    async def on_echo(self, ctx: SCPContext, rq: CEchoRQ) -> "int | Reply":
        return await self._request(ctx, "c-echo") or 0x0000

    async def on_store(self, ctx: SCPContext, rq: CStoreRQ, dataset: bytes, transfer_syntax: str) -> "int | Reply":
        override = await self._request(ctx, "c-store")
        if override is not None:
            return override
        try:
            inst = self.sim.store.add(dataset, transfer_syntax, rq.affected_sop_class_uid,
                                      rq.affected_sop_instance_uid)
        except ValueError as exc:
            return Reply(0xC000, error_comment=str(exc))  # cannot understand
        except OSError as exc:
            return Reply(0xA700, error_comment=f"cannot write: {exc.strerror or exc}")  # out of resources
        declared = inst.header.get(0x00080016)  # by tag: the DataElement, not its value
        if declared is not None and str(declared.value) != rq.affected_sop_class_uid:
            # PS3.4 B.2.3: 0xA900 "data set does not match SOP class"; kept anyway, as lenient archives do
            return Reply(0xA900, error_comment="SOP Class UID of the data set differs from the command's",
                         offending_element=(0x00080016,))
        return 0x0000

    @staticmethod
    def _model(ctx: SCPContext) -> str:
        return QR_UIDS.get(ctx.abstract_syntax, ("", "study"))[1]

    async def on_find(self, ctx: SCPContext, rq: CFindRQ,
                      identifier: Dataset) -> AsyncIterator[tuple["int | Reply", Dataset | None]]:
        override = await self._request(ctx, "c-find")
        if override is not None:
            yield override, None
            return
        if ctx.abstract_syntax == WORKLIST_UID and self.worklist is not None:
            for ds in match_worklist(self.worklist, identifier):
                yield 0xFF00, ds
            return
        try:
            level = str(identifier.get("QueryRetrieveLevel", "") or "")
            matches = self.sim.store.query(level, identifier, self._model(ctx), retrieve_ae=self.sim.aet)
        except QueryError as exc:
            offending = (exc.offending,) if exc.offending else None
            yield Reply(exc.status, error_comment=exc.comment, offending_element=offending), None
            return
        except Exception as exc:  # a value pydicom cannot read, a key of the wrong VR: answer, do not abort
            yield Reply(0xA900, error_comment=f"identifier not understood: {type(exc).__name__}"[:64]), None
            return
        for m in matches:
            yield 0xFF00, m.identifier

    def _instances(self, ctx: SCPContext, identifier: Dataset) -> list[StoredInstance] | Reply:
        level = str(identifier.get("QueryRetrieveLevel", "") or "")
        try:
            return self.sim.store.retrieve(level, identifier, self._model(ctx))
        except QueryError as exc:
            return Reply(exc.status, error_comment=exc.comment)

    async def _destination(self, ctx: SCPContext, dest_ae: str) -> tuple[str, int] | None:
        """Where a C-MOVE goes: the AE table, else (for the caller's own title) the caller's address."""
        if self.faults.move_unreachable:
            return ("127.0.0.1", self.sim.closed_port())
        dest_ae = dest_ae.strip()
        if dest_ae in self.move_destinations:
            return self.move_destinations[dest_ae]
        if dest_ae != ctx.calling_ae.strip():
            return None  # a PACS moves only to destinations it knows: 0xA801
        host = ctx.peer[0]
        for port in CALLER_FALLBACK_PORTS:
            if await _port_open(host, port):
                return (host, port)
        return (host, CALLER_FALLBACK_PORTS[0])  # nothing listens: the move fails as a real one would (A702)

    async def on_move(self, ctx: SCPContext, rq: CMoveRQ, identifier: Dataset) -> AsyncIterator[RetrieveStatus]:
        override = await self._request(ctx, "c-move")
        if override is not None:
            yield RetrieveStatus(override.status, error_comment=override.error_comment)
            return
        dest = await self._destination(ctx, rq.move_destination)
        if dest is None:
            yield RetrieveStatus(0xA801, error_comment=f"move destination {rq.move_destination.strip()!r} unknown")
            return
        found = self._instances(ctx, identifier)
        if isinstance(found, Reply):
            yield RetrieveStatus(found.status, error_comment=found.error_comment)
            return
        async for st in send_instances(ctx, [_source(i) for i in found], rq.move_destination.strip(), dest,
                                       rq.message_id):
            yield st

    async def on_get(self, ctx: SCPContext, rq: CGetRQ, identifier: Dataset,
                     send_store: Callable[[Any], Awaitable[int]]) -> AsyncIterator[RetrieveStatus]:
        override = await self._request(ctx, "c-get")
        if override is not None:
            yield RetrieveStatus(override.status, error_comment=override.error_comment)
            return
        found = self._instances(ctx, identifier)
        if isinstance(found, Reply):
            yield RetrieveStatus(found.status, error_comment=found.error_comment)
            return
        # C-STORE sub-operations go back on this association, only for storage classes on which the
        # requestor took the SCP role (PS3.4 C.4.3.3; PS3.7 D.3.3.4); the others fail, as FM-25 describes.
        ui = ctx.ac.user_information
        scp_roles = {r.sop_class_uid for r in (ui.role_selections if ui else ()) if r.scp_role}
        done = failed = warning = 0
        total = len(found)
        for i, inst in enumerate(found):
            if ctx.cancelled:
                yield RetrieveStatus(0xFE00, total - i, done, failed, warning)
                return
            status = await send_store(_source(inst)) if inst.sop_class_uid in scp_roles else 0xA702
            if status == 0x0000:
                done += 1
            elif status in (0xB000, 0xB007, 0xB006):
                warning += 1
            else:
                failed += 1
            if i + 1 < total:
                yield RetrieveStatus(0xFF00, total - i - 1, done, failed, warning)
        final = 0x0000
        if failed or warning:
            final = 0xA702 if failed == total else 0xB000
        comment = ("no C-STORE sub-operation was possible: take the SCP role for the storage classes "
                   "(SCP/SCU role selection)") if final == 0xA702 else None
        yield RetrieveStatus(final, None, done, failed, warning, error_comment=comment)


async def _port_open(host: str, port: int, timeout: float = 1.0) -> bool:
    try:
        _r, w = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, asyncio.TimeoutError):
        return False
    w.close()
    return True


class _SimServer(SCPServer):
    """SCPServer plus the N-services of the workflow faults (MPPS N-CREATE/N-SET, Storage Commitment N-ACTION)."""

    async def _dispatch(self, base: SCPContext, am: Any) -> None:
        services = getattr(self.behaviour, "workflow", None)
        if services is not None and await services.dispatch(base, am):
            return
        await super()._dispatch(base, am)


class Simulator:
    """One simulated peer. `faults`: FaultSet, Fault values or `--fault` strings. `storage`: a folder for
    the instances (default: memory). `seed`: synthetic instances preloaded. `move_destinations`:
    {AE: (host, port)} for C-MOVE."""

    def __init__(self, aet: str = "SIMULATOR", faults: FaultSet | Iterable[Fault | str] = (),
                 host: str = "127.0.0.1", port: int = 0, storage: str | None = None, seed: int = 0, *,
                 move_destinations: dict[str, tuple[str, int]] | None = None,
                 timeouts: Timeouts = SIM_TIMEOUTS) -> None:
        self.aet = check_ae_title(aet, "simulator AE title")
        self.faults = faults if isinstance(faults, FaultSet) else build_fault_set(faults)
        self.host = host
        self.requested_port = port
        self.storage = storage
        self.seed = seed
        self.store = InstanceStore(storage)
        self.move_destinations = dict(move_destinations or {})
        self.timeouts = timeouts
        self.cert_files: CertFiles | None = None
        self.port = 0
        self.server: SCPServer | RawServer | None = None
        self._reserved: socket.socket | None = None
        self._front: TLSFront | None = None
        self._seeded = False

    # -------------------------------------------------------------------------------------------- life
    async def start(self) -> int:
        """Bind and serve; returns the port (a free one when `port` was 0)."""
        if self.server is not None:
            return self.port
        if self.seed and not self._seeded:
            self.store.seed(self.seed)
            self._seeded = True
        ssl_context = None
        if self.faults.tls:
            self.cert_files = generate(self.faults.tls)
            ssl_context = server_context(self.cert_files)
        try:
            if self.faults.connection is not None:
                self.server = RawServer(self.faults.connection, ssl_context)
            else:
                max_pdu = self.faults.max_pdu if self.faults.max_pdu is not None else DEFAULT_MAX_PDU
                front = self.faults.tls == "client-cert"  # see raw.TLSFront: the refusal must send its alert
                self.server = _SimServer(self.aet, SimBehaviour(self), max_pdu=max_pdu,
                                        ssl_context=None if front else ssl_context, timeouts=self.timeouts)
                if front:
                    assert ssl_context is not None
                    inner = await self.server.start("127.0.0.1", 0)
                    self._front = TLSFront(ssl_context, inner)
                    self.port = await self._front.start(self.host, self.requested_port)
                    return self.port
            self.port = await self.server.start(self.host, self.requested_port)
        except BaseException:
            await self.close()
            raise
        return self.port

    async def close(self) -> None:
        front, self._front = self._front, None
        if front is not None:
            await front.close()
        server, self.server = self.server, None
        if server is not None:
            behaviour = getattr(server, "behaviour", None)
            if getattr(behaviour, "workflow", None) is not None:
                await behaviour.workflow.close()  # type: ignore[union-attr]
            await server.close()
        self._cleanup()

    def _cleanup(self) -> None:
        if self._reserved is not None:
            self._reserved.close()
            self._reserved = None
        if self.cert_files is not None:
            shutil.rmtree(self.cert_files.directory, ignore_errors=True)
            self.cert_files = None

    async def __aenter__(self) -> "Simulator":
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ------------------------------------------------------------------------------------------ helpers
    def closed_port(self) -> int:
        """A loopback port where nothing listens, held for the simulator's life: a socket bound but not
        listening makes the kernel refuse connections, and keeps anyone else from taking the port."""
        if self._reserved is None:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind(("127.0.0.1", 0))
            self._reserved = s
        return int(self._reserved.getsockname()[1])

    def target(self, called_ae: str | None = None) -> str:
        """`AE@host:port` for the doctor or any SCU."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{called_ae or self.aet}@{host}:{self.port}"

    @property
    def records(self) -> list[Any]:
        """What the SCP saw on each connection (net.scp.AssociationRecord); empty for connection faults."""
        return list(self.server.records) if isinstance(self.server, SCPServer) else []

    def describe(self) -> str:
        return self.faults.describe()


class SimulatorThread(LoopThread):
    """A Simulator in a background thread with its own event loop, for synchronous callers.

        with SimulatorThread("PACS", ["max-pdu=4096"]) as sim:
            subprocess.run(["/usr/bin/echoscu", "-aec", "PACS", "127.0.0.1", str(sim.port)])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sim = Simulator(*args, **kwargs)
        super().__init__(f"simulator {self.sim.aet}")

    async def _serve_start(self) -> None:
        await self.sim.start()

    async def _serve_close(self) -> None:
        await self.sim.close()

    @property
    def port(self) -> int:
        return self.sim.port

    def target(self, called_ae: str | None = None) -> str:
        return self.sim.target(called_ae)

    def start(self, timeout: float = 30.0) -> int:
        if not self.running:
            self._start_thread(timeout)
        return self.port

    def call(self, fn: Callable[[], Any]) -> Any:
        """Run `fn` in the simulator's loop (its store and records belong to that thread)."""
        assert self._loop is not None
        done = threading.Event()
        out: list[Any] = []

        def run() -> None:
            try:
                out.append(fn())
            finally:
                done.set()

        self._loop.call_soon_threadsafe(run)
        done.wait(10)
        return out[0] if out else None

    def wait_idle(self, timeout: float = 60.0) -> None:
        """Until every connection the simulator accepted so far has ended (its records are final); `timeout`
        is a safety net."""
        server = self.sim.server
        if self._loop is None or not isinstance(server, SCPServer):
            return
        asyncio.run_coroutine_threadsafe(server.idle(), self._loop).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop_thread(timeout)

    def __enter__(self) -> "SimulatorThread":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
