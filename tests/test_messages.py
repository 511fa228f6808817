"""The summary catalogue (dicomdoctor/messages.py, dicomdoctor/locale/): every template the code uses has a
translation with exactly its parameters, no translation is stale, and messages render in either language."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from dicomdoctor import messages
from dicomdoctor.messages import cat, counted, join, msg

PACKAGE = Path(messages.__file__).resolve().parent
# The functions whose first literal arguments are templates (counted: the second and third).
_TEMPLATE_ARGS = {"msg": (0,), "counted": (1, 2)}


def used_templates() -> dict[str, str]:
    """template -> "file:line" of its first use, for every literal template in the package."""
    found: dict[str, str] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else (
                node.func.attr if isinstance(node.func, ast.Attribute) else "")
            for i in _TEMPLATE_ARGS.get(name, ()):
                if i < len(node.args):
                    arg = node.args[i]
                    if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                        found.setdefault(arg.value, f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
                    elif name == "msg":
                        pytest.fail(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}: msg() needs a literal "
                                    f"template (the catalogue's key), not an expression")
    return found


@pytest.mark.parametrize("lang", [lang for lang in messages.LANGS if lang != "en"])
def test_every_template_is_translated_with_the_same_parameters(lang: str) -> None:
    used = used_templates()
    table = messages.catalogue(lang)
    missing = [f"{where}: {t!r}" for t, where in used.items() if t not in table]
    assert not missing, f"{len(missing)} templates have no {lang} translation:\n" + "\n".join(missing)
    wrong = [f"{where}: {t!r} uses {sorted(messages.fields(t))}, the {lang} text {sorted(messages.fields(table[t]))}"
             for t, where in used.items() if messages.fields(t) != messages.fields(table[t])]
    assert not wrong, "\n".join(wrong)
    stale = sorted(set(table) - set(used))
    assert not stale, f"{lang} translations no code uses any more: {stale}"


def test_templates_are_valid_format_strings() -> None:
    for template in used_templates():
        assert "{}" not in template, f"{template!r}: name every field"
        messages.fields(template)  # raises on an unbalanced brace


def test_rendering() -> None:
    m = msg("{host} resolves to {addresses}", host="pacs", addresses="10.0.0.5")
    assert str(m) == "pacs resolves to 10.0.0.5" and m.render("en-GB") == str(m)
    assert counted(1, "{n} instance", "{n} instances").render() == "1 instance"
    assert counted(2, "{n} instance", "{n} instances").render() == "2 instances"
    assert join(["a", msg("b{x}", x=1)], sep=", ").render() == "a, b1"
    assert cat("x", "", "y").render() == "xy"
    assert messages.norm_lang("zh-CN") == "zh" and messages.norm_lang("fr") == "en"
    note = messages.Fixed({"en": "because", "zh": "因为"})
    assert msg("; {note}", note=note).render("zh") == "；因为"


def test_adding_keeps_messages() -> None:
    note = messages.Fixed({"en": "because", "zh": "因为"})
    m = "it failed" + msg("; {note}", note=note)
    assert isinstance(m, messages.Msg) and str(m) == "it failed; because"
    assert (msg("x") + "y").render() == "xy"


@pytest.mark.parametrize("lang", [lang for lang in messages.LANGS if lang != "en"])
def test_a_clause_shared_by_two_modules_is_translated_alike(lang: str) -> None:
    assert not messages.conflicts(lang)
