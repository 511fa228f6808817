"""Counts read right for one as for many (issue 13: "all 1 instances stored")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from dicomdoctor.cli import main
from dicomdoctor.sim.server import SimulatorThread
from dicomdoctor.wording import all_of, count, noun, were


def test_counts() -> None:
    assert count(1, "instance") == "1 instance" and count(0, "instance") == "0 instances"
    assert count(3, "match", "matches") == "3 matches" and noun(1, "match", "matches") == "match"
    assert all_of(1, "instance") == "the 1 instance" and all_of(2, "instance") == "both instances"
    assert all_of(5, "instance") == "all 5 instances" and were(1) == "was" and were(2) == "were"


@pytest.mark.parametrize("n, words", [(1, "the 1 instance was stored"), (2, "both instances were stored"),
                                      (3, "all 3 instances were stored")])
def test_store_summary_and_report_grammar(n: int, words: str, capsys: Any) -> None:
    with SimulatorThread("PACS") as sim:
        assert main(["store", sim.target(), "--synthetic", str(n), "--format", "json"]) == 0
        store = json.loads(capsys.readouterr().out)["findings"][0]
        assert store["check"] == "dimse.store" and store["summary"].endswith(words), store["summary"]
        assert main(["echo", sim.target(), "--format", "markdown"]) == 0
        text = capsys.readouterr().out
        assert "all 1 checks" not in text and "the one check passed" in text, text
