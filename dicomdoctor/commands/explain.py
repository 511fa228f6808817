"""`dicomdoctor explain STATUS|ERROR-TEXT [--service SVC]`: decode a DIMSE status, or read an error line
(from dcmtk, pynetdicom, Orthanc, dcm4che, fo-dicom, go-dicom, dicom-rs, dcmjs-dimse, Python's ssl...) and
name its causes with their explanations and fixes.

The reading is `engine.explain` (statuses, the facts a line states, the knowledge base); this module handles
the arguments and renders the answer. A status is a code as DIMSE tools print it: hex with or without 0x /
a trailing H ("A801", "0xA801", "A801H"), or decimal ("43009"); four digits are always hex ("0110" is
0x0110). Anything else is error text. Exit 0 when something was explained, 3 (one message on stderr) when
nothing was recognised.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

from ..engine.explain import MAX_CAUSES, explain, labels, parse_status

__all__ = ["explain", "parse_status", "render_text", "run", "MAX_CAUSES"]

WIDTH = 100


def _wrap(text: str, indent: str, rest: str | None = None) -> str:
    if any(ord(ch) >= 0x2E80 for ch in text):  # CJK text has no spaces to break at: one line per paragraph
        return indent + text
    return textwrap.fill(text, width=WIDTH, initial_indent=indent,
                         subsequent_indent=indent if rest is None else rest,
                         break_long_words=False, break_on_hyphens=False)


def render_text(result: dict[str, Any], lang: str = "en") -> list[tuple[str, str]]:
    """(style, line) pairs; the style is a rich style name or "" for plain."""
    lab = labels(lang)
    out: list[tuple[str, str]] = []
    st = result["status"]
    facts = result.get("facts") or []
    if st is not None:
        svc = f" ({st['service'].upper()})" if st.get("service") else ""
        style = {"success": "bold green", "pending": "bold cyan", "cancel": "bold yellow",
                 "warning": "bold yellow"}.get(st["category"], "bold red")
        out.append((style, f"{lab['status']} {st['hex']}{svc}: {st['name']}"))
        out.append(("", f"  {lab['category']}: {st['category']}"))
        out.append(("", _wrap(st["meaning"], "  ")))
        for other in st.get("by_service", []):
            if other.get("service") == st.get("service") and other["name"] == st["name"]:
                continue
            out.append(("", _wrap(f"{lab['as']} {str(other['service']).upper()}: {other['name']} "
                                  f"({other['category']}). {other['meaning']}", "  ")))
        for note in st.get("vendor_notes", []):
            out.append(("dim", _wrap(f"{lab['notes']}: {note}", "  ")))
        out.append(("", ""))
    if facts:
        out.append(("bold", lab["facts"] + ":"))
        for fact in facts:
            out.append(("", _wrap(fact["summary"], "  - ", "    ")))
        out.append(("", ""))
    if st is not None and not facts:
        if not result["causes"]:
            out.append(("dim", lab["none"]))
            return out
        out.append(("bold", lab["related"] + ":"))
    else:
        out.append(("bold", lab["causes"] + ":"))
    for i, c in enumerate(result["causes"], 1):
        out.append(("", ""))
        out.append(("bold", f"{i}. {c['title']}  [{c['id']}]"))
        out.append(("", _wrap(c["explanation"], "   ")))
        out.append(("italic", f"   {lab['fixes']}:"))
        for fix in c["fixes"]:
            out.append(("", _wrap(fix, "     - ", "       ")))
        if c["refs"]:
            out.append(("dim", _wrap(f"{lab['refs']}: " + "; ".join(c["refs"]), "   ")))
    return out


def _print_text(lines: list[tuple[str, str]], no_color: bool) -> None:
    if not no_color and sys.stdout.isatty():
        try:
            from rich.console import Console
            from rich.text import Text
        except ImportError:  # rich is a dependency, but plain text is always fine
            pass
        else:
            console = Console(highlight=False, soft_wrap=True)
            for style, line in lines:
                console.print(Text(line, style=style or ""))
            return
    sys.stdout.write("\n".join(line for _, line in lines) + "\n")


def run(args: argparse.Namespace) -> int:
    lang = args.lang or "en"
    result = explain(args.text, args.service, lang)
    if args.format == "json":
        sys.stdout.write(json.dumps({"status": result["status"], "causes": result["causes"],
                                     "facts": result["facts"], "input": result["input"]},
                                    ensure_ascii=False, indent=2) + "\n")
    else:
        _print_text(render_text(result, lang), bool(args.no_color))
    return 0
