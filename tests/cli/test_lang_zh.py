"""`--lang zh` end to end: every finding of the demo fleet (12 simulated peers, the standard and workflow
playbooks, healthy and broken) has its summary in Chinese, not only its causes and labels."""

from __future__ import annotations

import json
import re
import subprocess
import sys

CJK = re.compile(r"[\u4e00-\u9fff]")
# Five English words in a row: a sentence or clause left untranslated (AE titles, UIDs, status names and
# protocol names are single tokens and pass).
ENGLISH_RUN = re.compile(r"(?:\b[a-z]{2,}\b[ ,]+){4,}[a-z]{2,}")


def test_every_demo_summary_is_chinese() -> None:
    res = subprocess.run([sys.executable, "-m", "dicomdoctor", "demo", "--lang", "zh", "--format", "json"],
                         capture_output=True, text=True, timeout=300)
    assert res.stdout, res.stderr
    findings = json.loads(res.stdout)["findings"]
    assert len(findings) > 50 and {f["status"] for f in findings} >= {"pass", "fail", "skip"}
    english = [(f["target"], f["check"], f["summary"]) for f in findings
               if not CJK.search(f["summary"]) or ENGLISH_RUN.search(f["summary"])]
    assert not english, english
    # the same run in English is untouched by the catalogue
    en = subprocess.run([sys.executable, "-m", "dicomdoctor", "demo", "--format", "json"],
                        capture_output=True, text=True, timeout=300)
    assert not any(CJK.search(f["summary"]) for f in json.loads(en.stdout)["findings"])
