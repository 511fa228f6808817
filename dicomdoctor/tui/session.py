"""What the TUI needs from the engine, without Textual: a cancellable run, the display copy of findings, and
plain-text views of PDUs.

The engine runs in a worker thread with its own event loop (`Session.run`), so a slow DNS lookup or the first
pydicom import never freezes the screen; the UI only ever receives `RunEvent`s and the final `Report`.
Nothing here imports Textual: it is tested directly.
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Mapping, Sequence

from ..engine.context import RunOptions
from ..engine.model import Finding, Report, Status
from ..engine.playbook import Playbook
from ..engine.runner import RunEvent, run_playbook
from ..target import DEFAULT_CALLING_AE, Target, TLSOptions

# The statuses that make a finding "the problem", in the order we look for one to select after a run.
_PROBLEMS = (Status.FAIL, Status.ERROR, Status.WARN)


@dataclass(frozen=True)
class TuiConfig:
    """Everything the app needs to start; built by `commands/tui.py` from the command line (or by a test).

    `targets`: run these at once (one target from TARGET, or several for the demo). Without targets the
    cursor waits in the target field, prefilled with `target_text` and showing `target_error` (a bad TARGET on
    the command line is shown there instead of ending the program).
    """

    options: RunOptions = field(default_factory=RunOptions)
    playbook: str = "standard"
    targets: tuple[Target, ...] = ()
    target_text: str = ""
    target_error: str = ""
    calling_ae: str = DEFAULT_CALLING_AE
    called_ae: str | None = None  # --called-ae: overrides the AE@ part of what is typed
    tls: TLSOptions | None = None  # --tls/--ca/...: used when the TLS switch is on
    overrides: tuple[str, ...] = ()  # --set CHECK.PARAM=VALUE (not on the `tui` command yet; kept for demo)
    playbook_obj: Playbook | None = None  # a ready-made playbook (demo, tests); wins over `playbook`
    # (target id, playbook): these targets run their own playbook while the configured one is chosen (the
    # demo's RIS runs `workflow` beside the PACSes' `standard`); another choice applies to every target.
    target_playbooks: tuple[tuple[str, Playbook], ...] = ()

    @property
    def show_phi(self) -> bool:
        return self.options.show_phi

    @property
    def lang(self) -> str:
        return self.options.lang or "en"


class Session:
    """One run of a playbook, executed by `run()` in the calling thread (a Textual thread worker) with its
    own event loop; `cancel()` may be called from any thread and ends the run promptly (the runner gives
    each check a moment to close its sockets)."""

    def __init__(self, playbook: Playbook, targets: Sequence[Target], options: RunOptions,
                 on_event: Callable[[RunEvent], None] | None = None,
                 per_target: Mapping[str, Playbook] | None = None) -> None:
        self.playbook = playbook
        self.targets = tuple(targets)
        self.options = options
        self.on_event = on_event
        # Each target with its playbook: `per_target` (by target id) where given, else `playbook`.
        self.pairs = tuple((t, (per_target or {}).get(t.id, playbook)) for t in self.targets)
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: "asyncio.Task[Report] | None" = None
        self._cancelled = False

    @property
    def total_checks(self) -> int:
        return sum(len(p.checks) for _, p in self.pairs)

    @property
    def name(self) -> str:
        """The playbook's name, or the names of the playbooks this run mixes ("standard + workflow")."""
        from ..engine.multirun import playbook_names

        return playbook_names(self.pairs) if self.pairs else self.playbook.name

    def run(self) -> Report:
        """Blocking. Raises asyncio.CancelledError when cancelled, BadInput for a playbook without targets."""
        return asyncio.run(self._main())

    async def _main(self) -> Report:
        if any(p is not self.playbook for _, p in self.pairs):
            from ..engine.multirun import run_mixed

            run = run_mixed(self.pairs, self.options, on_event=self.on_event)
        else:
            run = run_playbook(self.playbook, self.targets, self.options, on_event=self.on_event)
        task = asyncio.ensure_future(run)
        with self._lock:
            self._loop, self._task = asyncio.get_running_loop(), task
            if self._cancelled:
                task.cancel()
        return await task

    def cancel(self) -> None:
        with self._lock:
            self._cancelled = True
            loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop closed between the check and the call: the run is over
                pass


# ------------------------------------------------------------------------------------------- display

def for_display(finding: Finding, show_phi: bool) -> Finding:
    """The finding as the screen may show it: patient data redacted unless --show-phi.

    Redaction goes through `report.redact.redact_report`, the same function every report format uses, so
    the screen never shows what an exported report would hide."""
    from ..report.redact import redact_report, sanitize_report

    # Control and bidi characters from a peer are escaped even with --show-phi (they would act on the screen).
    one = sanitize_report(Report(playbook="", verdict="pass", duration_ms=0.0, targets=(), findings=(finding,)))
    if show_phi:
        return finding if one.findings[0] == finding else one.findings[0]
    return redact_report(one).findings[0]


def first_problem(findings: Iterable[Finding]) -> Finding | None:
    """The finding to select when a run ends: the first failure, else the first error, else the first
    warning, else None."""
    items = list(findings)
    for status in _PROBLEMS:
        for f in items:
            if f.status is status:
                return f
    return None


# ------------------------------------------------------------------------------------ workflow chain

# The steps of playbooks/workflow.yaml's chain, in order (tests/tui check them against the playbook): each
# depends on the one before, so the first failed one is where the chain broke and the rest are skipped.
WORKFLOW_CHAIN = ("mwl.find", "workflow.mpps-start", "workflow.store", "workflow.commit",
                  "workflow.mpps-complete", "workflow.readback")
_BREAKS = (Status.FAIL, Status.ERROR)


@dataclass(frozen=True)
class ChainStep:
    check: str
    status: Status | None  # None: not ended yet (running, or waiting for the step before)
    broke: bool = False  # the chain broke here (the first failed step)
    summary: str = ""  # the step's summary (for a skipped first step: what stopped the chain before it)


def workflow_chain(findings: Iterable[Finding], target: str) -> list[ChainStep]:
    """The workflow chain of `target`: each step's status in order, the step where it broke marked; [] when
    the target runs no `workflow.*` step (mwl.find alone is not a chain)."""
    by_check = {f.check: f for f in findings if f.target == target and f.check in WORKFLOW_CHAIN}
    if not any(c.startswith("workflow.") for c in by_check):
        return []
    steps, broke = [], False
    for check in WORKFLOW_CHAIN:
        f = by_check.get(check)
        here = f is not None and f.status in _BREAKS and not broke
        broke = broke or here
        steps.append(ChainStep(check, f.status if f is not None else None, here, str(f.summary) if f else ""))
    return steps


# --------------------------------------------------------------------------------------------- PDUs

_MAX_BYTES_SHOWN = 48
_MAX_ITEMS = 200


def _bytes_text(value: bytes) -> str:
    head = value[:_MAX_BYTES_SHOWN].hex(" ")
    more = f" … ({len(value)} bytes)" if len(value) > _MAX_BYTES_SHOWN else f" ({len(value)} bytes)"
    return head + more


def _uid_suffix(value: str) -> str:
    from ..report._common import uid_name  # the reports' UID naming (pydicom), imported when needed

    name = uid_name(value)
    return f"  ({name})" if name else ""


def _fields(value: Any) -> list[tuple[str, Any]]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
    return list(value.items())


# Integer fields whose hex form is how the standard and the tools print them.
_HEX_FIELDS = ("status", "command_data_set_type", "command_field", "pdu_type", "item_type", "error_id")
# Properties of ul items that name a code (PresentationContextAC.result_name, AAssociateRJ.reason_name...).
_NAME_PROPERTIES = ("result_name", "source_name", "reason_name")


def format_pdu(pdu: Any, *, show_phi: bool = False) -> list[str]:
    """The decoded PDU (or DIMSE message) of a trace entry, one field per line, nested items indented.

    Generic over the frozen dataclasses of `ul` and `dimse`: a new item type shows up without a change here.
    Without --show-phi, values go through the reports' redaction (`report.redact`): a C-FIND message could
    name a patient."""
    if pdu is None:
        return ["(no PDU: a note about the connection)"]
    lines: list[str] = [type(pdu).__name__]
    _walk(pdu, "  ", lines, show_phi)
    return lines


def _walk(value: Any, indent: str, lines: list[str], show_phi: bool) -> None:
    for name, item in _fields(value):
        _line(str(name), item, indent, lines, show_phi)
    for prop in _NAME_PROPERTIES:
        if not isinstance(value, Mapping) and hasattr(type(value), prop):
            try:
                lines.append(f"{indent}{prop}: {getattr(value, prop)}")
            except Exception:  # a code the tables do not know: the number above says it all
                pass


def _line(name: str, item: Any, indent: str, lines: list[str], show_phi: bool) -> None:
    if len(lines) > 2000:  # a hostile PDU with thousands of items: enough to see the pattern
        if lines[-1] != f"{indent}…":
            lines.append(f"{indent}…")
        return
    if not show_phi:
        from ..report.redact import REDACTED, is_phi_key

        if is_phi_key(name) and item not in (None, "", b"", (), []):
            lines.append(f"{indent}{name}: {REDACTED}")
            return
    if (dataclasses.is_dataclass(item) and not isinstance(item, type)) or isinstance(item, Mapping):
        kind = "" if isinstance(item, Mapping) else f" {type(item).__name__}"
        lines.append(f"{indent}{name}:{kind}")
        _walk(item, indent + "  ", lines, show_phi)
    elif isinstance(item, (list, tuple)) and item and not all(_is_plain(i) for i in item):
        lines.append(f"{indent}{name}: [{len(item)}]")
        for n, sub in enumerate(item[:_MAX_ITEMS]):
            _line(f"[{n}]", sub, indent + "  ", lines, show_phi)
        if len(item) > _MAX_ITEMS:
            lines.append(f"{indent}  … {len(item) - _MAX_ITEMS} more")
    else:
        lines.append(f"{indent}{name}: {_scalar(name, item, show_phi)}")


def _is_plain(value: Any) -> bool:
    return not (isinstance(value, (list, tuple, Mapping)) or
                (dataclasses.is_dataclass(value) and not isinstance(value, type)))


def _scalar(name: str, value: Any, show_phi: bool) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        if not show_phi:
            from ..report.redact import REDACTED, redact_value

            if redact_value(data) == REDACTED:  # raw bytes that carry a patient tag are withheld
                return f"{REDACTED} ({len(data)} bytes)"
        return _bytes_text(data)
    if isinstance(value, enum.Enum):
        return f"{value.name} ({value.value})"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_scalar(name, v, show_phi) for v in value) + "]"
    if isinstance(value, str):
        if not show_phi:
            from ..report.redact import redact_text

            value = redact_text(value)
        return repr(value) + (_uid_suffix(value) if value[:1].isdigit() and "." in value else "")
    if isinstance(value, int) and not isinstance(value, bool) and (name in _HEX_FIELDS or name.endswith("_tag")):
        return f"{value} (0x{value:04X})"
    return repr(value)


__all__ = ["WORKFLOW_CHAIN", "ChainStep", "Session", "TuiConfig", "first_problem", "for_display", "format_pdu",
           "workflow_chain"]
