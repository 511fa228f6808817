"""Glue shared by the commands: parsed arguments -> Target and RunOptions; Report -> rendered output + exit code.

Precedence: an option given on the command line wins over the playbook's `defaults:`, which win over the
built-in defaults. argparse cannot tell "given" from "defaulted", so an option whose value equals its
command-line default counts as not given (`CLI_DEFAULTS` mirrors cli.py; a test keeps them in step).
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Sequence

from ..errors import BadInput
from ..target import DicomWebOptions, Target, TLSOptions, UserIdentityOptions, check_ae_title, parse_target

if TYPE_CHECKING:
    from ..engine.model import Report
    from ..engine.playbook import Playbook
    from ..engine.context import RunOptions

# The defaults of the options in cli.py `_common` / `run`.
CLI_DEFAULTS: dict[str, Any] = {"calling_ae": "DICOMDOCTOR", "timeout": 10.0, "dimse_timeout": None,
                                "max_pdu": 16384, "concurrency": 32}


# ----------------------------------------------------------------------------- numeric option validators
# argparse `type=` functions (cli.py) and the checks of the values a playbook's `defaults:` give. float()
# accepts "nan", "inf" and "-1", and a PDU length wider than the 32-bit field would wrap: all bad input.
MAX_SECONDS = 86400.0          # one day: longer is a typo, and asyncio timers misbehave near float limits
MAX_PDU_FIELD = (1 << 32) - 1  # Maximum Length Received is a 32-bit field (PS3.8 Annex D.1)


def check_seconds(value: float, option: str) -> float:
    if not math.isfinite(value) or value <= 0 or value > MAX_SECONDS:
        raise BadInput(f"{option} {value!r}: must be a number of seconds above 0 and at most {MAX_SECONDS:g}")
    return value


def check_pdu_length(value: int, option: str = "--max-pdu") -> int:
    if not 0 <= value <= MAX_PDU_FIELD:
        raise BadInput(f"{option} {value}: must be 0 (unlimited) or a number of bytes up to {MAX_PDU_FIELD} "
                       "(the 32-bit Maximum Length field)")
    return value


def _number(text: str, integer: bool) -> float:
    try:
        return int(text) if integer else float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not {'a whole number' if integer else 'a number'}") \
            from None


def seconds_type(text: str) -> float:
    """argparse type for --timeout / --dimse-timeout."""
    try:
        return check_seconds(float(_number(text, False)), "")
    except BadInput:
        raise argparse.ArgumentTypeError(f"{text!r}: must be a number of seconds above 0 and at most "
                                         f"{MAX_SECONDS:g}") from None


def deadline_type(text: str) -> float:
    """argparse type for --deadline: seconds above 0, or 0 for no whole-run deadline."""
    value = _number(text, False)
    if value == 0:
        return 0.0
    try:
        return check_seconds(float(value), "")
    except BadInput:
        raise argparse.ArgumentTypeError(f"{text!r}: must be 0 (no deadline) or a number of seconds above 0 and at "
                                         f"most {MAX_SECONDS:g}") from None


# The default --deadline, in units of (--timeout + --dimse-timeout). One check needs at most a connect and an
# association (--timeout each), one DIMSE wait and a release; a failed one is explained by a second
# association; `diagnose` opens up to four in the worst case (the shared probe, AE-title probing, C-ECHO).
# Four times one round of waits lets every peer that answers, however slowly, finish; a silent one ends the
# run after one wait anyway (the runner skips the checks after it). --timeout 5 alone: 40 s.
DEADLINE_FACTOR = 4


def whole_run_deadline(args: argparse.Namespace, timeout: float, dimse_timeout: float) -> float | None:
    """--deadline in seconds (None when 0 = none), by default DEADLINE_FACTOR x (timeout + dimse timeout)."""
    given = getattr(args, "deadline", None)
    if given is None:
        return DEADLINE_FACTOR * (timeout + dimse_timeout)
    return None if float(given) == 0 else float(given)


def pdu_length_type(text: str) -> int:
    """argparse type for --max-pdu."""
    try:
        return check_pdu_length(int(_number(text, True)))
    except BadInput:
        raise argparse.ArgumentTypeError(f"{text}: must be 0 (unlimited) or up to {MAX_PDU_FIELD} bytes") \
            from None


def byte_size_type(text: str) -> int:
    """argparse type for --max-dataset: bytes, or with a k/M/G suffix (powers of 1024)."""
    from ..net.limits import MAX_DATASET_CEILING
    units = {"k": 1 << 10, "m": 1 << 20, "g": 1 << 30}
    t = text.strip().lower().removesuffix("b") or "x"
    scale = units.get(t[-1], 1)
    value = _number(t[:-1] if t[-1] in units else t, False) * scale
    if not math.isfinite(value) or not 1 <= value <= MAX_DATASET_CEILING:
        raise argparse.ArgumentTypeError(f"{text}: must be from 1 byte to 4G (a DICOM data set's 32-bit length)")
    return int(value)


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
    target = parse_target(text, calling_ae=calling, called_ae=called, tls=tls)
    identity = identity_from_args(args) or defaults.get("user_identity")
    if identity is not None:
        target = target.with_(user_identity=identity)
    dicomweb = dicomweb_from_args(args)
    return target.with_(dicomweb=dicomweb) if dicomweb is not None else target


def identity_from_args(args: argparse.Namespace) -> UserIdentityOptions | None:
    """--user / --passcode-file|-env / --identity-type / --identity-token-file|-env / --identity-response, or
    None when none is given (user_identity.py checks them and reads the secret once: bad input before any
    association)."""
    from ..user_identity import identity_options
    return identity_options(kind=getattr(args, "identity_type", None), username=getattr(args, "user", None),
                            passcode_file=getattr(args, "passcode_file", None),
                            passcode_env=getattr(args, "passcode_env", None),
                            token_file=getattr(args, "identity_token_file", None),
                            token_env=getattr(args, "identity_token_env", None),
                            positive_response=bool(getattr(args, "identity_response", False)))


def dicomweb_from_args(args: argparse.Namespace) -> "DicomWebOptions | None":
    """--dicomweb URL with its --dicomweb-user/-secret/-ca/-insecure, or None without --dicomweb."""
    url = getattr(args, "dicomweb", None)
    extra = [n for n in ("dicomweb_user", "dicomweb_secret", "dicomweb_ca", "dicomweb_insecure")
             if getattr(args, n, None)]
    if url is None:
        if extra:
            raise BadInput(f"--{extra[0].replace('_', '-')} needs --dicomweb URL")
        return None
    from ..dicomweb_target import dicomweb_options
    return dicomweb_options(url, user=getattr(args, "dicomweb_user", None), secret=getattr(args, "dicomweb_secret", None),
                            ca=getattr(args, "dicomweb_ca", None), insecure=bool(getattr(args, "dicomweb_insecure", False)))


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
    identity = identity_from_args(args)
    if identity is not None:
        changes["user_identity"] = identity
    dicomweb = dicomweb_from_args(args)
    if dicomweb is not None:
        changes["dicomweb"] = dicomweb
    return [t.with_(**changes) if changes else t for t in targets]


def options_from_args(args: argparse.Namespace, playbook: "Playbook | None" = None) -> "RunOptions":
    from ..engine.context import RunOptions
    from ..net.timeouts import Timeouts
    defaults = _defaults(playbook)
    timeout = float(_pick(args, "timeout", defaults))
    # --dimse-timeout defaults to the --timeout: the user's --timeout bounds every wait on the peer (a peer
    # silent after its A-ASSOCIATE-AC included) unless a longer DIMSE wait is asked for explicitly.
    dimse_pick = _pick(args, "dimse_timeout", defaults)
    dimse_timeout = timeout if dimse_pick is None else float(dimse_pick)
    max_pdu = int(_pick(args, "max_pdu", defaults))
    concurrency = int(_pick(args, "concurrency", defaults))
    check_seconds(timeout, "--timeout")
    check_seconds(dimse_timeout, "--dimse-timeout")
    check_pdu_length(max_pdu)
    max_dataset = getattr(args, "max_dataset", None)
    if max_dataset is not None:  # receive limit of this process's associations (net/limits.py)
        from ..net.limits import set_default_max_dataset
        set_default_max_dataset(int(max_dataset))
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
        guess_ae=str(getattr(args, "guess_ae", None) or "polite"),
        lang=getattr(args, "lang", "en") or "en",
        show_phi=bool(getattr(args, "show_phi", False)),
        concurrency=concurrency,
        capture=getattr(args, "capture", None),
        deadline=whole_run_deadline(args, timeout, dimse_timeout),
    )


def with_dicomweb_checks(playbook: "Playbook", targets: "Sequence[Target]") -> "Playbook":
    """A target with a DICOMweb URL in a playbook that lists no dicomweb.* check gets the read-only ones
    (dicomweb.qido, dicomweb.wado): `--dicomweb URL` is never silently ignored. STOW-RS writes, so it runs only
    when a playbook lists it."""
    if not any(t.dicomweb is not None for t in targets) or any(c.startswith("dicomweb.") for c in playbook.check_ids):
        return playbook
    import dataclasses

    from ..engine.playbook import CheckRef
    return dataclasses.replace(playbook, checks=(*playbook.checks, CheckRef("dicomweb.qido"), CheckRef("dicomweb.wado")))


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

