"""The one check registry (STYLE.md 8: a check is registered in exactly one place).

A check is an `async def func(ctx: CheckContext) -> CheckResult` decorated with `@check("net.reachable", ...)`.
Importing `dicomdoctor.engine.checks` imports every check module, and that import is what registers them;
`get_check` / `all_checks` trigger it lazily (`ensure_loaded`) so that nobody has to remember to.

Tests use `isolated_registry()` to register dummy checks without the real ones (and without their imports).
"""

from __future__ import annotations

import contextlib
import difflib
import importlib
import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Awaitable, Callable, Iterator, Mapping

from ..errors import BadInput

if TYPE_CHECKING:  # only for the annotations; context imports nothing from here at run time
    from .context import CheckContext, CheckResult

CheckFunc = Callable[["CheckContext"], Awaitable["CheckResult"]]

# Stable ids: dotted lower-case words ("net.reachable", "assoc.presentation-contexts").
_ID_RE = re.compile(r"^[a-z][a-z0-9-]*(\.[a-z0-9][a-z0-9-]*)+$")


@dataclass(frozen=True)
class CheckSpec:
    """What the runner needs to know about a check; built by `@check`, never by hand."""

    id: str
    func: CheckFunc
    depends: tuple[str, ...] = ()
    # Default parameter values; their keys are also the only parameter names a playbook may set.
    params: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    timeout: float = 30.0
    writes: bool = False  # sends data to the peer (C-STORE...): runs only when a playbook lists it
    title: str = ""  # fallback title when the knowledge base has none

    @property
    def module(self) -> str:
        return getattr(self.func, "__module__", "")


class _Registry:
    def __init__(self, *, loaded: bool = False) -> None:
        self.checks: dict[str, CheckSpec] = {}
        # True once dicomdoctor.engine.checks has been imported (or, for isolated test registries, always).
        self.loaded = loaded


_current = _Registry()


def check(id: str, *, depends: tuple[str, ...] | list[str] = (), params: Mapping[str, Any] | None = None,
          timeout: float = 30.0, writes: bool = False, title: str = "") -> Callable[[CheckFunc], CheckFunc]:
    """Register `func` as the check `id`. Returns the function unchanged so it stays directly callable."""
    if not _ID_RE.match(id):
        raise ValueError(f"check id {id!r} is not a dotted lower-case id such as 'net.reachable'")
    if isinstance(depends, str):  # a classic slip: depends="net.dns" would depend on 'n', 'e', 't'...
        depends = (depends,)
    if timeout <= 0:
        raise ValueError(f"check {id}: timeout must be positive")

    def register(func: CheckFunc) -> CheckFunc:
        spec = CheckSpec(id=id, func=func, depends=tuple(depends),
                         params=MappingProxyType(dict(params or {})), timeout=float(timeout),
                         writes=writes, title=title or id)
        old = _current.checks.get(id)
        # Re-importing the same module (importlib.reload, pytest re-collection) re-registers the same
        # function; a *different* function under a taken id is a bug that would silently shadow a check.
        if old is not None and (old.module, old.func.__qualname__) != (spec.module, func.__qualname__):
            raise ValueError(f"check {id!r} registered twice: {old.module}.{old.func.__qualname__} "
                             f"and {spec.module}.{func.__qualname__}")
        _current.checks[id] = spec
        return func

    return register


def ensure_loaded() -> None:
    """Import the check modules once (their import registers them)."""
    if _current.loaded:
        return
    _current.loaded = True
    importlib.import_module("dicomdoctor.engine.checks")


def get_check(id: str) -> CheckSpec:
    """The spec of `id`; an unknown id is bad input naming it and the closest known ids."""
    ensure_loaded()
    spec = _current.checks.get(id)
    if spec is None:
        raise BadInput(unknown_check_message(id))
    return spec


def unknown_check_message(id: str) -> str:
    known = sorted(_current.checks)
    close = difflib.get_close_matches(str(id), known, n=3, cutoff=0.75)
    if close:
        return f"unknown check {id!r}; did you mean {', '.join(close)}?"
    return f"unknown check {id!r}; known checks: {', '.join(known) or '(none)'}"


def all_checks() -> tuple[CheckSpec, ...]:
    """Every registered check, in registration (import) order."""
    ensure_loaded()
    return tuple(_current.checks.values())


def is_registered(id: str) -> bool:
    ensure_loaded()
    return id in _current.checks


@contextlib.contextmanager
def isolated_registry() -> Iterator[None]:
    """For tests: an empty registry (real checks not imported) for the duration of the block."""
    global _current
    saved = _current
    _current = _Registry(loaded=True)
    try:
        yield
    finally:
        _current = saved
