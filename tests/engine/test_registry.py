"""The one check registry: registration, lookups with suggestions, isolation for tests."""

from __future__ import annotations

from typing import Iterator

import pytest

from dicomdoctor.engine import registry
from dicomdoctor.engine.context import CheckContext, CheckResult, passed
from dicomdoctor.engine.registry import check, get_check
from dicomdoctor.errors import BadInput


@pytest.fixture
def dummy() -> Iterator[None]:
    with registry.isolated_registry():
        @check("net.reachable", title="TCP connection")
        async def reachable(ctx: CheckContext) -> CheckResult:
            return passed("open")

        @check("dimse.echo", depends=("net.reachable",), params={"repeat": 1}, timeout=5, title="C-ECHO")
        async def echo(ctx: CheckContext) -> CheckResult:
            return passed("echo")

        @check("dimse.find", depends="net.reachable")  # a lone string is one dependency
        async def find(ctx: CheckContext) -> CheckResult:
            return passed("find")

        yield


def test_spec_fields(dummy: None) -> None:
    spec = get_check("dimse.echo")
    assert spec.id == "dimse.echo"
    assert spec.depends == ("net.reachable",)
    assert dict(spec.params) == {"repeat": 1}
    assert spec.timeout == 5.0 and spec.writes is False and spec.title == "C-ECHO"
    with pytest.raises(TypeError):
        spec.params["repeat"] = 2  # type: ignore[index]  # defaults are read-only
    assert get_check("dimse.find").depends == ("net.reachable",)
    assert get_check("dimse.find").title == "dimse.find"  # the id when no title is given


def test_all_checks_in_registration_order(dummy: None) -> None:
    assert [s.id for s in registry.all_checks()] == ["net.reachable", "dimse.echo", "dimse.find"]


def test_unknown_id_names_close_matches(dummy: None) -> None:
    with pytest.raises(BadInput) as err:
        get_check("dimse.ecco")
    assert "'dimse.ecco'" in str(err.value) and "did you mean dimse.echo" in str(err.value)


def test_unknown_id_without_close_match_lists_known(dummy: None) -> None:
    with pytest.raises(BadInput) as err:
        get_check("zzz.qqq")
    assert "known checks: dimse.echo, dimse.find, net.reachable" in str(err.value)


def test_same_id_from_another_function_is_refused(dummy: None) -> None:
    with pytest.raises(ValueError, match="registered twice"):
        @check("dimse.echo")
        async def other(ctx: CheckContext) -> CheckResult:
            return passed("x")


def test_reregistering_the_same_function_is_fine(dummy: None) -> None:
    spec = get_check("net.reachable")
    check("net.reachable", title="again")(spec.func)  # what importlib.reload does
    assert get_check("net.reachable").title == "again"


@pytest.mark.parametrize("bad", ["Net.Reachable", "reachable", "net..x", "net reachable", ""])
def test_bad_ids_are_refused(bad: str) -> None:
    with registry.isolated_registry(), pytest.raises(ValueError):
        check(bad)


def test_isolated_registry_restores_the_real_one() -> None:
    with registry.isolated_registry():
        @check("test.only")
        async def only(ctx: CheckContext) -> CheckResult:
            return passed("x")
        assert registry.is_registered("test.only")
    assert not registry.is_registered("test.only")


def test_real_checks_register_on_import() -> None:
    ids = {s.id for s in registry.all_checks()}  # imports dicomdoctor.engine.checks
    if "net.reachable" not in ids:
        pytest.skip("the real checks are not written yet")
    assert {"net.dns", "net.reachable"} <= ids
    for spec in registry.all_checks():
        for dep in spec.depends:
            assert registry.is_registered(dep), f"{spec.id} depends on unknown check {dep}"
