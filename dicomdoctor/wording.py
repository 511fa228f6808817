"""English counts that read right for one as for many: `count(1, "instance")` is "1 instance",
`count(3, "match", "matches")` is "3 matches". Shared by the checks' summaries, the reports and the TUI."""

from __future__ import annotations


def noun(n: int, one: str, many: str | None = None) -> str:
    """The noun alone, singular for exactly 1."""
    return one if n == 1 else (many if many is not None else one + "s")


def count(n: int, one: str, many: str | None = None) -> str:
    """"1 instance", "0 instances", "2 instances"."""
    return f"{n} {noun(n, one, many)}"


def all_of(n: int, one: str, many: str | None = None) -> str:
    """"the 1 instance" / "both instances" / "all 3 instances" (the subject of "... was/were stored")."""
    if n == 1:
        return f"the 1 {one}"
    if n == 2:
        return f"both {noun(n, one, many)}"
    return f"all {count(n, one, many)}"


def were(n: int) -> str:
    return "was" if n == 1 else "were"
