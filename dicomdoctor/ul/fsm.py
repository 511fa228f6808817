"""The DICOM UL state machine as a table (PS3.8 §9.2: Tables 9-1..9-10; STYLE.md #2).

``TRANSITIONS`` maps (Event, State) to an action name exactly as PS3.8 Table 9-10 does; ``ACTIONS`` maps
each action name (AE-1..AE-8, DT-1/2, AR-1..AR-10, AA-1..AA-8, Tables 9-6..9-9) to a function returning the
*effects* to carry out and the next state. Nothing here does I/O or reads a clock: ``StartARTIM`` is a
request the owner turns into a deadline from the ``now`` it was given.

A pair missing from the table means the event cannot happen in that state (a local primitive the user may
not issue there, or a network event in a state with no transport); ``fire`` raises ``LocalProtocolError``.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Callable, Union

from .errors import LocalProtocolError
from .pdu import PDU, AAbort, AAssociateRJ

__all__ = [
    "State", "Event", "SendPDU", "StartARTIM", "StopARTIM", "CloseTransport", "ConnectTransport", "Indication",
    "Effect", "Transition", "ActionContext", "TRANSITIONS", "ACTIONS", "ACTION_DESCRIPTIONS", "fire",
    "StateMachine",
]


class State(enum.Enum):
    """PS3.8 Table 9-1."""

    STA1 = "Sta1"
    STA2 = "Sta2"
    STA3 = "Sta3"
    STA4 = "Sta4"
    STA5 = "Sta5"
    STA6 = "Sta6"
    STA7 = "Sta7"
    STA8 = "Sta8"
    STA9 = "Sta9"
    STA10 = "Sta10"
    STA11 = "Sta11"
    STA12 = "Sta12"
    STA13 = "Sta13"

    @property
    def description(self) -> str:
        return _STATE_DESCRIPTIONS[self]


_STATE_DESCRIPTIONS = {
    State.STA1: "Idle",
    State.STA2: "Transport connection open (awaiting A-ASSOCIATE-RQ PDU)",
    State.STA3: "Awaiting local A-ASSOCIATE response primitive",
    State.STA4: "Awaiting transport connection opening to complete",
    State.STA5: "Awaiting A-ASSOCIATE-AC or A-ASSOCIATE-RJ PDU",
    State.STA6: "Association established and ready for data transfer",
    State.STA7: "Awaiting A-RELEASE-RP PDU",
    State.STA8: "Awaiting local A-RELEASE response primitive",
    State.STA9: "Release collision requestor side; awaiting A-RELEASE response primitive",
    State.STA10: "Release collision acceptor side; awaiting A-RELEASE-RP PDU",
    State.STA11: "Release collision requestor side; awaiting A-RELEASE-RP PDU",
    State.STA12: "Release collision acceptor side; awaiting A-RELEASE response primitive",
    State.STA13: "Awaiting transport connection close indication (association no longer exists)",
}


class Event(enum.Enum):
    """PS3.8 Table 9-2."""

    EVT1 = "Evt1"    # A-ASSOCIATE request (local user)
    EVT2 = "Evt2"    # transport connect confirmation (local transport)
    EVT3 = "Evt3"    # A-ASSOCIATE-AC PDU received
    EVT4 = "Evt4"    # A-ASSOCIATE-RJ PDU received
    EVT5 = "Evt5"    # transport connection indication (local transport)
    EVT6 = "Evt6"    # A-ASSOCIATE-RQ PDU received
    EVT7 = "Evt7"    # A-ASSOCIATE response primitive (accept)
    EVT8 = "Evt8"    # A-ASSOCIATE response primitive (reject)
    EVT9 = "Evt9"    # P-DATA request primitive
    EVT10 = "Evt10"  # P-DATA-TF PDU received
    EVT11 = "Evt11"  # A-RELEASE request primitive
    EVT12 = "Evt12"  # A-RELEASE-RQ PDU received
    EVT13 = "Evt13"  # A-RELEASE-RP PDU received
    EVT14 = "Evt14"  # A-RELEASE response primitive
    EVT15 = "Evt15"  # A-ABORT request primitive
    EVT16 = "Evt16"  # A-ABORT PDU received
    EVT17 = "Evt17"  # transport connection closed indication
    EVT18 = "Evt18"  # ARTIM timer expired
    EVT19 = "Evt19"  # unrecognized or invalid PDU received


# --- effects ----------------------------------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class SendPDU:
    """Write this PDU. ``pdu`` is None for P-DATA the caller already encoded (see note_sent_pdata)."""

    pdu: PDU | None


@dataclass(frozen=True, slots=True)
class StartARTIM:
    """Start (or restart) the ARTIM timer (PS3.8 §9.1.5)."""


@dataclass(frozen=True, slots=True)
class StopARTIM:
    """Stop the ARTIM timer."""


@dataclass(frozen=True, slots=True)
class CloseTransport:
    """Close the transport connection."""


@dataclass(frozen=True, slots=True)
class ConnectTransport:
    """AE-1: issue a transport connect request (the driver has usually done so already)."""


@dataclass(frozen=True, slots=True)
class Indication:
    """A primitive for the local user: ``A-ASSOCIATE``, ``A-ASSOCIATE-accept``, ``A-ASSOCIATE-reject``,
    ``P-DATA``, ``A-RELEASE``, ``A-RELEASE-confirm``, ``A-ABORT``, ``A-P-ABORT``."""

    primitive: str
    pdu: PDU | None = None


Effect = Union[SendPDU, StartARTIM, StopARTIM, CloseTransport, ConnectTransport, Indication]


@dataclass(frozen=True, slots=True)
class Transition:
    """One step of the machine, as a value for the trace."""

    event: Event
    state: State
    action: str
    next_state: State
    effects: tuple[Effect, ...]


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action may need: our role, the event's PDU (received, or given by the user), the A-ABORT to
    send for AA-1/AA-7/AA-8, and for AE-6 the A-ASSOCIATE-RJ to send when the provider cannot accept."""

    role: str = "requestor"
    pdu: PDU | None = None
    abort: AAbort | None = None
    reject: AAssociateRJ | None = None


# --- actions (PS3.8 Tables 9-6..9-9) -------------------------------------------------------------------

Action = Callable[[ActionContext], tuple[list[Effect], State]]
S = State


def _abort(ctx: ActionContext, default: AAbort) -> AAbort:
    return ctx.abort if ctx.abort is not None else default


ACTIONS: dict[str, Action] = {
    "AE-1": lambda c: ([ConnectTransport()], S.STA4),
    "AE-2": lambda c: ([SendPDU(c.pdu)], S.STA5),
    "AE-3": lambda c: ([Indication("A-ASSOCIATE-accept", c.pdu)], S.STA6),
    "AE-4": lambda c: ([Indication("A-ASSOCIATE-reject", c.pdu), CloseTransport()], S.STA1),
    "AE-5": lambda c: ([StartARTIM()], S.STA2),
    # AE-6: stop ARTIM; indicate if the provider accepts the RQ, else send RJ and restart ARTIM.
    "AE-6": lambda c: (([StopARTIM(), SendPDU(c.reject), StartARTIM()], S.STA13) if c.reject is not None
                       else ([StopARTIM(), Indication("A-ASSOCIATE", c.pdu)], S.STA3)),
    "AE-7": lambda c: ([SendPDU(c.pdu)], S.STA6),
    "AE-8": lambda c: ([SendPDU(c.pdu), StartARTIM()], S.STA13),
    "DT-1": lambda c: ([SendPDU(c.pdu)], S.STA6),
    "DT-2": lambda c: ([Indication("P-DATA", c.pdu)], S.STA6),
    "AR-1": lambda c: ([SendPDU(c.pdu)], S.STA7),
    "AR-2": lambda c: ([Indication("A-RELEASE", c.pdu)], S.STA8),
    "AR-3": lambda c: ([Indication("A-RELEASE-confirm", c.pdu), CloseTransport()], S.STA1),
    "AR-4": lambda c: ([SendPDU(c.pdu), StartARTIM()], S.STA13),
    "AR-5": lambda c: ([StopARTIM()], S.STA1),
    "AR-6": lambda c: ([Indication("P-DATA", c.pdu)], S.STA7),
    "AR-7": lambda c: ([SendPDU(c.pdu)], S.STA8),
    # AR-8: release collision; the requestor goes to Sta9, the acceptor to Sta10.
    "AR-8": lambda c: ([Indication("A-RELEASE", c.pdu)], S.STA9 if c.role == "requestor" else S.STA10),
    "AR-9": lambda c: ([SendPDU(c.pdu)], S.STA11),
    "AR-10": lambda c: ([Indication("A-RELEASE-confirm", c.pdu)], S.STA12),
    # AA-1: the table says "service-user source"; for a PDU arriving in Sta2 we are the provider and pass
    # source 2 with the reason in ctx.abort (PS3.8 §9.3.8 allows either).
    "AA-1": lambda c: ([SendPDU(_abort(c, AAbort(0, 0))), StartARTIM()], S.STA13),
    "AA-2": lambda c: ([StopARTIM(), CloseTransport()], S.STA1),
    "AA-3": lambda c: ([Indication("A-ABORT" if isinstance(c.pdu, AAbort) and c.pdu.source == 0
                                   else "A-P-ABORT", c.pdu), CloseTransport()], S.STA1),
    "AA-4": lambda c: ([Indication("A-P-ABORT", c.pdu)], S.STA1),
    "AA-5": lambda c: ([StopARTIM()], S.STA1),
    "AA-6": lambda c: ([], S.STA13),
    "AA-7": lambda c: ([SendPDU(_abort(c, AAbort(2, 2)))], S.STA13),
    "AA-8": lambda c: ([SendPDU(_abort(c, AAbort(2, 2))), Indication("A-P-ABORT", c.pdu), StartARTIM()],
                       S.STA13),
}

ACTION_DESCRIPTIONS: dict[str, str] = {
    "AE-1": "Issue TRANSPORT CONNECT request primitive to local transport service",
    "AE-2": "Send A-ASSOCIATE-RQ PDU",
    "AE-3": "Issue A-ASSOCIATE confirmation (accept) primitive",
    "AE-4": "Issue A-ASSOCIATE confirmation (reject) primitive and close transport connection",
    "AE-5": "Issue transport connection response primitive; start ARTIM timer",
    "AE-6": "Stop ARTIM; issue A-ASSOCIATE indication, or send A-ASSOCIATE-RJ PDU and start ARTIM",
    "AE-7": "Send A-ASSOCIATE-AC PDU",
    "AE-8": "Send A-ASSOCIATE-RJ PDU and start ARTIM timer",
    "DT-1": "Send P-DATA-TF PDU",
    "DT-2": "Send P-DATA indication primitive",
    "AR-1": "Send A-RELEASE-RQ PDU",
    "AR-2": "Issue A-RELEASE indication primitive",
    "AR-3": "Issue A-RELEASE confirmation primitive, and close transport connection",
    "AR-4": "Issue A-RELEASE-RP PDU and start ARTIM timer",
    "AR-5": "Stop ARTIM timer",
    "AR-6": "Issue P-DATA indication",
    "AR-7": "Issue P-DATA-TF PDU",
    "AR-8": "Issue A-RELEASE indication (release collision)",
    "AR-9": "Send A-RELEASE-RP PDU",
    "AR-10": "Issue A-RELEASE confirmation primitive",
    "AA-1": "Send A-ABORT PDU and start (or restart) ARTIM timer",
    "AA-2": "Stop ARTIM timer if running; close transport connection",
    "AA-3": "Issue A-ABORT or A-P-ABORT indication and close transport connection",
    "AA-4": "Issue A-P-ABORT indication primitive",
    "AA-5": "Stop ARTIM timer",
    "AA-6": "Ignore PDU",
    "AA-7": "Send A-ABORT PDU",
    "AA-8": "Send A-ABORT PDU (service-provider source), issue A-P-ABORT indication, and start ARTIM timer",
}


def _row(event: Event, cells: dict[int, str]) -> dict[tuple[Event, State], str]:
    return {(event, State(f"Sta{n}")): action for n, action in cells.items()}


def _same(action: str, *states: int) -> dict[int, str]:
    return {n: action for n in states}


# PS3.8 Table 9-10, row by row. States with no transport (Sta1, Sta4) have no network events except Evt17
# in Sta4 (the connect failed).
_AA8_ROW = _same("AA-8", 3, 5, 6, 7, 8, 9, 10, 11, 12)
TRANSITIONS: dict[tuple[Event, State], str] = {
    **_row(Event.EVT1, {1: "AE-1"}),
    **_row(Event.EVT2, {4: "AE-2"}),
    **_row(Event.EVT3, {2: "AA-1", **_AA8_ROW, 5: "AE-3", 13: "AA-6"}),
    **_row(Event.EVT4, {2: "AA-1", **_AA8_ROW, 5: "AE-4", 13: "AA-6"}),
    **_row(Event.EVT5, {1: "AE-5"}),
    **_row(Event.EVT6, {2: "AE-6", **_AA8_ROW, 13: "AA-7"}),
    **_row(Event.EVT7, {3: "AE-7"}),
    **_row(Event.EVT8, {3: "AE-8"}),
    **_row(Event.EVT9, {6: "DT-1", 8: "AR-7"}),
    **_row(Event.EVT10, {2: "AA-1", **_AA8_ROW, 6: "DT-2", 7: "AR-6", 13: "AA-6"}),
    **_row(Event.EVT11, {6: "AR-1"}),
    **_row(Event.EVT12, {2: "AA-1", **_AA8_ROW, 6: "AR-2", 7: "AR-8", 13: "AA-6"}),
    **_row(Event.EVT13, {2: "AA-1", **_AA8_ROW, 7: "AR-3", 10: "AR-10", 11: "AR-3", 13: "AA-6"}),
    **_row(Event.EVT14, {8: "AR-4", 9: "AR-9", 12: "AR-4"}),
    **_row(Event.EVT15, {3: "AA-1", 4: "AA-2", **_same("AA-1", 5, 6, 7, 8, 9, 10, 11, 12)}),
    **_row(Event.EVT16, {2: "AA-2", **_same("AA-3", 3, 5, 6, 7, 8, 9, 10, 11, 12), 13: "AA-2"}),
    **_row(Event.EVT17, {2: "AA-5", **_same("AA-4", 3, 4, 5, 6, 7, 8, 9, 10, 11, 12), 13: "AR-5"}),
    **_row(Event.EVT18, {2: "AA-2", 13: "AA-2"}),
    **_row(Event.EVT19, {2: "AA-1", **_AA8_ROW, 13: "AA-7"}),
}


def fire(state: State, event: Event, ctx: ActionContext = ActionContext()) -> Transition:
    """Look up (event, state), run the action, return the transition. Pure: no I/O, no clock."""
    action = TRANSITIONS.get((event, state))
    if action is None:
        raise LocalProtocolError(f"{event.value} is not allowed in {state.value} ({state.description})")
    effects, next_state = ACTIONS[action](ctx)
    return Transition(event, state, action, next_state, tuple(effects))


class StateMachine:
    """The table plus the current state and role; the connection object drives one of these."""

    def __init__(self, role: str = "requestor", state: State = State.STA1) -> None:
        if role not in ("requestor", "acceptor"):
            raise ValueError(f"role must be 'requestor' or 'acceptor', not {role!r}")
        self.role = role
        self.state = state

    def allowed(self, event: Event) -> bool:
        return (event, self.state) in TRANSITIONS

    def fire(self, event: Event, *, pdu: PDU | None = None, abort: AAbort | None = None,
             reject: AAssociateRJ | None = None) -> Transition:
        t = fire(self.state, event, ActionContext(self.role, pdu, abort, reject))
        self.state = t.next_state
        return t
