"""Per-phase time limits (seconds). A doctor must never hang: every wait in net/ is bounded by one of these."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Awaitable, TypeVar

T = TypeVar("T")
# A whole operation may take this many DIMSE timeouts when nothing else bounds it. Checks run with the
# run's deadline (--deadline): engine/context.py cuts `operation` to the time left, so it speaks first.
OPERATION_FACTOR = 8


@dataclass(frozen=True, slots=True)
class Timeouts:
    """`connect`: TCP connect + TLS handshake. `association`: A-ASSOCIATE-RQ until AC/RJ (ACSE).
    `dimse`: between a request and each of its responses (each pending C-FIND/C-MOVE response restarts it).
    `release`: A-RELEASE-RQ until RP; after it we abort. `operation`: one whole DIMSE operation (a C-FIND,
    C-MOVE or C-GET with all its pending responses); None = `OPERATION_FACTOR` x `dimse`, so a peer that
    sends pending responses forever is still cut off. `None` elsewhere means unlimited and is only for tests."""

    connect: float | None = 5.0
    association: float | None = 10.0
    dimse: float | None = 30.0
    release: float | None = 5.0
    operation: float | None = None

    @property
    def operation_limit(self) -> float | None:
        """The whole-operation deadline in seconds (None = unlimited)."""
        if self.operation is not None:
            return self.operation
        return None if self.dimse is None else self.dimse * OPERATION_FACTOR

    @classmethod
    def uniform(cls, seconds: float | None) -> "Timeouts":
        return cls(seconds, seconds, seconds, seconds)


DEFAULT_TIMEOUTS = Timeouts()


async def within(seconds: float | None, aw: Awaitable[T]) -> T:
    """Await `aw` for at most `seconds` (None = no limit); raises the builtin TimeoutError on every Python
    version (3.10's asyncio.TimeoutError is a different class), and cancels `aw` on timeout."""
    try:
        return await asyncio.wait_for(aw, seconds)
    except asyncio.TimeoutError:
        raise TimeoutError(f"no result within {seconds} s") from None
