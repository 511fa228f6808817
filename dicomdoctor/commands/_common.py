"""Glue shared by the commands: parsed arguments -> Target and RunOptions; Report -> rendered output + exit code.

Precedence: an option given on the command line wins over the playbook's `defaults:`, which win over the
built-in defaults. argparse cannot tell "given" from "defaulted", so an option whose value equals its
command-line default counts as not given (`CLI_DEFAULTS` mirrors cli.py; a test keeps them in step).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping

from ..errors import BadInput
from ..target import Target, TLSOptions, check_ae_title, parse_target

if TYPE_CHECKING:
    from ..engine.model import Report
    from ..engine.playbook import Playbook
    from ..engine.context import RunOptions

# The defaults of the options in cli.py `_common` / `run`.
CLI_DEFAULTS: dict[str, Any] = {"calling_ae": "DICOMDOCTOR", "timeout": 10.0, "dimse_timeout": 30.0,
                                "max_pdu": 16384, "concurrency": 32}


def _given(args: argparse.Namespace, name: str) -> bool:
    value = getattr(args, name, None)
    return value is not None and value != CLI_DEFAULTS.get(name)


def _pick(args: argparse.Namespace, name: str, defaults: Mapping[str, Any]) -> Any:
    """The command line's value if given, else the playbook's default, else the command line's default."""
    if _given(args, name) or name not in defaults:
        value = getattr(args, name, None)
        return CLI_DEFAULTS.get(name) if value is None else value
    return defaults[name]


def _defaults(playbook: "Playbook | None") -> Mapping[str, Any]:
    return playbook.defaults if playbook is not None else {}


def _existing(path: str | None, option: str, *, folder_ok: bool = False) -> str | None:
    if path is None:
        return None
    p = Path(path).expanduser()
    if p.is_file() or (folder_ok and p.is_dir()):
        return str(p)
    if p.is_dir():
        raise BadInput(f"{option} {path}: is a folder, expected a PEM file")
    raise BadInput(f"{option} {path}: no such file")


def tls_from_args(args: argparse.Namespace) -> TLSOptions | None:
    """TLSOptions when any TLS option is given (--ca/--cert/--key/--insecure imply --tls), else None."""
    ca, cert, key = (getattr(args, n, None) for n in ("ca", "cert", "key"))
    insecure = bool(getattr(args, "insecure", False))
    if not (getattr(args, "tls", False) or ca or cert or key or insecure):
        return None
    if key and not cert:
        raise BadInput("--key was given without --cert: a client certificate needs both")
    return TLSOptions(ca=_existing(ca, "--ca", folder_ok=True), cert=_existing(cert, "--cert"),
                      key=_existing(key, "--key"), insecure=insecure)


def targets_from_args(args: argparse.Namespace, playbook: "Playbook | None" = None) -> Target:
    """The TARGET argument with --calling-ae/--called-ae and the TLS options (playbook defaults fill in)."""
    defaults = _defaults(playbook)
    text = getattr(args, "target", None)
    if not text:
        raise BadInput("no target given: expected [CALLED_AE@]HOST[:PORT], e.g. PACS@10.0.0.5:104")
    calling = _pick(args, "calling_ae", defaults)
    called = getattr(args, "called_ae", None)
    if called is None and "@" not in text:
        called = defaults.get("called_ae")
    tls = tls_from_args(args)
    if tls is None:
        tls = defaults.get("tls")
    return parse_target(text, calling_ae=calling, called_ae=called, tls=tls)


def apply_args_to_targets(args: argparse.Namespace, targets: "tuple[Target, ...] | list[Target]") -> list[Target]:
    """`run`: options given on the command line override every target of the playbook."""
    changes: dict[str, Any] = {}
    if _given(args, "calling_ae"):
        changes["calling_ae"] = check_ae_title(args.calling_ae, "calling AE title")
    if getattr(args, "called_ae", None) is not None:
        changes["called_ae"] = check_ae_title(args.called_ae, "called AE title")
        changes["called_ae_given"] = True
    tls = tls_from_args(args)
    if tls is not None:
        changes["tls"] = tls
    return [t.with_(**changes) if changes else t for t in targets]


def options_from_args(args: argparse.Namespace, playbook: "Playbook | None" = None) -> "RunOptions":
    from ..engine.context import RunOptions
    from ..net.timeouts import Timeouts
    defaults = _defaults(playbook)
    timeout = float(_pick(args, "timeout", defaults))
    dimse_timeout = float(_pick(args, "dimse_timeout", defaults))
    max_pdu = int(_pick(args, "max_pdu", defaults))
    concurrency = int(_pick(args, "concurrency", defaults))
    if timeout <= 0 or dimse_timeout <= 0:
        raise BadInput("--timeout and --dimse-timeout must be more than 0 seconds")
    if max_pdu < 0:
        raise BadInput(f"--max-pdu {max_pdu}: must be 0 (unlimited) or a positive number of bytes")
    if concurrency < 1:
        raise BadInput(f"--concurrency {concurrency}: must be at least 1")
    if getattr(args, "capture", None) and getattr(args, "target", None):  # --capture: record until emit()
        from ..capture.live import start_for_args
        start_for_args(args, targets_from_args(args, playbook))
    base = Timeouts()
    return RunOptions(
        timeouts=Timeouts(connect=timeout, association=timeout, dimse=dimse_timeout,
                          release=min(base.release or timeout, timeout)),
        max_pdu=max_pdu,
        no_probe=bool(getattr(args, "no_probe", False)),
        lang=getattr(args, "lang", "en") or "en",
        show_phi=bool(getattr(args, "show_phi", False)),
        concurrency=concurrency,
        capture=getattr(args, "capture", None),
    )


def emit(report: "Report", args: argparse.Namespace) -> int:
    """Render the report as --format, write it to -o FILE or stdout; return the exit code (Nagios)."""
    if getattr(args, "capture", None):  # the session is over: flush the --capture pcap (capture/live.py)
        from ..capture.live import stop_for_args
        stop_for_args(args)
    from ..report import BINARY_FORMATS, render  # lazy: renderers pull in rich, jinja2, fpdf2

    fmt = getattr(args, "format", None) or "text"
    output = getattr(args, "output", None)
    # None lets the renderer decide (NO_COLOR / FORCE_COLOR / a terminal); a file never gets colour codes.
    color = False if getattr(args, "no_color", False) or output else None
    data = render(report, fmt, lang=getattr(args, "lang", "en") or "en",
                  show_phi=bool(getattr(args, "show_phi", False)), color=color,
                  trace=bool(getattr(args, "trace", False)))
    if output:
        try:
            if isinstance(data, bytes):
                Path(output).write_bytes(data)
            else:
                Path(output).write_text(data if data.endswith("\n") else data + "\n", encoding="utf-8")
        except OSError as exc:
            raise BadInput(f"cannot write the report to {output}: {exc.strerror or exc}") from None
    elif isinstance(data, bytes) or fmt in BINARY_FORMATS:
        if sys.stdout.isatty():
            raise BadInput(f"--format {fmt} is binary: write it to a file with -o FILE")
        sys.stdout.flush()
        sys.stdout.buffer.write(data if isinstance(data, bytes) else data.encode("utf-8"))
        sys.stdout.buffer.flush()
    else:
        sys.stdout.write(data if data.endswith("\n") else data + "\n")
        sys.stdout.flush()
    return report.exit_code

