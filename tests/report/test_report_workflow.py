"""The Workflow timeline of the reports (report/document.py `workflow_timeline`), over real runs: the CLI runs
`dicomdoctor diagnose --playbook workflow --format json` against the built-in simulator, once healthy and once
with a storage commitment that fails its instance; the report is rebuilt from that JSON and rendered in every
format. Each shows the six steps in order, the broken step marked with its cause, the steps after it as not
run; and the HTML and PDF hold at A4 (Chromium, poppler) as test_report_visual.py checks the fleet report.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Iterator

import pytest

import browser
from dicomdoctor.engine.model import Cause, Finding, PeerInfo, Report, Status, TargetResult
from dicomdoctor.report import FORMATS, render
from dicomdoctor.report.document import WORKFLOW_CHAIN, build
from dicomdoctor.sim.server import SimulatorThread

needs_chromium = pytest.mark.skipif(browser.CHROMIUM is None, reason="chromium is not installed")
needs_poppler = pytest.mark.skipif(shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None,
                                   reason="poppler-utils is not installed")

HEALTHY = ("worklist", "mpps", "commitment")
BROKEN = ("worklist", "mpps", "commitment=fail")
AFTER = ("workflow.mpps-complete", "workflow.readback")   # the steps after the broken workflow.commit
REPR = re.compile(r"\{'|\[\('|\bNone\b")                    # a Python repr of evidence
A4_WIDTH_PT = 595.28
MARGIN_PT = 14 / 25.4 * 72


def diagnose(faults: tuple[str, ...], fmt: str, out: Path) -> int:
    """Run the CLI on a fresh simulator with `faults` (each run writes to it: a new one each time)."""
    with SimulatorThread("SIMULATOR", list(faults)) as sim:
        proc = subprocess.run([sys.executable, "-m", "dicomdoctor", "diagnose", sim.target(), "--playbook",
                               "workflow", "--timeout", "10", "--set", "workflow.commit.wait=10", "--no-color",
                               "--format", fmt, "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert out.exists(), proc.stderr[-2000:]
    return proc.returncode


def report_from_json(data: dict[str, Any]) -> Report:
    """A Report rebuilt from `--format json` (the dicomdoctor.report/1 schema); no trace, it is not in the JSON."""
    targets = tuple(TargetResult(id=t["id"], host=t["host"], port=t["port"], called_ae=t["called_ae"],
                                 calling_ae=t["calling_ae"], tls=t["tls"], verdict=t["verdict"],
                                 peer=PeerInfo(**t["peer"])) for t in data["targets"])
    findings = tuple(Finding(target=f["target"], check=f["check"], title=f["title"], status=Status(f["status"]),
                             summary=f["summary"], evidence=f["evidence"],
                             causes=tuple(Cause(c["id"], c["title"], c["explanation"], tuple(c["fixes"]),
                                                tuple(c["refs"])) for c in f["causes"]),
                             duration_ms=f["duration_ms"]) for f in data["findings"])
    return Report(playbook=data["playbook"], verdict=data["verdict"], duration_ms=data["duration_ms"],
                  targets=targets, findings=findings, tool_version=data["tool"]["version"])


def _run(faults: tuple[str, ...], folder: Path) -> Report:
    path = folder / "report.json"
    code = diagnose(faults, "json", path)
    report = report_from_json(json.loads(path.read_text(encoding="utf-8")))
    assert code == report.exit_code, code
    return report


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Report:
    report = _run(HEALTHY, tmp_path_factory.mktemp("healthy"))
    assert report.verdict == "pass", [(f.check, f.status.value, f.summary) for f in report.findings]
    return report


@pytest.fixture(scope="module")
def broken(tmp_path_factory: pytest.TempPathFactory) -> Report:
    report = _run(BROKEN, tmp_path_factory.mktemp("broken"))
    assert report.verdict == "fail"
    commit = next(f for f in report.findings if f.check == "workflow.commit")
    assert commit.status is Status.FAIL and commit.causes[0].id == "commitment-failed-items", commit.summary
    return report


def _cause(report: Report) -> Cause:
    return next(f for f in report.findings if f.check == "workflow.commit").causes[0]


def _in_order(text: str, needles: list[str]) -> list[int]:
    """Where each needle first occurs at or after the previous one; asserts all are there, in that order."""
    at, found = 0, []
    for n in needles:
        i = text.find(n, at)
        assert i >= 0, f"{n!r} missing or out of order after position {at}"
        found.append(i)
        at = i + len(n)
    return found


# --- the document model --------------------------------------------------------------------------------------

def test_healthy_chain_in_the_document(healthy: Report) -> None:
    doc = build(healthy)
    tid = healthy.targets[0].id
    assert [t for t, _ in doc.healthy] == [tid] and not doc.sections
    tl = doc.timelines[tid]
    assert [s.check for s in tl.steps] == list(WORKFLOW_CHAIN)
    assert all(s.css == "pass" and s.ran and not s.broke for s in tl.steps) and not tl.broke_at
    assert tl.headline.startswith("all 6 steps passed in ")
    # offsets: run order, each after the one before (the runner runs a target's checks one after another)
    starts = [float(s.start.lstrip("+").split()[0]) * (1000 if s.start.endswith(" s") else 1) for s in tl.steps]
    assert starts == sorted(starts) and starts[0] > 0  # net.reachable and assoc.ae-title ran first
    out = {s.check: s.outcome for s in tl.steps}
    assert out["mwl.find"] == "1 worklist entry"
    mpps = next(f for f in healthy.findings if f.check == "workflow.mpps-start").evidence["sop_instance_uid"]
    assert out["workflow.mpps-start"].startswith("IN PROGRESS, UID ") and mpps[-12:] in out["workflow.mpps-start"]
    assert out["workflow.mpps-complete"].startswith("COMPLETED, UID ")
    assert out["workflow.store"] == "1 instance stored"
    assert out["workflow.commit"] == "1 committed, 0 failed"
    assert out["workflow.readback"] == "study found (1 match)"


def test_broken_chain_in_the_document(broken: Report) -> None:
    doc = build(broken)
    section = doc.sections[0]
    tl = section.timeline
    assert tl is not None and doc.timelines[section.target.id] == tl
    assert [s.check for s in tl.steps] == list(WORKFLOW_CHAIN)
    assert [s.css for s in tl.steps] == ["pass"] * 3 + ["fail", "skip", "skip"]
    assert [s.broke for s in tl.steps] == [False] * 3 + [True, False, False]
    assert tl.broke_at == "workflow.commit" and tl.headline == "broke at step 4 of 6: workflow.commit"
    cause = _cause(broken)
    assert (tl.cause, tl.cause_id) == (cause.title, cause.id)
    assert tl.marker == "broke here: " + cause.title.rstrip(".")
    commit = tl.steps[3]
    assert commit.outcome == "0 committed, 1 failed (0x0110 processing failure)" and commit.start.startswith("+")
    for s in tl.steps[4:]:
        assert not s.ran and s.start == "" and s.duration == ""
        assert s.outcome == "not run: after workflow.commit failed"


@pytest.mark.parametrize("faults,at,css", [
    (("worklist", "mpps=refuse", "commitment"), "workflow.mpps-start", ["pass", "fail"] + ["skip"] * 4),
    (("mpps", "commitment"), "mwl.find", ["fail"] + ["skip"] * 5),          # no worklist service
])
def test_chain_broken_elsewhere(faults: tuple[str, ...], at: str, css: list[str], tmp_path: Path) -> None:
    report = _run(faults, tmp_path)
    tl = build(report).timelines[report.targets[0].id]
    assert [s.css for s in tl.steps] == css and tl.broke_at == at
    assert [s.broke for s in tl.steps] == [s.check == at for s in tl.steps]
    assert all(s.outcome == f"not run: after {at} failed" for s in tl.steps if not s.ran)
    broke = next(f for f in report.findings if f.check == at)
    assert tl.cause_id == broke.causes[0].id
    text = str(render(report, "text", color=False))
    assert "▶ +" in text and f"broke here: {broke.causes[0].title.rstrip('.')}" in text


def test_chain_with_a_warning(tmp_path: Path) -> None:
    """An empty worklist warns and the chain goes on with a synthetic procedure: every step ran, none broke."""
    book = tmp_path / "empty.yaml"
    book.write_text("[]\n")
    report = _run((f"worklist={book}", "mpps", "commitment"), tmp_path)
    tl = build(report).timelines[report.targets[0].id]
    assert [s.css for s in tl.steps] == ["warn"] + ["pass"] * 5 and not tl.broke_at and tl.verdict == "warn"
    assert tl.headline.startswith("all 6 steps ran in ") and tl.headline.endswith(", 1 with a warning")
    assert tl.steps[0].outcome == "no worklist entry"
    assert tl.steps[1].outcome.endswith("; synthetic procedure")
    html = str(render(report, "html"))
    assert '<table class="timeline">' in html and "broke here" not in html


def test_chain_not_started(tmp_path: Path) -> None:
    """The association is rejected: no step ran; the timeline says which check stopped it and why."""
    report = _run(("reject=called-ae",), tmp_path)
    tl = build(report).timelines[report.targets[0].id]
    assert tl.headline == "not started: assoc.ae-title failed" and not tl.broke_at
    assert all(not s.ran and s.outcome == "not run: after assoc.ae-title failed" for s in tl.steps)
    ae = next(f for f in report.findings if f.check == "assoc.ae-title")
    assert tl.cause_id == ae.causes[0].id
    text = str(render(report, "text", color=False))
    assert "Workflow: not started: assoc.ae-title failed" in text and "▶" not in text


def test_no_timeline_without_the_chain(healthy: Report) -> None:
    """mwl.find alone (the standard playbook's worklist check) is no chain."""
    tid = healthy.targets[0].id
    mwl_only = Report("t", "pass", 1.0, healthy.targets,
                      tuple(f for f in healthy.findings if not f.check.startswith("workflow.")))
    assert tid not in build(mwl_only).timelines
    assert "Workflow" not in str(render(mwl_only, "text", color=False))


# --- each format ---------------------------------------------------------------------------------------------

def _text(report: Report, fmt: str, tmp_path: Path, lang: str = "en") -> str:
    out = render(report, fmt, lang=lang, color=False)
    if isinstance(out, str):
        return out
    pdf = tmp_path / f"r-{lang}.pdf"
    pdf.write_bytes(out)
    return browser.pdf_text(pdf)


def test_text_healthy_one_line_per_step(healthy: Report) -> None:
    text = str(render(healthy, "text", color=False))
    block = text[text.index("Workflow: all 6 steps passed in "):]
    lines = block.splitlines()[1:7]
    for line, check in zip(lines, WORKFLOW_CHAIN):
        assert re.match(rf"^ {{4}} *\+[\d.]+ m?s  PASS  .*  {re.escape(check)} +[\d.]+ m?s  \S", line), line
    assert "not run" not in block and "broke here" not in block and "▶" not in block


def test_text_broken_marks_the_step_and_the_cause(broken: Report) -> None:
    text = str(render(broken, "text", color=False))
    block = text[text.index("Workflow: broke at step 4 of 6: workflow.commit"):]
    lines = block.splitlines()
    rows = {c: next(i for i, line in enumerate(lines) if f"  {c} " in line or line.endswith(f"  {c}"))
            for c in WORKFLOW_CHAIN}
    assert list(rows.values()) == sorted(rows.values())
    commit = lines[rows["workflow.commit"]]
    assert commit.startswith("  ▶ +") and " FAIL " in commit
    cause = _cause(broken)
    assert lines[rows["workflow.commit"] + 1].strip() == f"└ broke here: {cause.title.rstrip('.')} [{cause.id}]"
    for c in AFTER:
        line = lines[rows[c]]
        assert " SKIP " in line and line.endswith("not run: after workflow.commit failed") and "+" not in line


@pytest.mark.parametrize("fmt", ["html", "markdown", "pdf"])
def test_document_formats_show_the_chain(healthy: Report, broken: Report, fmt: str, tmp_path: Path) -> None:
    if fmt == "pdf" and shutil.which("pdftotext") is None:
        pytest.skip("pdftotext is not installed")
    text = _text(healthy, fmt, tmp_path)
    names = ["Worklist query", "MPPS IN PROGRESS", "Store an instance", "Storage commitment", "MPPS COMPLETED",
             "C-FIND read-back"]
    start = text.index("all 6 steps passed in")
    _in_order(text[start:], names)
    assert "broke here" not in text and "not run" not in text
    text = _text(broken, fmt, tmp_path)
    start = text.index("broke at step 4 of 6")
    cause = _cause(broken)
    body = " ".join(text[start:].split())  # the PDF wraps long cells: compare words, not lines
    marks = _in_order(body, ["Worklist query", "Store an instance", "Storage commitment", "0 committed, 1 failed",
                             "broke here: " + " ".join(cause.title.rstrip(".").split()), "MPPS COMPLETED",
                             "not run: after workflow.commit failed", "C-FIND read-back",
                             "not run: after workflow.commit failed"])
    # the timeline comes before the problem's own section (the chain first, then the cause in full)
    assert body.find("What to do", marks[-1]) > marks[-1]


def test_zh_labels(broken: Report, tmp_path: Path) -> None:
    for fmt in ("text", "html", "markdown"):
        text = _text(broken, fmt, tmp_path, "zh")
        assert "工作流" in text and "在第 4 步（共 6 步）中断" in text and "在此中断：" in text, fmt
        assert text.count("未运行：workflow.commit 失败之后") == 2, fmt
        assert "存储提交" in text and "工作列表查询" in text, fmt


def test_no_python_repr(healthy: Report, broken: Report, tmp_path: Path) -> None:
    for report in (healthy, broken):
        for fmt in FORMATS:
            if fmt == "pdf" and shutil.which("pdftotext") is None:
                continue
            for lang in ("en", "zh"):
                text = _text(report, fmt, tmp_path, lang)
                assert not REPR.search(text), (fmt, lang, REPR.search(text))


def test_cli_text_and_html_outputs(tmp_path: Path) -> None:
    """The same timeline through `diagnose --format text/html -o` (the CLI renders the live report)."""
    out = tmp_path / "report.txt"
    assert diagnose(BROKEN, "text", out) == 2
    text = out.read_text(encoding="utf-8")
    _in_order(text, ["Workflow: broke at step 4 of 6: workflow.commit", "▶ +", "workflow.commit",
                     "└ broke here: ", "not run: after workflow.commit failed",
                     "not run: after workflow.commit failed", "Verdict: FAIL"])
    html = tmp_path / "report.html"
    assert diagnose(HEALTHY, "html", html) == 0
    page = html.read_text(encoding="utf-8")
    assert page.count('<table class="timeline compact">') == 1 and "all 6 steps passed in" in page


# --- as a person sees it: Chromium at A4 and wide, the PDF as pages -----------------------------------------

# Row heights of each timeline table, against the line height of its cells: a compact (healthy) chain must be
# one line a step.
ROWS_JS = r"""
(function () {
  var out = [];
  document.querySelectorAll('table.timeline').forEach(function (t) {
    var rows = [];
    t.querySelectorAll('tbody tr').forEach(function (tr) {
      var td = tr.querySelector('td'), cs = getComputedStyle(td);
      var lh = parseFloat(cs.lineHeight) || parseFloat(cs.fontSize) * 1.45;
      rows.push({height: tr.getBoundingClientRect().height, line: lh, cls: tr.className,
                 text: tr.textContent.slice(0, 60)});
    });
    out.push({compact: t.classList.contains('compact'), rows: rows,
              right: t.getBoundingClientRect().right});
  });
  var pre = document.createElement('pre');
  pre.id = 'dd-wf';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
"""


def _rows(html_text: str, folder: Path, width: int) -> list[dict[str, Any]]:
    page = folder / f"rows-{width}.html"
    page.write_text(html_text.replace("</body>", f"<script>{ROWS_JS}</script></body>"), encoding="utf-8")
    proc = browser._run("--dump-dom", f"--window-size={width},1200", page.resolve().as_uri())
    m = re.search(r'<pre id="dd-wf">(.*?)</pre>', proc.stdout, re.S)
    assert m, proc.stderr[-2000:]
    import html as _html

    data: list[dict[str, Any]] = json.loads(_html.unescape(m.group(1)))
    return data


@pytest.fixture(scope="module")
def pages(healthy: Report, broken: Report, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pages")
    out = {}
    for name, report in (("healthy", healthy), ("broken", broken)):
        for lang in ("en", "zh"):
            path = folder / f"{name}-{lang}.html"
            path.write_text(str(render(report, "html", lang=lang)), encoding="utf-8")
            out[f"{name}-{lang}"] = path
    return out


@needs_chromium
@pytest.mark.parametrize("width", [browser.A4_CSS_PX, 1280])
@pytest.mark.parametrize("page", ["healthy-en", "broken-en", "broken-zh"])
def test_html_timeline_holds(pages: dict[str, Path], tmp_path: Path, width: int, page: str) -> None:
    html_text = pages[page].read_text(encoding="utf-8")
    m = browser.measure(html_text, tmp_path, width)
    assert m.scroll_width <= m.width, "the page scrolls sideways"
    assert not m.cells, f"cells whose content overflows them: {m.cells[:5]}"
    assert len(m.badges) >= 7  # the verdict, and one a step
    for b in m.badges:
        assert b["height"] < 2 * b["fontSize"] * 1.2 and b["width"] > 2 * b["fontSize"], b
        assert b["right"] <= m.width, b
    assert not [i["text"] for i in m.ids if i["rects"] != 1], "check/cause ids broken across lines"
    tables = _rows(html_text, tmp_path, width)
    assert len(tables) == 1 and tables[0]["right"] <= width
    rows = tables[0]["rows"]
    if tables[0]["compact"]:
        assert page.startswith("healthy") and len(rows) == 6
        for r in rows:  # one line a step: the height of one line plus the cell padding and border
            assert r["height"] < 1.8 * r["line"], r
    else:
        assert [r["cls"] for r in rows] == ["", "", "", "broke", "marker", "notrun", "notrun"]


@needs_chromium
def test_html_screenshots(pages: dict[str, Path], tmp_path: Path) -> None:
    from PIL import Image

    for name in ("healthy-en", "broken-en"):
        png = browser.screenshot(pages[name], tmp_path / f"{name}.png", browser.A4_CSS_PX, 1400)
        with Image.open(png) as im:
            assert im.size == (browser.A4_CSS_PX, 1400)
            assert len(im.convert("RGB").getcolors(maxcolors=1 << 20) or []) > 50


@needs_chromium
@needs_poppler
def test_html_printed_at_a4(pages: dict[str, Path], tmp_path: Path) -> None:
    pdf = browser.print_to_pdf(pages["broken-en"], tmp_path / "printed.pdf")
    text = " ".join(browser.pdf_text(pdf, layout=True).split())
    _in_order(text, ["broke at step 4 of 6", "workflow.commit", "broke here:", "not run: after workflow.commit"])
    for w in browser.pdf_words(pdf):
        assert 0 <= w.x_min and w.x_max <= w.page_width, w


@needs_poppler
@pytest.mark.parametrize("lang", ["en", "zh"])
def test_pdf_within_a4(healthy: Report, broken: Report, tmp_path: Path, lang: str) -> None:
    from PIL import Image

    for name, report in (("healthy", healthy), ("broken", broken)):
        pdf = tmp_path / f"{name}-{lang}.pdf"
        pdf.write_bytes(render(report, "pdf", lang=lang))  # type: ignore[arg-type]
        assert browser.pdf_pages(pdf) <= 3
        for w in browser.pdf_words(pdf):
            assert abs(w.page_width - A4_WIDTH_PT) < 1
            assert MARGIN_PT - 1 <= w.x_min and w.x_max <= A4_WIDTH_PT - MARGIN_PT + 1, w
        # status words whole (a cell too narrow would wrap "PASS" into "PAS S")
        words = [w.text for w in browser.pdf_words(pdf)]
        assert words.count("PASS") >= (6 if name == "healthy" else 3)
        if name == "broken":
            assert "workflow.mpps-complete" in words and words.count("SKIP") >= 2
        folder = tmp_path / f"img-{name}-{lang}"
        folder.mkdir()
        for page in browser.pdf_page_images(pdf, folder, dpi=50):
            with Image.open(page) as im:
                w, h = im.size
                assert abs(h / w - 297 / 210) < 0.01
                strip = im.convert("L").crop((int(w * (1 - 10 / 210)), 0, w, h))
                assert strip.getextrema()[0] > 240, f"{page.name}: ink in the right margin"


def _iter_steps(report: Report) -> Iterator[Finding]:
    return (f for f in report.findings if f.check in WORKFLOW_CHAIN)


def test_durations_are_the_findings(broken: Report) -> None:
    """Each row's duration is its finding's duration_ms, as the rest of the report formats it."""
    from dicomdoctor.report._common import fmt_duration

    tl = build(broken).timelines[broken.targets[0].id]
    ran = [f for f in _iter_steps(broken) if f.status is not Status.SKIP]
    assert [s.duration for s in tl.steps if s.ran] == [fmt_duration(f.duration_ms) for f in ran]
