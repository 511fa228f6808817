"""The report as a PDF (fpdf2), for people who attach it to a ticket or print it for a vendor.

fpdf2 is imported inside `render()` only: `import dicomdoctor.report` must stay fast.

Fonts and non-Latin-1 text. PDF core fonts (Helvetica, Courier) only encode Latin-1, and a Chinese report
(`--lang zh`) or a peer's odd implementation version name must never crash the renderer. So:

1. `DICOMDOCTOR_PDF_FONT=/path/font.ttf` uses that Unicode font (TTF/OTF/TTC); `=core` forces core fonts.
2. Otherwise a Unicode TTF is looked up in common places (DejaVu Sans, Noto Sans, Liberation, Arial...), then
   with `fc-match`; for CJK text a CJK font (Noto Sans CJK, WenQuanYi, Droid Sans Fallback, Microsoft YaHei,
   `fc-match :lang=zh`) is added as a fallback font, only when the report holds characters the main font
   lacks (loading a CJK font costs a second).
3. Every character no loaded font can draw is transliterated (NFKD without accents, typographic
   punctuation to ASCII) or replaced by "?", and the first page says so and how to fix it (install
   fonts-noto-cjk / fonts-wqy-microhei, or use --format html, which the browser renders with its fonts).

`DICOMDOCTOR_PDF_PAPER=letter` switches from A4 to US Letter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Sequence

from ..engine.model import Report, Status
from ._common import NEEDS_ATTENTION, STATUS_WORD, KeyValues, Table, evidence_blocks, fmt_duration, labels, \
    peer_phrase, plain_summary, target_findings, trace_rows, verdict_line

_FONT_DIRS = ("/usr/share/fonts", "/usr/local/share/fonts", "/usr/X11R6/lib/X11/fonts", "/Library/Fonts",
              "/System/Library/Fonts", os.path.expanduser("~/.fonts"), os.path.expanduser("~/.local/share/fonts"),
              "C:\\Windows\\Fonts")
# (regular, bold, mono) file names, tried in this order; any one family found is enough.
_FAMILIES = (("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf"),
             ("NotoSans-Regular.ttf", "NotoSans-Bold.ttf", "NotoSansMono-Regular.ttf"),
             ("LiberationSans-Regular.ttf", "LiberationSans-Bold.ttf", "LiberationMono-Regular.ttf"),
             ("FreeSans.ttf", "FreeSansBold.ttf", "FreeMono.ttf"),
             ("arial.ttf", "arialbd.ttf", "consola.ttf"))
_CJK_FILES = ("NotoSansCJK-Regular.ttc", "NotoSansCJKsc-Regular.otf", "NotoSansSC-Regular.otf",
              "NotoSansSC-Regular.ttf", "wqy-microhei.ttc", "wqy-zenhei.ttc", "DroidSansFallbackFull.ttf",
              "DroidSansFallback.ttf", "uming.ttc", "ukai.ttc", "msyh.ttc", "simsun.ttc", "Arial Unicode.ttf")

STATUS_RGB = {Status.PASS: (26, 127, 55), Status.WARN: (154, 103, 0), Status.FAIL: (207, 34, 46),
              Status.SKIP: (110, 119, 129), Status.ERROR: (130, 80, 223)}
VERDICT_STATUS = {"pass": Status.PASS, "warn": Status.WARN, "fail": Status.FAIL, "error": Status.ERROR}

# Typographic characters the report itself uses, spelled in ASCII for core fonts.
_ASCII = {"—": "-", "–": "-", "‘": "'", "’": "'", "“": '"', "”": '"', "…": "...", "→": "->", "←": "<-",
          "•": "*", "·": "*", "×": "x", "≥": ">=", "≤": "<=", "✓": "v", "\u00a0": " ", "：": ":", "，": ",",
          "。": ".", "（": "(", "）": ")", "；": ";"}


def _find_file(names: Iterable[str]) -> str | None:
    wanted = {n.lower(): n for n in names}
    for base in _FONT_DIRS:
        if not os.path.isdir(base):
            continue
        for root, _dirs, files in os.walk(base):
            for fname in files:
                if fname.lower() in wanted:
                    return os.path.join(root, fname)
    return None


def _fc_match(pattern: str) -> str | None:
    if not shutil.which("fc-match"):
        return None
    try:
        out = subprocess.run(["fc-match", "-f", "%{file}", pattern], capture_output=True, text=True,
                             timeout=5, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return out if out.lower().endswith((".ttf", ".otf", ".ttc")) and os.path.isfile(out) else None


@dataclass
class _Fonts:
    regular: str | None = None
    bold: str | None = None
    mono: str | None = None


def _main_fonts() -> _Fonts:
    env = os.environ.get("DICOMDOCTOR_PDF_FONT", "").strip()
    if env.lower() == "core":
        return _Fonts()
    if env and os.path.isfile(env):
        return _Fonts(env, env, env)
    for regular, bold, mono in _FAMILIES:
        path = _find_file([regular])
        if path:
            d = os.path.dirname(path)
            b, m = os.path.join(d, bold), os.path.join(d, mono)
            return _Fonts(path, b if os.path.isfile(b) else path, m if os.path.isfile(m) else None)
    path = _fc_match("sans-serif")
    return _Fonts(path, path, _fc_match("monospace")) if path else _Fonts()


def _cjk_font() -> str | None:
    if os.environ.get("DICOMDOCTOR_PDF_FONT", "").strip().lower() == "core":
        return None
    return _find_file(_CJK_FILES) or _fc_match(":lang=zh")


class _Sanitizer:
    """Keeps characters some loaded font can draw; transliterates or replaces the rest, and remembers."""

    def __init__(self, covered: Callable[[str], bool]):
        self.covered = covered
        self.lost = False

    def __call__(self, text: object) -> str:
        out = []
        for ch in str(text):
            if ch in "\n\t":
                out.append(" " if ch == "\t" else ch)
            elif unicodedata.category(ch) in ("Cc", "Cs", "Co", "Cn") or ch in "\ufffe\uffff":
                out.append("?" if ch != "\x00" else "")  # NUL padding from a peer: drop silently
            elif self.covered(ch):
                out.append(ch)
            else:
                out.append(self._fallback(ch))
        return "".join(out)

    def _fallback(self, ch: str) -> str:
        alt = _ASCII.get(ch)
        if alt is None:
            decomposed = unicodedata.normalize("NFKD", ch)
            alt = "".join(c for c in decomposed if not unicodedata.combining(c))
        if alt and all(self.covered(c) for c in alt):
            return alt
        self.lost = True
        return "?"


def _all_text(report: Report, lang: str) -> str:
    """Every string the PDF may print, to decide on fonts and the missing-glyph note before page one."""
    import json

    parts = [json.dumps(report.to_json_dict(), ensure_ascii=False), " ".join(labels(lang).values())]
    parts += [" ".join((r.pdu_type, r.summary)) for t in report.targets for r in trace_rows(t.trace)]
    parts += plain_summary(report, lang)
    return "".join(parts)


def render(report: Report, *, lang: str = "en", color: bool | None = None, trace: bool = False) -> bytes:
    from fpdf import FPDF  # lazy: see report/__init__.py
    from fpdf.fonts import FontFace

    lb = labels(lang)
    paper = "Letter" if os.environ.get("DICOMDOCTOR_PDF_PAPER", "").lower() == "letter" else "A4"
    pdf = FPDF(format=paper, unit="mm")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margins(14, 14, 14)
    pdf.set_creator(f"dicomdoctor {report.tool_version}".strip())
    pdf.set_title(lb["report_title"])

    fonts = _main_fonts()
    sans, mono = "helvetica", "courier"
    cmaps: list[dict[int, Any]] = []
    if fonts.regular:
        try:
            pdf.add_font("dd", "", fonts.regular)
            pdf.add_font("dd", "B", fonts.bold or fonts.regular)
            sans = "dd"
            cmaps.append(getattr(pdf.fonts["dd"], "cmap", {}))
            if fonts.mono:
                pdf.add_font("ddmono", "", fonts.mono)
                mono = "ddmono"
            else:
                mono = "dd"
        except Exception:  # an unreadable or odd font file: core fonts still make a PDF
            sans, mono, cmaps = "helvetica", "courier", []
    if cmaps:
        def covered(ch: str) -> bool:
            return any(ord(ch) in cm for cm in cmaps)
        missing = {ch for ch in _all_text(report, lang) if not covered(ch) and ch.isprintable()}
        if missing:
            cjk = _cjk_font()
            if cjk:
                try:
                    pdf.add_font("ddcjk", "", cjk)
                    cmaps.append(getattr(pdf.fonts["ddcjk"], "cmap", {}))
                    # exact_match=False: bold headings fall back to the regular CJK face.
                    pdf.set_fallback_fonts(["ddcjk"], exact_match=False)
                except Exception:
                    pass
    else:
        def covered(ch: str) -> bool:
            return ord(ch) < 256  # core fonts: Latin-1 only

    t = _Sanitizer(covered)
    t(_all_text(report, lang))  # a dry run, so the note about missing glyphs can go on page one
    lost = t.lost

    pdf.add_page()
    width = pdf.epw

    def text(s: object, size: float = 10, style: str = "", rgb: tuple[int, int, int] = (31, 35, 40),
             family: str | None = None, h: float | None = None) -> None:
        pdf.set_font(family or sans, style, size)
        pdf.set_text_color(*rgb)
        # align L: justified text with long UIDs and SOP class names leaves rivers of white space.
        pdf.multi_cell(width, h or size * 0.5, t(s), new_x="LMARGIN", new_y="NEXT", align="L")

    def table(rows: Sequence[Sequence[str]], widths: Sequence[float], head: bool = True, size: float = 8,
              family: str | None = None, colors: list[tuple[int, int, int] | None] | None = None) -> None:
        pdf.set_font(family or sans, "", size)
        pdf.set_text_color(31, 35, 40)
        heading = FontFace(family=sans, emphasis="BOLD", fill_color=(246, 248, 250))
        with pdf.table(col_widths=widths, first_row_as_headings=head, text_align="LEFT", line_height=size * 0.5,
                       headings_style=heading, padding=1, width=width) as tbl:
            for n, row in enumerate(rows):
                r = tbl.row()
                for i, cell in enumerate(row):
                    rgb = colors[n] if colors and i == 0 and colors[n] else None
                    style = FontFace(color=rgb, emphasis="BOLD") if rgb else None
                    r.cell(t(cell), style=style)
        pdf.ln(2)

    verdict_rgb = STATUS_RGB[VERDICT_STATUS.get(report.verdict, Status.ERROR)]
    text(f"{lb['report_title']} — {report.verdict.upper()}", 16, "B", verdict_rgb, h=9)
    meta = f"{lb['playbook']}: {report.playbook}"
    if report.started_at:
        meta += f"   {lb['started']}: {report.started_at}"
    text(meta, 9, rgb=(87, 96, 106))
    pdf.ln(2)
    text(verdict_line(report, lang), 11, "B", verdict_rgb, h=6)
    for sentence in plain_summary(report, lang):
        text(sentence, 10)
    if lost:
        pdf.ln(1)
        text("Note: some characters could not be shown (no font for them on this system) and appear as '?'. "
             "Install a CJK/Unicode font (fonts-noto-cjk, fonts-wqy-microhei), set DICOMDOCTOR_PDF_FONT, "
             "or use --format html.", 8, rgb=(154, 103, 0))
    pdf.ln(3)

    for target, findings in target_findings(report):
        if pdf.will_page_break(60):
            pdf.add_page()
        trgb = STATUS_RGB[VERDICT_STATUS.get(target.verdict, Status.ERROR)]
        text(f"{target.id} — {(target.verdict or 'error').upper()}", 13, "B", trgb, h=7)
        text(peer_phrase(target, lang), 9, rgb=(87, 96, 106))
        pdf.ln(1)
        rows: list[tuple[str, ...]] = [(lb["status"], lb["check"], lb["summary"], lb["duration"])]
        rows += [(STATUS_WORD[f.status], f.check, f.summary, fmt_duration(f.duration_ms)) for f in findings]
        table(rows, (12, 28, 48, 12), colors=[None] + [STATUS_RGB[f.status] for f in findings])
        ordered = [f for f in findings if f.status in NEEDS_ATTENTION] + \
                  [f for f in findings if f.status not in NEEDS_ATTENTION]
        for f in ordered:
            # Keep a finding's heading with its first lines (fpdf has no "break-inside: avoid" for tables).
            if pdf.will_page_break(35):
                pdf.add_page()
            text(f"{STATUS_WORD[f.status]}  {f.check} — {f.title or f.check}", 10.5, "B", STATUS_RGB[f.status], h=6)
            text(f"{f.summary} ({fmt_duration(f.duration_ms)})", 9.5)
            for n, c in enumerate(f.causes, 1):
                text(f"{n}. {c.title} [{c.id}]", 9.5, "B", h=5)
                if c.explanation:
                    text(c.explanation, 9)
                for fix in c.fixes:
                    text(f"  • {lb['fix']}: {fix}", 9)
                if c.refs:
                    text(f"  {lb['refs']}: {'; '.join(c.refs)}", 8, rgb=(87, 96, 106))
            for b in evidence_blocks(f.evidence, max_rows=300):
                if isinstance(b, KeyValues):
                    table([(k, v) for k, v in b.rows], (1, 2), head=False)
                elif isinstance(b, Table) and b.columns:
                    text(f"{lb['evidence']}: {b.name}", 8.5, "B")
                    table([b.columns] + list(b.rows), tuple(_col_weights(b)), size=7)
            pdf.ln(2)

    pdf.add_page()
    text(lb["appendix"], 13, "B", h=7)
    for target, _ in target_findings(report):
        text(target.id, 10.5, "B", h=6)
        rows_t = trace_rows(target.trace)
        if not rows_t:
            text(lb["no_trace"], 9, rgb=(87, 96, 106))
            continue
        trows: list[tuple[str, ...]] = [(lb["time"], lb["direction"], lb["pdu"], lb["length"], lb["detail"])]
        trows += [(r.t, r.direction, r.pdu_type, r.length, r.summary) for r in rows_t]
        table(trows, (9, 5, 20, 9, 57), size=7, family=mono)
    return bytes(pdf.output())


def _col_weights(b: Table) -> list[float]:
    """Column widths in proportion to content (capped), so a UID column gets room and a result code little."""
    weights = []
    for i, col in enumerate(b.columns):
        longest = max([0] + [len(r[i]) for r in b.rows[:100] if i < len(r)])
        # The header must fit on one line (bold, +2), long cells wrap: cap so no column starves the others.
        weights.append(float(max(len(col) + 2, min(longest, 36))))
    return weights
