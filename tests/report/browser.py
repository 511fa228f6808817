"""Look at a report as a person would: headless Chromium (Debian's `chromium`) for the HTML, poppler
(pdftotext, pdftoppm) for PDFs.

Chromium runs as root in CI, so it needs --no-sandbox; the other switches keep it off the network and away
from any profile (a fresh --user-data-dir each call). Every call is bounded by a timeout.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--hide-scrollbars")
TIMEOUT = 90.0
A4_CSS_PX = 794  # 210 mm at 96 CSS px per inch

# Runs in the page after the report: measures what a reader would see break, and writes it into the DOM for
# --dump-dom. A badge is inline-block, so a wrapped one is one box that grew taller than a line; a check id
# is inline, so a broken one has more than one client rect.
MEASURE_JS = r"""
(function () {
  function px(v) { return parseFloat(v) || 0; }
  var out = {badges: [], ids: [], cells: [], width: window.innerWidth,
             scrollWidth: document.documentElement.scrollWidth, text: document.body.innerText};
  document.querySelectorAll('.badge').forEach(function (el) {
    var cs = getComputedStyle(el), r = el.getBoundingClientRect();
    out.badges.push({text: el.textContent, height: r.height, width: r.width, fontSize: px(cs.fontSize),
                     right: r.right});
  });
  document.querySelectorAll('code.id').forEach(function (el) {
    var r = el.getBoundingClientRect();
    out.ids.push({text: el.textContent, rects: el.getClientRects().length, right: r.right});
  });
  document.querySelectorAll('td, th').forEach(function (el) {
    if (el.scrollWidth > el.clientWidth + 1) out.cells.push(el.textContent.slice(0, 80));
  });
  var pre = document.createElement('pre');
  pre.id = 'dd-measure';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    assert CHROMIUM is not None
    with tempfile.TemporaryDirectory(prefix="dd-chromium-") as profile:
        return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True,
                              text=True, timeout=TIMEOUT, check=False)


def screenshot(html: Path, png: Path, width: int, height: int) -> Path:
    proc = _run(f"--screenshot={png}", f"--window-size={width},{height}", html.resolve().as_uri())
    assert png.exists() and png.stat().st_size > 0, proc.stderr[-2000:]
    return png


def print_to_pdf(html: Path, pdf: Path) -> Path:
    proc = _run(f"--print-to-pdf={pdf}", "--no-pdf-header-footer", html.resolve().as_uri())
    assert pdf.exists() and pdf.stat().st_size > 0, proc.stderr[-2000:]
    return pdf


@dataclass
class Measure:
    badges: list[dict[str, Any]]
    ids: list[dict[str, Any]]
    cells: list[str]
    width: float
    scroll_width: float
    text: str


def measure(html_text: str, folder: Path, width: int) -> Measure:
    """Load the report with MEASURE_JS appended (a copy: the report itself carries no script) at `width` CSS
    px and read the measurements back from the dumped DOM."""
    page = folder / f"measure-{width}.html"
    page.write_text(html_text.replace("</body>", f"<script>{MEASURE_JS}</script></body>"), encoding="utf-8")
    proc = _run("--dump-dom", f"--window-size={width},1200", page.resolve().as_uri())
    m = re.search(r'<pre id="dd-measure">(.*?)</pre>', proc.stdout, re.S)
    assert m, f"no measurements in the dumped DOM: {proc.stderr[-2000:]}"
    import html as _html

    data = json.loads(_html.unescape(m.group(1)))
    return Measure(data["badges"], data["ids"], data["cells"], data["width"], data["scrollWidth"], data["text"])


# --- PDFs ---------------------------------------------------------------------------------------------------

def pdf_pages(pdf: Path) -> int:
    out = subprocess.run(["pdfinfo", str(pdf)], capture_output=True, text=True, check=True, timeout=60).stdout
    return int(re.search(r"^Pages:\s+(\d+)", out, re.M).group(1))  # type: ignore[union-attr]


def pdf_text(pdf: Path, *, layout: bool = False) -> str:
    args = ["pdftotext", *(["-layout"] if layout else []), str(pdf), "-"]
    return subprocess.run(args, capture_output=True, text=True, check=True, timeout=60).stdout


@dataclass(frozen=True)
class Word:
    text: str
    page: int
    x_min: float
    x_max: float
    page_width: float


def pdf_words(pdf: Path) -> list[Word]:
    """Every word with its box, from `pdftotext -bbox` (points, origin top left)."""
    out = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True, text=True, check=True,
                         timeout=60).stdout
    words: list[Word] = []
    page, width = 0, 0.0
    for line in out.splitlines():
        p = re.search(r'<page width="([\d.]+)"', line)
        if p:
            page += 1
            width = float(p.group(1))
            continue
        w = re.search(r'<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)" yMax="[\d.]+">(.*)</word>', line)
        if w:
            import html as _html

            words.append(Word(_html.unescape(w.group(3)), page, float(w.group(1)), float(w.group(2)), width))
    return words


def pdf_page_images(pdf: Path, folder: Path, dpi: int = 50) -> list[Path]:
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", str(pdf), str(folder / "page")], check=True, timeout=120)
    return sorted(folder.glob("page-*.png"))
