"""Bad input from users is refused with one message naming the file and line: alias bombs ("billion laughs")
in playbooks, --set values and knowledge-base files; FIFOs; non-finite numbers in a playbook's defaults."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from dicomdoctor.engine.playbook import apply_overrides, load_playbook, make_playbook, parse_playbook
from dicomdoctor.errors import BadInput
from dicomdoctor.yamlguard import MAX_EXPANDED_NODES, ExpansionTooLarge, check_expansion

LAUGHS = """playbook: 1
name: lol
checks:
  - id: dimse.find
    with:
      keys:
        a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
        b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
        c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
        d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
        e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
        f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
        g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
        h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
        i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_billion_laughs_playbook_is_refused_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "lol.yaml"
    path.write_text(LAUGHS)
    assert len(LAUGHS) < 700  # a few hundred bytes that would expand to 9^9 strings
    with pytest.raises(BadInput) as err:
        load_playbook(str(path))
    text = str(err.value)
    assert text.startswith(f"{path}:") and "billion laughs" in text
    line = int(text.split(":")[1])
    assert 7 <= line <= 16  # the line of the anchor chain, not "somewhere"


def test_a_few_aliases_are_fine() -> None:
    pb = parse_playbook("""playbook: 1
name: ok
defaults: &d {timeout: 5}
checks:
  - id: dimse.find
    with: {keys: {PatientID: &p X, OtherPatientIDs: *p}}
""")
    assert pb.defaults["timeout"] == 5


def test_recursive_alias_is_refused() -> None:
    import yaml
    node = yaml.compose("a: &a [1, *a]")
    with pytest.raises(ExpansionTooLarge) as err:
        check_expansion(node)
    assert err.value.recursive


def test_set_value_alias_bomb_is_refused() -> None:
    pb = make_playbook("x", ["dimse.echo"])
    bomb = "[&a [1,1,1,1,1,1,1,1,1,1], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a], &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]," \
           " [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]]"
    with pytest.raises(BadInput, match="--set dimse.echo.repeat: aliases expand"):
        apply_overrides(pb, [f"dimse.echo.repeat={bomb}"])


def test_knowledge_base_file_alias_bomb_is_refused(tmp_path: Path) -> None:
    from dicomdoctor.engine.kb import _read_yaml

    path = tmp_path / "x.yaml"
    path.write_text("check: x\n" + LAUGHS.split("checks:\n", 1)[1].replace("  - id: dimse.find\n", "causes:\n"))
    with pytest.raises(BadInput) as err:
        _read_yaml(path)
    assert str(err.value).startswith(f"{path}:") and str(MAX_EXPANDED_NODES) in str(err.value)


def test_fifo_playbook_is_bad_input_not_a_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "pb.yaml"
    os.mkfifo(fifo)
    with pytest.raises(BadInput, match="not a regular file"):
        load_playbook(str(fifo))


@pytest.mark.parametrize("value", [".nan", ".inf", "-.inf", "-1", "1e400"])
def test_non_finite_or_negative_timeouts_in_defaults_are_refused(value: str) -> None:
    with pytest.raises(BadInput, match=r"<playbook>:3: timeout must be a number"):
        parse_playbook(f"playbook: 1\nname: x\ndefaults: {{timeout: {value}}}\nchecks: [net.reachable]\n")


def test_max_pdu_over_the_32_bit_field_is_refused() -> None:
    with pytest.raises(BadInput, match="max_pdu must be a whole number >= 0 and <= 4294967295"):
        parse_playbook("playbook: 1\nname: x\ndefaults: {max_pdu: 4294967296}\nchecks: [net.reachable]\n")
