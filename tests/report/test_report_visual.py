"""The reports as a person sees them: the HTML in headless Chromium (screen width and A4 width, and printed
to PDF), the PDF as pages (pdftotext boxes, pdftoppm images), over a real fleet run (`fleet_report`: five
faulty simulators and a healthy dcmtk storescp).

What the issue saw broken, each a check here: PASS badges wrapped one letter per line, check ids broken
mid-word, a fleet PDF of 17 pages with a page of AE-title guesses, tables wider than A4.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

import browser
from dicomdoctor.engine.model import Report, Status
from dicomdoctor.report import render

needs_chromium = pytest.mark.skipif(browser.CHROMIUM is None, reason="chromium is not installed")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
                                   reason="poppler-utils is not installed")
MAX_PDF_PAGES = 6          # the fleet of 6 targets (it was 17 pages)
MAX_PRINTED_HTML_PAGES = 9   # Chromium printing the HTML at A4 (8 measured)
A4_WIDTH_PT = 595.28
MARGIN_PT = 14 / 25.4 * 72  # the PDF renderer's side margins, 14 mm


def _problem_ids(report: Report) -> set[str]:
    return {f.check for f in report.findings if f.status in (Status.FAIL, Status.WARN, Status.ERROR)}


@pytest.fixture(scope="module")
def fleet_html(fleet_report: Report, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    path.write_text(render(fleet_report, "html"), encoding="utf-8")  # type: ignore[arg-type]
    return path


@needs_chromium
@pytest.mark.parametrize("width", [browser.A4_CSS_PX, 1280])
def test_html_badges_and_check_ids_stay_on_one_line(fleet_html: Path, tmp_path: Path, width: int) -> None:
    m = browser.measure(fleet_html.read_text(encoding="utf-8"), tmp_path, width)
    assert len(m.badges) >= 12 and len(m.ids) >= 6
    for b in m.badges:
        # one line of text plus its padding; a wrapped "PASS" is four lines tall and one letter wide
        assert b["height"] < 2 * b["fontSize"] * 1.2, b
        assert b["width"] > 2 * b["fontSize"], b
    broken = [i["text"] for i in m.ids if i["rects"] != 1]
    assert not broken, f"check/cause ids broken across lines at {width}px: {broken}"


@needs_chromium
def test_html_fits_an_a4_wide_window(fleet_html: Path, tmp_path: Path) -> None:
    m = browser.measure(fleet_html.read_text(encoding="utf-8"), tmp_path, browser.A4_CSS_PX)
    assert m.scroll_width <= m.width, "the page scrolls sideways at A4 width"
    assert not m.cells, f"table cells whose content overflows them: {m.cells[:5]}"
    assert all(b["right"] <= m.width for b in m.badges) and all(i["right"] <= m.width for i in m.ids)


@needs_chromium
def test_html_reads_like_a_document(fleet_report: Report, fleet_html: Path, tmp_path: Path) -> None:
    """Summary table first, then one section per target that needs attention, then the appendices."""
    text = browser.measure(fleet_html.read_text(encoding="utf-8"), tmp_path, 1280).text
    order = [text.index(h) for h in ("Targets at a glance", "Targets that need attention", "Appendices: evidence")]
    assert order == sorted(order)
    glance = text[order[0]:order[1]]
    for t in fleet_report.targets:  # every target in the summary table, before any detail
        assert t.id in glance
    assert re.search(r"STORESCP@\S+\s+\w+\s+DCMTK 367", glance)  # the product guess as a name, not a dict
    assert "Association attempts" in text and "Presentation contexts" in text and "PDU trace" in text


@needs_chromium
@needs_poppler
def test_html_printed_to_pdf(fleet_report: Report, fleet_html: Path, tmp_path: Path) -> None:
    pdf = browser.print_to_pdf(fleet_html, tmp_path / "printed.pdf")
    pages = browser.pdf_pages(pdf)
    assert 1 <= pages <= MAX_PRINTED_HTML_PAGES
    text = browser.pdf_text(pdf, layout=True)
    shown = browser.measure(fleet_html.read_text(encoding="utf-8"), tmp_path, browser.A4_CSS_PX).text
    # Each status word and each problem's check id is as often whole in the printed text as on screen.
    for word in ["FAIL", "WARN", *sorted(_problem_ids(fleet_report))]:
        assert text.count(word) >= shown.count(word) > 0, word
    for w in browser.pdf_words(pdf):
        assert 0 <= w.x_min and w.x_max <= w.page_width, w


@needs_chromium
def test_html_screenshots(fleet_html: Path, tmp_path: Path) -> None:
    from PIL import Image

    for width in (browser.A4_CSS_PX, 1280):
        png = browser.screenshot(fleet_html, tmp_path / f"shot-{width}.png", width, 1600)
        with Image.open(png) as im:
            assert im.size == (width, 1600)
            colours = im.convert("RGB").getcolors(maxcolors=1 << 20) or []
            assert len(colours) > 50  # text, badges and tables were drawn, not a blank page


@needs_poppler
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_pages_bounded_and_within_a4(fleet_report: Report, tmp_path: Path, lang: str) -> None:
    pdf = tmp_path / f"fleet-{lang}.pdf"
    pdf.write_bytes(render(fleet_report, "pdf", lang=lang))  # type: ignore[arg-type]
    assert browser.pdf_pages(pdf) <= MAX_PDF_PAGES
    words = browser.pdf_words(pdf)
    assert words
    for w in words:
        assert abs(w.page_width - A4_WIDTH_PT) < 1
        assert MARGIN_PT - 1 <= w.x_min and w.x_max <= A4_WIDTH_PT - MARGIN_PT + 1, w
    # Check ids are never cut: each problem's id is whole in the summary table and in its section.
    text = browser.pdf_text(pdf)
    for check in _problem_ids(fleet_report):
        assert len(re.findall(rf"(?<![\w.-]){re.escape(check)}(?![\w-])", text)) >= 2, check
    if lang == "zh":
        assert "目标一览" in text and "需要处理的目标" in text and "could not be shown" not in text


@needs_poppler
def test_pdf_pages_as_images(fleet_report: Report, tmp_path: Path) -> None:
    """pdftoppm pages: A4 in shape, ink only inside the margins (nothing runs off the right edge)."""
    from PIL import Image

    pdf = tmp_path / "fleet.pdf"
    pdf.write_bytes(render(fleet_report, "pdf"))  # type: ignore[arg-type]
    pages = browser.pdf_page_images(pdf, tmp_path, dpi=50)
    assert 1 <= len(pages) <= MAX_PDF_PAGES
    for page in pages:
        with Image.open(page) as im:
            w, h = im.size
            assert abs(h / w - 297 / 210) < 0.01
            strip = im.convert("L").crop((int(w * (1 - 10 / 210)), 0, w, h))  # the right 10 mm
            assert strip.getextrema()[0] > 240, f"{page.name}: ink in the right margin"
