"""`dicomdoctor explain STATUS|ERROR-TEXT [--service SVC]`: decode a DIMSE status, or match an error message
(from dcmtk, pynetdicom, Orthanc, dcm4che, fo-dicom, a Go program, Python's ssl...) to the knowledge base's
causes, with their explanations and fixes.

A status is a code as DIMSE tools print it: hex with or without 0x / a trailing H ("A801", "0xA801",
"A801H"), or decimal ("43009"). Four digits are always hex ("0110" is 0x0110). Anything else is error text.
Exit 0 when something was explained, 3 (one message on stderr) when nothing was recognised.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from typing import Any

from ..engine.kb import KnowledgeBase, load_kb
from ..errors import BadInput

_HEX4 = re.compile(r"^(?:status[\s:=]*)?(?:0x)?([0-9a-f]{4})h?$", re.IGNORECASE)
_HEX_PREFIXED = re.compile(r"^(?:status[\s:=]*)?0x([0-9a-f]{1,4})h?$", re.IGNORECASE)
_DECIMAL = re.compile(r"^(?:status[\s:=]*)?(\d{1,5})$", re.IGNORECASE)
MAX_CAUSES = 5
WIDTH = 100

_LABELS = {
    "en": {"status": "Status", "category": "category", "as": "as", "causes": "Likely causes (most likely first)",
           "related": "Related causes", "fixes": "Fixes", "refs": "References", "none": "No cause in the knowledge "
           "base is tied to this status.", "notes": "Known implementations", "general": "general"},
    "zh": {"status": "状态", "category": "类别", "as": "用于", "causes": "可能原因（按可能性排序）",
           "related": "相关原因", "fixes": "解决方法", "refs": "参考", "none": "知识库中没有与该状态关联的原因。",
           "notes": "已知实现的含义", "general": "通用"},
}


def parse_status(text: str) -> int | None:
    """The status code in `text`, or None when it is not a lone status."""
    t = text.strip()
    for rx, base in ((_HEX_PREFIXED, 16), (_HEX4, 16)):
        m = rx.match(t)
        if m:
            return int(m.group(1), 16)
    m = _DECIMAL.match(t)
    if m and len(m.group(1)) != 4:  # four digits are hex, as status codes are printed ("0110")
        value = int(m.group(1))
        if value <= 0xFFFF:
            return value
    return None


def _status_dict(info: Any) -> dict[str, Any]:
    return {"code": info.code, "hex": f"0x{info.code:04X}", "name": info.name, "category": info.category,
            "meaning": info.meaning, "service": info.service, "known": bool(getattr(info, "known", True)),
            "vendor_notes": list(getattr(info, "vendor_notes", ()) or ())}


def decode_status(code: int, service: str | None) -> dict[str, Any]:
    """The status decoded by dimse.status; without --service and when the code is not a general one,
    the meanings of every service that defines it (the first is the headline)."""
    from ..dimse import status as st

    if service is not None:
        return _status_dict(st.lookup(code, service))
    general = st.lookup(code, None)
    per_service = [_status_dict(info) for info in (st.lookup(code, svc) for svc in st.SERVICES)
                   if info.service is not None and info.known]
    if general.known or not per_service:
        head = _status_dict(general)
    else:
        head = dict(per_service[0])
    if per_service:
        head["by_service"] = per_service
    return head


def _normalize_service(service: str | None) -> str | None:
    if not service:
        return None
    from ..dimse import status as st

    try:
        return st.normalize_service(service)
    except ValueError as exc:
        raise BadInput(str(exc)) from None


def explain(text: str, service: str | None = None, lang: str = "en",
            kb: KnowledgeBase | None = None) -> dict[str, Any]:
    """The explanation as plain values: {"input", "status": {...} | None, "causes": [...]}.
    Raises BadInput when the text is neither a status nor a known error message."""
    kb = kb or load_kb(lang)
    svc = _normalize_service(service)
    code = parse_status(text)
    status: dict[str, Any] | None = None
    if code is not None:
        status = decode_status(code, svc)
        ranked = kb.causes_for_status(code, svc)
    else:
        if not text.strip():
            raise BadInput("explain: give a DIMSE status (e.g. A801, 0xC000, 43009) or an error message")
        ranked = kb.match_text(text)
        if not ranked:
            shown = " ".join(text.split())
            shown = shown if len(shown) <= 80 else shown[:77] + "..."
            raise BadInput(f"explain: {shown!r} is not a DIMSE status and matches no known error message "
                           "(try a status such as A801 or 0xC000, or paste the tool's exact error line)")
        top = ranked[0][1]
        ranked = [r for r in ranked if r[1] >= top * 0.5]  # keep the plausible ones, not every weak hit
    causes = []
    for cause_id, score in ranked[:MAX_CAUSES]:
        c = kb.cause(cause_id, lang)
        causes.append({"id": c.id, "title": c.title, "explanation": c.explanation, "fixes": list(c.fixes),
                       "refs": list(c.refs), "score": score})
    return {"input": text, "status": status, "causes": causes}


# ------------------------------------------------------------------------------------------ rendering

def _wrap(text: str, indent: str, rest: str | None = None) -> str:
    if any(ord(ch) >= 0x2E80 for ch in text):  # CJK text has no spaces to break at: one line per paragraph
        return indent + text
    return textwrap.fill(text, width=WIDTH, initial_indent=indent,
                         subsequent_indent=indent if rest is None else rest,
                         break_long_words=False, break_on_hyphens=False)


def render_text(result: dict[str, Any], lang: str = "en") -> list[tuple[str, str]]:
    """(style, line) pairs; the style is a rich style name or "" for plain."""
    lab = _LABELS.get(lang, _LABELS["en"])
    out: list[tuple[str, str]] = []
    st = result["status"]
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
    lang = getattr(args, "lang", "en") or "en"
    result = explain(args.text, getattr(args, "service", None), lang)
    if getattr(args, "format", "text") == "json":
        sys.stdout.write(json.dumps({"status": result["status"], "causes": result["causes"],
                                     "input": result["input"]}, ensure_ascii=False, indent=2) + "\n")
    else:
        _print_text(render_text(result, lang), bool(getattr(args, "no_color", False)))
    return 0
