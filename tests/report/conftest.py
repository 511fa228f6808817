"""Fixtures for the renderer tests; the reports themselves are built in report_fixtures.py."""

from __future__ import annotations

import pytest

from dicomdoctor.engine.model import Report
from report_fixtures import build_mixed_report, build_pass_report, build_zh_report


@pytest.fixture
def pass_report() -> Report:
    return build_pass_report()


@pytest.fixture
def mixed_report() -> Report:
    """Two targets; every status; PHI; hostile peer strings; a presentation-context matrix; a trace."""
    return build_mixed_report()


@pytest.fixture
def zh_report() -> Report:
    return build_zh_report()


@pytest.fixture(params=["pass_report", "mixed_report", "zh_report"])
def any_report(request: pytest.FixtureRequest) -> Report:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def fleet_report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    """A real run: five faulty simulators and a healthy dcmtk storescp, the `standard` playbook (~15 s)."""
    import os

    from fleet_fixture import build_fleet_report

    if not os.access("/usr/bin/storescp", os.X_OK):
        pytest.skip("/usr/bin/storescp (dcmtk) is not installed")
    return build_fleet_report(tmp_path_factory.mktemp("fleet"))


@pytest.fixture
def rich_report() -> Report:
    from report_fixtures import build_rich_report

    return build_rich_report()
