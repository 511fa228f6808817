"""The state machine table against PS3.8 Table 9-10, written out here as the standard prints it."""

from __future__ import annotations

import pytest

from dicomdoctor.ul import (
    ACTIONS,
    TRANSITIONS,
    AAbort,
    AAssociateRJ,
    AReleaseRQ,
    CloseTransport,
    Event,
    Indication,
    LocalProtocolError,
    SendPDU,
    StartARTIM,
    State,
    StateMachine,
    StopARTIM,
)
from dicomdoctor.ul.fsm import ACTION_DESCRIPTIONS, ActionContext, fire

# PS3.8 Table 9-10 (rows: events; columns: Sta1..Sta13; "." = no transition defined).
TABLE_9_10 = """
Evt1   AE-1 .    .    .    .    .    .    .    .    .     .    .    .
Evt2   .    .    .    AE-2 .    .    .    .    .    .     .    .    .
Evt3   .    AA-1 AA-8 .    AE-3 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-6
Evt4   .    AA-1 AA-8 .    AE-4 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-6
Evt5   AE-5 .    .    .    .    .    .    .    .    .     .    .    .
Evt6   .    AE-6 AA-8 .    AA-8 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-7
Evt7   .    .    AE-7 .    .    .    .    .    .    .     .    .    .
Evt8   .    .    AE-8 .    .    .    .    .    .    .     .    .    .
Evt9   .    .    .    .    .    DT-1 .    AR-7 .    .     .    .    .
Evt10  .    AA-1 AA-8 .    AA-8 DT-2 AR-6 AA-8 AA-8 AA-8  AA-8 AA-8 AA-6
Evt11  .    .    .    .    .    AR-1 .    .    .    .     .    .    .
Evt12  .    AA-1 AA-8 .    AA-8 AR-2 AR-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-6
Evt13  .    AA-1 AA-8 .    AA-8 AA-8 AR-3 AA-8 AA-8 AR-10 AR-3 AA-8 AA-6
Evt14  .    .    .    .    .    .    .    AR-4 AR-9 .     .    AR-4 .
Evt15  .    .    AA-1 AA-2 AA-1 AA-1 AA-1 AA-1 AA-1 AA-1  AA-1 AA-1 .
Evt16  .    AA-2 AA-3 .    AA-3 AA-3 AA-3 AA-3 AA-3 AA-3  AA-3 AA-3 AA-2
Evt17  .    AA-5 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4 AA-4  AA-4 AA-4 AR-5
Evt18  .    AA-2 .    .    .    .    .    .    .    .     .    .    AA-2
Evt19  .    AA-1 AA-8 .    AA-8 AA-8 AA-8 AA-8 AA-8 AA-8  AA-8 AA-8 AA-7
"""

EXPECTED = {}
for line in TABLE_9_10.strip().splitlines():
    evt, *cells = line.split()
    assert len(cells) == 13
    for n, cell in enumerate(cells, 1):
        if cell != ".":
            EXPECTED[(Event(evt), State(f"Sta{n}"))] = cell

# Next state of each action (PS3.8 Tables 9-6..9-9); None = depends on context.
NEXT = {"AE-1": 4, "AE-2": 5, "AE-3": 6, "AE-4": 1, "AE-5": 2, "AE-6": None, "AE-7": 6, "AE-8": 13,
        "DT-1": 6, "DT-2": 6, "AR-1": 7, "AR-2": 8, "AR-3": 1, "AR-4": 13, "AR-5": 1, "AR-6": 7, "AR-7": 8,
        "AR-8": None, "AR-9": 11, "AR-10": 12, "AA-1": 13, "AA-2": 1, "AA-3": 1, "AA-4": 1, "AA-5": 1,
        "AA-6": 13, "AA-7": 13, "AA-8": 13}


def test_table_matches_ps3_8_exactly() -> None:
    assert TRANSITIONS == EXPECTED


def test_every_action_is_defined_described_and_used() -> None:
    assert set(ACTIONS) == set(NEXT) == set(ACTION_DESCRIPTIONS) == set(TRANSITIONS.values())
    assert len(State) == 13 and len(Event) == 19


@pytest.mark.parametrize("key", sorted(EXPECTED, key=lambda k: (k[0].name, k[1].name)),
                         ids=lambda k: f"{k[0].value}-{k[1].value}")
def test_each_transition_lands_where_the_standard_says(key: tuple[Event, State]) -> None:
    event, state = key
    t = fire(state, event, ActionContext(pdu=AReleaseRQ()))
    assert t.action == EXPECTED[key] and t.state is state and t.event is event
    want = NEXT[t.action]
    if want is not None:
        assert t.next_state is State(f"Sta{want}")


def test_undefined_pairs_raise_local_protocol_error() -> None:
    with pytest.raises(LocalProtocolError, match="Evt9 is not allowed in Sta5"):
        fire(State.STA5, Event.EVT9)
    sm = StateMachine("acceptor")
    assert not sm.allowed(Event.EVT1) or sm.state is State.STA1
    with pytest.raises(ValueError):
        StateMachine("both")


def test_ae6_accepts_or_rejects() -> None:
    t = fire(State.STA2, Event.EVT6)
    assert t.next_state is State.STA3 and t.effects == (StopARTIM(), Indication("A-ASSOCIATE", None))
    rj = AAssociateRJ(1, 2, 2)
    t = fire(State.STA2, Event.EVT6, ActionContext(reject=rj))
    assert t.next_state is State.STA13 and t.effects == (StopARTIM(), SendPDU(rj), StartARTIM())


def test_ar8_depends_on_role() -> None:
    assert fire(State.STA7, Event.EVT12, ActionContext("requestor")).next_state is State.STA9
    assert fire(State.STA7, Event.EVT12, ActionContext("acceptor")).next_state is State.STA10


def test_aa3_user_or_provider_abort_and_aa8_effects() -> None:
    t = fire(State.STA6, Event.EVT16, ActionContext(pdu=AAbort(0, 0)))
    assert t.effects == (Indication("A-ABORT", AAbort(0, 0)), CloseTransport())
    t = fire(State.STA6, Event.EVT16, ActionContext(pdu=AAbort(2, 1)))
    assert t.effects[0] == Indication("A-P-ABORT", AAbort(2, 1))
    t = fire(State.STA6, Event.EVT19, ActionContext(abort=AAbort(2, 6)))
    assert t.effects == (SendPDU(AAbort(2, 6)), Indication("A-P-ABORT", None), StartARTIM())
    assert fire(State.STA13, Event.EVT6).effects == (SendPDU(AAbort(2, 2)),)   # AA-7
    assert fire(State.STA3, Event.EVT15).effects == (SendPDU(AAbort(0, 0)), StartARTIM())


def test_full_requestor_walk() -> None:
    sm = StateMachine("requestor")
    for event, state in [(Event.EVT1, 4), (Event.EVT2, 5), (Event.EVT3, 6), (Event.EVT9, 6), (Event.EVT10, 6),
                         (Event.EVT11, 7), (Event.EVT10, 7), (Event.EVT13, 1)]:
        sm.fire(event)
        assert sm.state is State(f"Sta{state}")
