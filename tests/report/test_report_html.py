"""HTML: one self-contained, printable file that escapes whatever a peer sends."""

from __future__ import annotations

import re
from html.parser import HTMLParser

from dicomdoctor.engine.model import Report
from dicomdoctor.report import render


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.unbalanced: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in {"meta", "br", "img", "link", "input", "hr", "wbr", "col"}:
            self.stack.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack.pop() != tag:
            self.unbalanced.append(tag)


def _html(report: Report) -> str:
    out = render(report, "html")
    assert isinstance(out, str)
    return out


def test_self_contained(mixed_report: Report) -> None:
    html = _html(mixed_report)
    p = _Collect()
    p.feed(html)
    assert not p.unbalanced and not p.stack
    for tag, attrs in p.tags:
        assert tag not in {"script", "link", "img", "iframe", "object", "embed"}, tag
        for name in ("src", "href"):
            assert not re.match(r"\s*(https?:)?//", attrs.get(name) or ""), (tag, attrs)
    assert not re.search(r"url\(|@import|@font-face", html)


def test_printable(mixed_report: Report) -> None:
    html = _html(mixed_report)
    assert "@media print" in html and "@page" in html
    assert "break-inside: avoid" in html


def test_hostile_markup_is_escaped(mixed_report: Report) -> None:
    html = _html(mixed_report)
    assert "<script" not in html
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;&amp;&#34;" in html


def test_content(mixed_report: Report) -> None:
    html = _html(mixed_report)
    # the summary table of targets comes first, then the sections, then the appendices
    order = [html.index(s) for s in ('class="summary"', 'class="section', 'class="appendices"')]
    assert order == sorted(order)
    assert "Most likely cause: The DICOM server is not running" in html
    # the facts of the target, the context matrix with names and short transfer syntaxes, refused cells marked
    assert "Implementation" in html and "peer 16384, ours" in html and "Product (guess)" in html
    assert "<td>CT Image Storage</td>" in html and "<th>JPEG 2000 Lossless</th>" in html
    assert html.count('class="cell no"') == 2
    assert "Check the port number in the peer&#39;s configuration." in html
    assert "PDU trace" in html and "A-ASSOCIATE-AC" in html
    # the product guess is a phrase, never a Python dict
    assert "{&#39;" not in html and "{'" not in html


def test_chinese(zh_report: Report) -> None:
    html = render(zh_report, "html", lang="zh")
    assert '<html lang="zh">' in html and "PACS 不认识被叫 AE 标题" in html  # type: ignore[operator]
