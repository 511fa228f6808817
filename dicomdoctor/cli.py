"""Command-line parsing only (DESIGN.md "Command line"). Each sub-command lives in
`dicomdoctor.commands.<name>` as `run(args) -> int` and is imported only when used, so that
`dicomdoctor --help` and the SCU commands start fast (no textual, scapy or PDF library at start-up).
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Sequence

from . import __version__
from .commands._common import byte_size_type, deadline_type, pdu_length_type, seconds_type
from .errors import BadInput
from .user_identity import IDENTITY_TYPES

FORMATS = ("text", "json", "junit", "markdown", "html", "pdf", "nagios", "prometheus")
LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; DESIGN says bad input is exit 3 with one clear message. `main` prints
    "dicomdoctor: " before it, so the message names only the sub-command (the program name once)."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
        command = self.prog.partition(" ")[2]
        raise BadInput(f"{command}: {message}" if command else message)


def _common(p: argparse.ArgumentParser, *, target: bool = True) -> None:
    g = p.add_argument_group("association")
    g.add_argument("--calling-ae", "-aet", dest="calling_ae", default="DICOMDOCTOR", metavar="AE",
                   help="our AE title (default DICOMDOCTOR)")
    g.add_argument("--called-ae", "-aec", dest="called_ae", default=None, metavar="AE",
                   help="the peer's AE title (overrides the AE@ part of TARGET)")
    g.add_argument("--timeout", type=seconds_type, default=10.0, metavar="S",
                   help="connect and association timeout in seconds (default 10); also the DIMSE timeout "
                        "unless --dimse-timeout is given")
    g.add_argument("--dimse-timeout", type=seconds_type, default=None, metavar="S",
                   help="time to wait for each DIMSE response (default: the --timeout)")
    g.add_argument("--deadline", type=deadline_type, default=None, metavar="S",
                   help="the most a whole command may take per target, in seconds (default 4 x (--timeout + "
                        "--dimse-timeout); 0 = none); raise it for long transfers")
    g.add_argument("--max-pdu", type=pdu_length_type, default=16384, metavar="N",
                   help="the maximum PDU length we receive (default 16384; 0 = unlimited)")
    g.add_argument("--max-dataset", type=byte_size_type, default=None, metavar="N",
                   help="the largest data set we accept from a peer, e.g. 512M (default 1G; C-STORE data is "
                        "spooled to disk, other data sets are held in memory up to 16M)")
    t = p.add_argument_group("TLS (verifies the peer's certificate unless --insecure)")
    t.add_argument("--tls", action="store_true", help="use DICOM over TLS")
    t.add_argument("--ca", metavar="FILE", help="CA certificates (PEM) to trust")
    t.add_argument("--cert", metavar="FILE", help="our client certificate (PEM)")
    t.add_argument("--key", metavar="FILE", help="the private key of --cert (PEM)")
    t.add_argument("--insecure", action="store_true", help="do not verify the peer's certificate")
    u = p.add_argument_group("user identity (PS3.7 D.3.3.7), proposed on every association; secrets are read "
                             "from a file or an environment variable, never printed")
    u.add_argument("--user", metavar="NAME", default=None,
                   help="user name (type username, or username-passcode with --passcode-file/-env)")
    u.add_argument("--passcode-file", metavar="FILE", default=None, help="file holding the user's passcode")
    u.add_argument("--passcode-env", metavar="VAR", default=None,
                   help="environment variable holding the user's passcode")
    u.add_argument("--identity-type", choices=tuple(IDENTITY_TYPES),
                   default=None, help="default: jwt with a token, username-passcode with a passcode, else username")
    u.add_argument("--identity-token-file", metavar="FILE", default=None,
                   help="file holding the Kerberos ticket, SAML assertion or JWT")
    u.add_argument("--identity-token-env", metavar="VAR", default=None,
                   help="environment variable holding the Kerberos ticket, SAML assertion or JWT")
    u.add_argument("--identity-response", action="store_true",
                   help="ask the peer to confirm the identity (a positive response, D.3.3.7.2)")
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=FORMATS, default="text")
    o.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    o.add_argument("-v", "--trace", action="store_true", dest="trace", help="print the PDU trace")
    o.add_argument("--lang", choices=("en", "zh"), default="en", help="language of causes and fixes")
    o.add_argument("--show-phi", action="store_true", help="do not redact patient data in reports")
    o.add_argument("--no-color", action="store_true", help="plain text without colours")
    o.add_argument("--capture", metavar="FILE", help="record this session's packets to a pcap file")
    o.add_argument("--guess-ae", choices=("polite", "wide"), default="polite",
                   help="after a called-AE reject: a handful of evidence-driven AE title guesses (polite, at most "
                        "6 associations) or the long list of vendor defaults (wide, up to 32)")


def _dicomweb(p: argparse.ArgumentParser) -> None:
    w = p.add_argument_group("DICOMweb (the dicomweb.* checks)")
    w.add_argument("--dicomweb", metavar="URL", default=None,
                   help="the DICOMweb base URL, e.g. http://pacs:8042/dicom-web (Orthanc) or "
                        "http://pacs:8080/dcm4chee-arc/aets/DCM4CHEE/rs")
    w.add_argument("--dicomweb-user", metavar="USER", default=None,
                   help="HTTP basic user; its password is read from --dicomweb-secret")
    w.add_argument("--dicomweb-secret", metavar="FILE|env:NAME", default=None,
                   help="file or environment variable holding the password (with --dicomweb-user) or the bearer "
                        "token (without); never printed")
    w.add_argument("--dicomweb-ca", metavar="FILE", default=None,
                   help="CA certificates (PEM) for an https URL (default: --ca, else the system's)")
    w.add_argument("--dicomweb-insecure", action="store_true", help="do not verify the DICOMweb server's certificate")


def _query(p: argparse.ArgumentParser) -> None:
    p.add_argument("--level", choices=LEVELS, type=str.upper, default="STUDY")
    p.add_argument("-k", "--query-key", dest="keys", action="append", default=[], metavar="Key=Value",
                   help="a matching or return key (an empty value asks for it back); repeatable")
    p.add_argument("--model", choices=("patient", "study"), default=None,
                   help="information model (default: patient root for PATIENT level, else study root)")


def _with_faults_help(parser: argparse.ArgumentParser) -> None:
    """Give `simulate --help` the fault table, built only when help is printed (keeps start-up fast)."""
    plain = parser.format_help

    def format_help() -> str:
        from .sim.faults import faults_help

        parser.epilog = faults_help()
        return plain()

    parser.format_help = format_help  # type: ignore[method-assign]


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="dicomdoctor", description="A DICOM network doctor: what fails, why, and how to fix it.")
    p.add_argument("--version", action="version", version=f"dicomdoctor {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    d = sub.add_parser("diagnose", help="run a playbook of checks against one target")
    d.add_argument("target", metavar="TARGET", help="[CALLED_AE@]HOST[:PORT]")
    d.add_argument("--playbook", default="standard", metavar="NAME|FILE")
    d.add_argument("--set", action="append", default=[], metavar="CHECK.PARAM=VALUE", dest="overrides")
    d.add_argument("--no-probe", action="store_true", help="do not probe AE title variants after a rejection")
    _common(d)
    _dicomweb(d)

    r = sub.add_parser("run", help="run a playbook; its targets come from the playbook (fleet)")
    r.add_argument("playbook", metavar="PLAYBOOK")
    r.add_argument("--set", action="append", default=[], metavar="CHECK.PARAM=VALUE", dest="overrides")
    r.add_argument("--concurrency", type=int, default=32, metavar="N", help="targets checked at once")
    r.add_argument("--no-probe", action="store_true")
    _common(r)
    _dicomweb(r)

    e = sub.add_parser("echo", help="C-ECHO (verification)")
    e.add_argument("target", metavar="TARGET")
    e.add_argument("--repeat", type=int, default=1, metavar="N")
    _common(e)

    s = sub.add_parser("store", help="C-STORE files or folders")
    s.add_argument("target", metavar="TARGET")
    s.add_argument("paths", nargs="*", metavar="FILE|DIR")
    s.add_argument("--synthetic", type=int, default=0, metavar="N",
                   help="send N synthetic test instances (no patient data) instead of files")
    _common(s)

    f = sub.add_parser("find", help="C-FIND")
    f.add_argument("target", metavar="TARGET")
    _query(f)
    f.add_argument("--max-results", type=int, default=0, metavar="N", help="C-CANCEL after N matches")
    _common(f)

    m = sub.add_parser("move", help="C-MOVE to our own Storage SCP (or another destination)")
    m.add_argument("target", metavar="TARGET")
    _query(m)
    m.add_argument("--dest", default=None, metavar="AE", help="move destination AE (default: --calling-ae)")
    m.add_argument("--listen", type=int, default=None, metavar="PORT", help="run our Storage SCP on PORT")
    m.add_argument("--listen-host", default="127.0.0.1", metavar="ADDR")
    m.add_argument("--out", default=None, metavar="DIR", help="write received instances here")
    _common(m)

    g = sub.add_parser("get", help="C-GET; the instances come back on the same association")
    g.add_argument("target", metavar="TARGET")
    _query(g)
    g.add_argument("--out", default=None, metavar="DIR")
    _common(g)

    w = sub.add_parser("worklist", help="Modality Worklist C-FIND, as a modality asks")
    w.add_argument("target", metavar="TARGET")
    w.add_argument("-k", "--query-key", dest="keys", action="append", default=[], metavar="Key=Value",
                   help="a matching or return key, e.g. PatientID= or Modality=CT (Scheduled Procedure Step keys "
                        "go into its sequence); repeatable")
    w.add_argument("--station", default="", metavar="AE", help="Scheduled Station AE Title to pin (default: any)")
    w.add_argument("--modality", default="", metavar="CODE", help="Modality to pin, e.g. CT (default: any)")
    w.add_argument("--date", default="today", metavar="DATE",
                   help="Scheduled Procedure Step Start Date: YYYYMMDD, a range, today (default), or '' for any")
    _common(w)

    pp = sub.add_parser("mpps", help="MPPS: N-CREATE IN PROGRESS, then N-SET COMPLETED (writes a synthetic step)")
    pp.add_argument("target", metavar="TARGET")
    pp.add_argument("--discontinue", action="store_true", help="end the step DISCONTINUED instead of COMPLETED")
    _common(pp)

    cm = sub.add_parser("commit", help="Storage Commitment: store files, N-ACTION, await the N-EVENT-REPORT")
    cm.add_argument("target", metavar="TARGET")
    cm.add_argument("paths", nargs="*", metavar="FILE|DIR", help="instances to commit (default: one synthetic)")
    cm.add_argument("--listen", type=int, default=None, metavar="PORT",
                    help="our SCP for a report sent on a new association (the peer must know our AE at this port)")
    cm.add_argument("--listen-host", default="127.0.0.1", metavar="ADDR")
    cm.add_argument("--no-store", action="store_true", help="the instances are on the peer already: do not C-STORE")
    cm.add_argument("--wait", type=seconds_type, default=None, metavar="S",
                    help="how long to wait for the report (default: the DIMSE timeout)")
    _common(cm)

    x = sub.add_parser("explain", help="decode a DIMSE status or match an error message to causes")
    x.add_argument("text", metavar="STATUS|ERROR-TEXT")
    x.add_argument("--service", default=None, metavar="SVC",
                   help="c-echo|c-store|c-find|c-move|c-get|n-create|n-set|n-get|n-action|n-event-report|n-delete")
    x.add_argument("--format", choices=("text", "json"), default="text")
    x.add_argument("--lang", choices=("en", "zh"), default="en")
    x.add_argument("--no-color", action="store_true")

    c = sub.add_parser("pcap", help="analyse a packet capture (pcap or pcapng)")
    c.add_argument("file", metavar="FILE")
    c.add_argument("--format", choices=FORMATS, default="text")
    c.add_argument("-o", "--output", metavar="FILE")
    c.add_argument("--lang", choices=("en", "zh"), default="en")
    c.add_argument("--show-phi", action="store_true")
    c.add_argument("--no-color", action="store_true")
    c.add_argument("-v", "--trace", action="store_true", dest="trace")

    t = sub.add_parser("tui", help="the interactive doctor (Textual)")
    t.add_argument("target", nargs="?", metavar="TARGET")
    t.add_argument("--playbook", default="standard", metavar="NAME|FILE")
    _common(t)

    sim = sub.add_parser("simulate", help="a fault-injecting SCP on loopback",
                         description="A DICOM SCP (C-ECHO, C-STORE, C-FIND, C-MOVE, C-GET) that breaks on\n"
                                     "purpose, to try the doctor or any DICOM tool against a known fault.\n"
                                     "Serves until Ctrl-C.",
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    _with_faults_help(sim)
    sim.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1, loopback only; anything else warns)")
    sim.add_argument("--port", type=int, default=11112, help="TCP port (default 11112; 0 = any free port)")
    sim.add_argument("--aet", default="SIMULATOR", help="its AE title (default SIMULATOR)")
    sim.add_argument("--fault", action="append", default=[], metavar="F", help="a fault (see below); repeatable")
    sim.add_argument("--storage", default=None, metavar="DIR",
                     help="keep instances as files in DIR (and load those already there); default: memory")
    sim.add_argument("--seed", type=int, default=0, metavar="N",
                     help="preload N synthetic instances (synthetic patients DOE^SYNTHETICn, IDs SIM0001...)")
    sim.add_argument("--move-dest", action="append", default=[], metavar="AE=HOST:PORT", dest="move_dest",
                     help="a C-MOVE destination; repeatable. Unknown destinations get 0xA801, except the "
                          "calling AE itself, which is reached at the caller's address on port 11113 "
                          "(or 104) as a last resort")

    ex = sub.add_parser("exporter", help="a Prometheus exporter: /probe?target=AE@host:port&playbook=NAME",
                        description="Serves GET /probe?target=AE@HOST:PORT&playbook=NAME (the --format prometheus "
                                    "series plus dicomdoctor_probe_success and dicomdoctor_probe_duration_seconds), "
                                    "GET /metrics (its own counters) and GET / (recent probes), in the manner of "
                                    "blackbox_exporter. Serves until Ctrl-C.")
    ex.add_argument("--listen", default="127.0.0.1:9431", metavar="HOST:PORT",
                    help="address to serve on (default 127.0.0.1:9431, loopback; anything else warns)")
    ex.add_argument("--config", default=None, metavar="FILE",
                    help="exporter.yaml: playbooks (modules), targets' TLS and AE options, limits")
    ex.add_argument("--lang", choices=("en", "zh"), default="en", help="language of the HTML reports")

    demo = sub.add_parser("demo", help="run the doctor against the built-in simulator",
                          description="Starts several simulated PACS on free loopback ports, each broken in "
                                      "a different way (plus a healthy one), and runs the standard playbook "
                                      "(the workflow playbook on the RIS/PACS ones) against all of them at "
                                      "once. Opens the TUI on a terminal, else prints the report.",
                          epilog="exit code: 0 when the demo ran (its findings are meant to fail; the "
                                 "report's verdict is not the exit code), 3 when the demo itself could not run.")
    demo.add_argument("--format", choices=FORMATS, default=None)
    demo.add_argument("-o", "--output", metavar="FILE")
    demo.add_argument("--lang", choices=("en", "zh"), default="en")
    demo.add_argument("--no-tui", action="store_true", help="print the report even on a terminal")
    demo.add_argument("--no-color", action="store_true")
    return p


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Options before, between or after the positionals, as dcmtk and pynetdicom users type them
    (`store PACS@host:104 --max-pdu 131072 a.dcm b.dcm`). argparse's intermixed parsing cannot see through
    sub-parsers, so the sub-command is found first (the first word that is not a top-level option) and its
    own parser reads the rest intermixed."""
    words = list(sys.argv[1:] if argv is None else argv)
    commands = _subparsers(parser)
    at = next((i for i, w in enumerate(words) if not w.startswith("-")), None)
    if at is None or words[at] not in commands:
        return parser.parse_args(words)  # help, --version, no or unknown command: argparse says it
    if words[:at]:
        parser.parse_args(words[:at])  # top-level options (-h, --version) print and exit, others are errors
    args = commands[words[at]].parse_intermixed_args(words[at + 1:])
    args.command = words[at]
    return args


def _escape(text: str) -> str:
    """Messages may quote a peer or a file: never let their control/bidi characters act on the terminal."""
    from .report.redact import escape_unsafe
    return escape_unsafe(text)


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    """Library warnings (pydicom's "Invalid value for VR ...") quote the peer's bytes: escape them too."""
    import warnings
    sys.stderr.write(_escape(warnings.formatwarning(message, category, filename, lineno, line)))


def main(argv: Sequence[str] | None = None) -> int:
    import warnings
    warnings.showwarning = _show_warning
    parser = build_parser()
    try:
        args = parse_args(parser, argv)
        if not args.command:
            parser.print_help()
            return 3
        module = importlib.import_module(f"dicomdoctor.commands.{args.command}")
        return int(module.run(args))
    except BadInput as exc:
        print(f"dicomdoctor: {_escape(str(exc))}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("dicomdoctor: interrupted", file=sys.stderr)
        return 3
    except BrokenPipeError:
        return 0
    except Exception as exc:  # never a traceback for users; DICOMDOCTOR_DEBUG=1 shows it for developers
        if os.environ.get("DICOMDOCTOR_DEBUG"):
            raise
        print(f"dicomdoctor: internal error: {type(exc).__name__}: {_escape(str(exc))} "
              "(set DICOMDOCTOR_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3
