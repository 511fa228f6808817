"""The report as a PDF (fpdf2), for people who attach it to a ticket or print it for a vendor.

The same document as the HTML report (`document.py`): summary table of targets, a section per target that
needs attention, healthy targets in one line each, appendices with the evidence; widths sum to the A4 text
width (182 mm), so nothing runs off the page.

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
from ._common import labels, plain_summary, trace_rows
from .document import Block, Document, Timeline, build

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
          "•": "*", "·": ".", "×": "x", "✗": "x", "≥": ">=", "≤": "<=", "✓": "v", "\u00a0": " ", "：": ":", "，": ",",
          "。": ".", "（": "(", "）": ")", "；": ";", "▲": "^"}


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

    doc = build(report, lang)
    lb = doc.lb
    paper = "Letter" if os.environ.get("DICOMDOCTOR_PDF_PAPER", "").lower() == "letter" else "A4"
    pdf = FPDF(format=paper, unit="mm")
    pdf.set_auto_page_break(True, margin=14)
    pdf.set_margins(14, 13, 14)
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
                cmaps.append(getattr(pdf.fonts["ddmono"], "cmap", {}))
            else:
                mono = "dd"
        except Exception:  # an unreadable or odd font file: core fonts still make a PDF
            sans, mono, cmaps = "helvetica", "courier", []
    all_text = _all_text(report, lang) + _doc_text(doc)
    if cmaps:
        def covered(ch: str) -> bool:
            return any(ord(ch) in cm for cm in cmaps)
        missing = {ch for ch in all_text if not covered(ch) and ch.isprintable()}
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
    t(all_text)  # a dry run, so the note about missing glyphs can go on page one
    lost = t.lost
    w = _Writer(pdf, t, sans, mono)

    pdf.add_page()
    verdict_rgb = _rgb(doc.verdict)
    w.text(f"{doc.title} — {doc.verdict.upper()}", 15, "B", verdict_rgb, h=8)
    w.text("   ".join(f"{k}: {v}" for k, v in doc.meta), 8, rgb=MUTED)
    pdf.ln(1.5)
    w.text(doc.verdict_line, 10.5, "B", verdict_rgb, h=5.5)
    if lost:
        w.text("Note: some characters could not be shown (no font for them on this system) and appear as '?'. "
               "Install a CJK/Unicode font (fonts-noto-cjk, fonts-wqy-microhei), set DICOMDOCTOR_PDF_FONT, "
               "or use --format html.", 8, rgb=(154, 103, 0))

    w.heading(lb["at_a_glance"])
    if doc.summary:
        rows = [[lb["target"], lb["result"], lb["peer_col"], lb["found_col"]]]
        rows += [[r.target, r.verdict.upper(), r.peer, r.found] for r in doc.summary]
        w.table(rows, (52, 15, 25, 90), size=7.5, status_col=1,
                statuses=[None] + [r.verdict for r in doc.summary])
    else:
        w.text(lb["no_targets"], 9, rgb=MUTED)

    if doc.sections:
        w.heading(lb["attention"])
    for s in doc.sections:
        w.keep(30)
        w.text(f"{s.verdict.upper()}   {s.target.id}", 11.5, "B", _rgb(s.verdict), h=6.5)
        w.table([list(r) for r in s.facts], (34, 148), size=7.5, head=False, borders="NONE", key_col=True,
                padding=(0.35, 1.2))
        if s.timeline is not None:
            w.timeline(s.timeline, lb)
        for p in s.problems:
            w.keep(22)
            w.text(f"{p.word}   {p.finding.check} — {p.finding.title or p.finding.check}", 9.5, "B",
                   STATUS_RGB[p.finding.status], h=5)
            w.text(p.finding.summary, 8.5)
            if p.cause is not None:
                pdf.ln(0.8)
                w.text(f"{lb['likely_cause']}: {p.cause.title}  [{p.cause.id}]", 8.5, "B", h=4.4)
                if p.cause.explanation:
                    w.text(p.cause.explanation, 7.6, h=3.6)
                if p.cause.fixes:
                    w.text(lb["what_to_do"], 8, "B", h=4.2)
                    for fix in p.cause.fixes:
                        w.bullet(fix, 7.6)
                if p.cause.refs:
                    w.text(f"{lb['refs']}: {'; '.join(p.cause.refs)}", 7, rgb=MUTED, h=3.4)
            else:
                w.text(lb["no_cause"], 8, rgb=MUTED)
            if p.alternatives:
                w.text(f"{lb['other_causes']}:", 8, "B", h=4.2)
                for c in p.alternatives:
                    w.bullet(f"{c.title} [{c.id}]", 7.3)
            pdf.ln(1)
        for line in s.others:
            w.text(line, 7, rgb=MUTED, h=3.4)
        if s.appendix:
            w.text(lb["see_appendix"].format(letter=s.appendix), 7, rgb=MUTED, h=3.4)
        pdf.ln(3)

    if doc.healthy:
        w.heading(lb["healthy_title"])
        for tid, line in doc.healthy:
            w.text(f"PASS   {tid} — {line}", 8.5, rgb=STATUS_RGB[Status.PASS], h=4.4)
            if tid in doc.timelines:
                w.timeline(doc.timelines[tid], lb)

    if doc.appendices:
        # No page break of its own: a fleet report stays a few pages (the heading keeps with its first table).
        w.keep(80)
        w.heading(lb["appendices"], top=4)
    for a in doc.appendices:
        w.keep(30)
        w.text(lb["appendix_x"].format(letter=a.letter, target=a.target), 10.5, "B", h=6)
        for b in a.blocks:
            w.keep(14)
            w.text(b.title, 8, "B", h=4.5)
            if b.kind == "matrix":
                n = len(b.columns) - 1
                first = 66.0 if n <= 7 else 50.0 if n <= 10 else 40.0
                rest = (182.0 - first) / max(n, 1)
                w.table([list(b.columns)] + [list(r) for r in b.rows], (first,) + (rest,) * n, size=6.5,
                        center_from=1)
                w.text(doc.legend, 6.5, rgb=MUTED, h=3.2)
            elif b.kind == "trace":
                w.table([list(b.columns)] + [list(r) for r in b.rows], (11, 8, 25, 10, 128), size=6,
                        family=mono)
            elif b.kind == "kv" and all(len(v) <= 40 for _, v in b.rows):
                # short values: two pairs a row, half the height
                pairs = [list(b.rows[i]) + (list(b.rows[i + 1]) if i + 1 < len(b.rows) else ["", ""])
                         for i in range(0, len(b.rows), 2)]
                w.table(pairs, (36, 55, 36, 55), size=7, head=False, key_col=True)
            elif b.kind == "kv":
                w.table([list(r) for r in b.rows], (50, 132), size=7, head=False, key_col=True)
            elif b.kind == "list":
                for row in b.rows:
                    w.bullet(row[0], 7.5)
            else:
                widths = _col_weights(b)
                total = sum(widths)
                w.table([list(b.columns)] + [list(r) for r in b.rows], tuple(182 * x / total for x in widths),
                        size=7)
            if b.note:
                w.text(b.note, 6.5, rgb=MUTED, h=3.2)
            pdf.ln(1)
        pdf.ln(2)
    return bytes(pdf.output())


MUTED = (87, 96, 106)
_STATUS_BY_VALUE = {s.value: s for s in Status}


def _rgb(verdict: str) -> tuple[int, int, int]:
    return STATUS_RGB[VERDICT_STATUS.get(verdict, Status.ERROR)]


def _doc_text(doc: Document) -> str:
    parts = [doc.legend] + [c for a in doc.appendices for b in a.blocks for r in b.rows for c in r]
    parts += [f"▲ {tl.headline} {tl.marker} " + " ".join(f"{st.name} {st.outcome}" for st in tl.steps)
              for tl in doc.timelines.values()]
    parts += [c for a in doc.appendices for b in a.blocks for c in b.columns]
    return "".join(parts)


class _Writer:
    """Text and tables at the page's full width, through the glyph sanitizer."""

    def __init__(self, pdf: Any, t: _Sanitizer, sans: str, mono: str):
        self.pdf, self.t, self.sans, self.mono = pdf, t, sans, mono

    def keep(self, mm: float) -> None:
        # Keep a heading with its first lines (fpdf has no "break-after: avoid").
        if self.pdf.will_page_break(mm):
            self.pdf.add_page()

    def heading(self, s: str, top: float = 3) -> None:
        self.keep(30)
        self.pdf.ln(top)
        self.text(s, 12.5, "B", h=7)
        y = self.pdf.get_y()
        self.pdf.set_draw_color(208, 215, 222)
        self.pdf.line(self.pdf.l_margin, y, self.pdf.l_margin + self.pdf.epw, y)
        self.pdf.ln(2)

    def text(self, s: object, size: float = 9, style: str = "", rgb: tuple[int, int, int] = (31, 35, 40),
             family: str | None = None, h: float | None = None, indent: float = 0) -> None:
        pdf = self.pdf
        pdf.set_font(family or self.sans, style, size)
        pdf.set_text_color(*rgb)
        pdf.set_x(pdf.l_margin + indent)
        # align L: justified text with long UIDs and SOP class names leaves rivers of white space.
        pdf.multi_cell(pdf.epw - indent, h or size * 0.45, self.t(s), new_x="LMARGIN", new_y="NEXT", align="L")

    def bullet(self, s: str, size: float) -> None:
        self.text(f"•  {s}", size, h=size * 0.46, indent=3)

    def timeline(self, tl: Timeline, lb: Any) -> None:
        """The workflow chain: a heading with how it ended, one row per step (start, status, step, check id,
        duration, outcome), a marker row under the step where it broke, the steps not run in grey."""
        from fpdf.fonts import FontFace

        pdf = self.pdf
        self.keep(12 + 4.2 * len(tl.steps))
        pdf.ln(0.8)
        self.text(f"{tl.title}{lb['wf_colon']}{tl.headline}", 9, "B", _rgb(tl.verdict), h=4.6)
        if tl.blocked and tl.cause:
            cause = f"{lb['cause']}{lb['wf_colon']}{tl.cause}" + (f"  [{tl.cause_id}]" if tl.cause_id else "")
            self.text(cause, 7.5, h=3.8)
        size = 7.0
        pdf.set_font(self.sans, "", size)
        pdf.set_text_color(31, 35, 40)
        pdf.set_draw_color(208, 215, 222)
        heading = FontFace(family=self.sans, emphasis="BOLD", fill_color=(246, 248, 250), size_pt=size)
        widths = (15, 13, 32, 36, 14, 72)  # 182 mm: the A4 text width
        soft, red = (246, 248, 250), (255, 241, 240)
        with pdf.table(col_widths=widths, first_row_as_headings=True, text_align="LEFT", line_height=size * 0.47,
                       headings_style=heading, padding=(0.7, 1.2), width=sum(widths), align="LEFT") as tbl:
            r = tbl.row()
            for c in (lb["wf_start"], lb["status"], lb["wf_step"], lb["check"], lb["wf_took"], lb["outcome"]):
                r.cell(self.t(c))
            for st in tl.steps:
                fill = red if st.broke else soft if not st.ran else None
                ink = MUTED if not st.ran else (31, 35, 40)
                plain = FontFace(color=ink, fill_color=fill)
                r = tbl.row()
                r.cell(self.t(st.start or "—"), style=plain, align="RIGHT")
                r.cell(st.word, style=FontFace(color=STATUS_RGB[_STATUS_BY_VALUE.get(st.css, Status.ERROR)],
                                               emphasis="BOLD", fill_color=fill))
                r.cell(self.t(st.name), style=plain)
                r.cell(self.t(st.check), style=FontFace(family=self.mono, color=ink, fill_color=fill,
                                                        size_pt=size - 0.5))
                r.cell(self.t(st.duration or "—"), style=plain, align="RIGHT")
                r.cell(self.t(st.outcome), style=plain)
                if st.broke:
                    r = tbl.row()
                    r.cell("", style=FontFace(fill_color=red))
                    marker = f"▲ {tl.marker}" + (f"  [{tl.cause_id}]" if tl.cause_id else "")
                    r.cell(self.t(marker), colspan=5, style=FontFace(color=STATUS_RGB[Status.FAIL], emphasis="BOLD",
                                                                     fill_color=red))
        pdf.ln(2.5)

    def table(self, rows: Sequence[Sequence[str]], widths: Sequence[float], *, head: bool = True, size: float = 7.5,
              family: str | None = None, status_col: int | None = None, statuses: Sequence[str | None] = (),
              borders: str = "ALL", key_col: bool = False, center_from: int | None = None,
              padding: tuple[float, float] = (0.9, 1.2)) -> None:
        from fpdf.fonts import FontFace

        pdf = self.pdf
        pdf.set_font(family or self.sans, "", size)
        pdf.set_text_color(31, 35, 40)
        pdf.set_draw_color(208, 215, 222)
        heading = FontFace(family=self.sans, emphasis="BOLD", fill_color=(246, 248, 250), size_pt=size)
        with pdf.table(col_widths=tuple(widths), first_row_as_headings=head, text_align="LEFT",
                       line_height=size * 0.47, headings_style=heading, padding=padding, width=sum(widths),
                       align="LEFT", borders_layout=borders) as tbl:
            for n, row in enumerate(rows):
                r = tbl.row()
                for i, cell in enumerate(row):
                    style = None
                    if status_col == i and n < len(statuses) and statuses[n]:
                        style = FontFace(color=_rgb(str(statuses[n])), emphasis="BOLD")
                    elif key_col and i % 2 == 0:
                        style = FontFace(color=MUTED)
                    elif center_from is not None and i >= center_from and n > 0:
                        ok = cell == "✓"
                        style = FontFace(color=STATUS_RGB[Status.PASS] if ok else
                                         STATUS_RGB[Status.FAIL] if cell.startswith("✗") else MUTED,
                                         emphasis="BOLD" if ok else None)
                    align = "CENTER" if center_from is not None and i >= center_from and n > 0 else None
                    r.cell(self.t(cell), style=style, align=align)
        pdf.ln(1.5)


def _col_weights(b: Block) -> list[float]:
    """Column widths in proportion to content (capped), so a long column gets room and a short code little."""
    weights = []
    for i, col in enumerate(b.columns):
        longest = max([0] + [len(r[i]) for r in b.rows[:100] if i < len(r)])
        # The header must fit on one line (bold, +2), long cells wrap: cap so no column starves the others.
        weights.append(float(max(len(col) + 2, min(longest, 36))))
    return weights
