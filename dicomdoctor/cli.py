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
from .errors import BadInput

FORMATS = ("text", "json", "junit", "markdown", "html", "pdf", "nagios", "prometheus")
LEVELS = ("PATIENT", "STUDY", "SERIES", "IMAGE")


class _Parser(argparse.ArgumentParser):
    """argparse exits 2 on bad usage; DESIGN says bad input is exit 3 with one clear message."""

    def error(self, message: str) -> "NoReturn":  # type: ignore[name-defined]  # noqa: F821
        raise BadInput(f"{self.prog}: {message}")


def _common(p: argparse.ArgumentParser, *, target: bool = True) -> None:
    g = p.add_argument_group("association")
    g.add_argument("--calling-ae", "-aet", dest="calling_ae", default="DICOMDOCTOR", metavar="AE",
                   help="our AE title (default DICOMDOCTOR)")
    g.add_argument("--called-ae", "-aec", dest="called_ae", default=None, metavar="AE",
                   help="the peer's AE title (overrides the AE@ part of TARGET)")
    g.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="connect and association timeout in seconds (default 10)")
    g.add_argument("--dimse-timeout", type=float, default=30.0, metavar="S",
                   help="time to wait for each DIMSE response (default 30)")
    g.add_argument("--max-pdu", type=int, default=16384, metavar="N",
                   help="the maximum PDU length we receive (default 16384; 0 = unlimited)")
    t = p.add_argument_group("TLS (verifies the peer's certificate unless --insecure)")
    t.add_argument("--tls", action="store_true", help="use DICOM over TLS")
    t.add_argument("--ca", metavar="FILE", help="CA certificates (PEM) to trust")
    t.add_argument("--cert", metavar="FILE", help="our client certificate (PEM)")
    t.add_argument("--key", metavar="FILE", help="the private key of --cert (PEM)")
    t.add_argument("--insecure", action="store_true", help="do not verify the peer's certificate")
    o = p.add_argument_group("output")
    o.add_argument("--format", choices=FORMATS, default="text")
    o.add_argument("-o", "--output", metavar="FILE", help="write the report to FILE instead of stdout")
    o.add_argument("-v", "--trace", action="store_true", dest="trace", help="print the PDU trace")
    o.add_argument("--lang", choices=("en", "zh"), default="en", help="language of causes and fixes")
    o.add_argument("--show-phi", action="store_true", help="do not redact patient data in reports")
    o.add_argument("--no-color", action="store_true", help="plain text without colours")
    o.add_argument("--capture", metavar="FILE", help="record this session's packets to a pcap file")


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

    r = sub.add_parser("run", help="run a playbook; its targets come from the playbook (fleet)")
    r.add_argument("playbook", metavar="PLAYBOOK")
    r.add_argument("--set", action="append", default=[], metavar="CHECK.PARAM=VALUE", dest="overrides")
    r.add_argument("--concurrency", type=int, default=32, metavar="N", help="targets checked at once")
    r.add_argument("--no-probe", action="store_true")
    _common(r)

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

    demo = sub.add_parser("demo", help="run the doctor against the built-in simulator",
                          description="Starts several simulated PACS on free loopback ports, each broken in "
                                      "a different way (plus a healthy one), and runs the standard playbook "
                                      "against all of them at once. Opens the TUI on a terminal, else prints "
                                      "the report.",
                          epilog="exit code: 0 when the demo ran (its findings are meant to fail; the "
                                 "report's verdict is not the exit code), 3 when the demo itself could not run.")
    demo.add_argument("--format", choices=FORMATS, default=None)
    demo.add_argument("-o", "--output", metavar="FILE")
    demo.add_argument("--lang", choices=("en", "zh"), default="en")
    demo.add_argument("--no-tui", action="store_true", help="print the report even on a terminal")
    demo.add_argument("--no-color", action="store_true")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if not args.command:
            parser.print_help()
            return 3
        module = importlib.import_module(f"dicomdoctor.commands.{args.command}")
        return int(module.run(args))
    except BadInput as exc:
        print(f"dicomdoctor: {exc}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        print("dicomdoctor: interrupted", file=sys.stderr)
        return 3
    except BrokenPipeError:
        return 0
    except Exception as exc:  # never a traceback for users; DICOMDOCTOR_DEBUG=1 shows it for developers
        if os.environ.get("DICOMDOCTOR_DEBUG"):
            raise
        print(f"dicomdoctor: internal error: {type(exc).__name__}: {exc} "
              "(set DICOMDOCTOR_DEBUG=1 for the traceback)", file=sys.stderr)
        return 3
