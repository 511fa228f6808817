"""The sans-I/O cores stay free of I/O, and each layer imports only the layers above it (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "dicomdoctor"
FORBIDDEN_IN_CORES = {"socket", "asyncio", "ssl", "threading", "select", "selectors", "scapy", "time",
                      "subprocess", "multiprocessing"}
# What each package may import from dicomdoctor (besides itself and the top-level shared modules).
ALLOWED = {
    "ul": set(),
    "dimse": {"ul"},
    "net": {"ul", "dimse"},
    "probes": {"ul", "dimse", "net"},
    "engine": {"ul", "dimse", "net", "probes"},
    "report": {"engine"},
    "capture": {"ul", "dimse", "engine", "report"},
    "sim": {"ul", "dimse", "net"},
    "tui": {"engine", "report", "commands"},
    "exporter": {"net", "engine", "report"},
}


def _imports(path: Path) -> list[tuple[str, int]]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    pkg_parts = path.relative_to(PKG.parent).with_suffix("").parts
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # resolve relative imports to absolute names
                base = list(pkg_parts[: len(pkg_parts) - node.level])
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            found.append((name, node.lineno))
    return found


@pytest.mark.parametrize("core", ["ul", "dimse"])
def test_cores_do_no_io(core: str) -> None:
    bad = []
    for path in sorted((PKG / core).rglob("*.py")):
        for name, line in _imports(path):
            if name.split(".")[0] in FORBIDDEN_IN_CORES:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports {name}")
    assert not bad, "sans-I/O core does I/O:\n" + "\n".join(bad)


@pytest.mark.parametrize("layer", sorted(ALLOWED))
def test_layers_import_only_upwards(layer: str) -> None:
    bad = []
    for path in sorted((PKG / layer).rglob("*.py")):
        for name, line in _imports(path):
            parts = name.split(".")
            if parts[0] != "dicomdoctor" or len(parts) < 2:
                continue
            other = parts[1]
            if other == layer or not (PKG / other).is_dir():
                continue  # itself, or a top-level module (errors, target)
            if other not in ALLOWED[layer]:
                bad.append(f"{path.relative_to(PKG.parent)}:{line} imports dicomdoctor.{other}")
    assert not bad, "layering violated:\n" + "\n".join(bad)


def test_engine_never_imports_textual() -> None:
    for layer in ("ul", "dimse", "net", "probes", "engine", "report"):
        for path in (PKG / layer).rglob("*.py"):
            for name, line in _imports(path):
                assert not name.startswith("textual"), f"{path}:{line} imports textual"
