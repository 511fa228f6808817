"""Where the data files live: the knowledge base (`checks/`) and the playbooks (`playbooks/`).

Installed as a wheel they ship inside the package as `dicomdoctor/_data/<kind>` (pyproject's
force-include); in a source checkout (or an editable install) they are the repository's top-level
`checks/` and `playbooks/`, which PACS administrators edit without touching Python.
"""

from __future__ import annotations

from pathlib import Path

KINDS = ("checks", "playbooks")
_PACKAGE = Path(__file__).resolve().parents[1]  # .../dicomdoctor


def data_dir(kind: str) -> Path:
    """The directory of `kind` ("checks" or "playbooks"): the packaged copy first, else the repository's."""
    if kind not in KINDS:
        raise ValueError(f"unknown data kind {kind!r}; expected one of {', '.join(KINDS)}")
    packaged = _PACKAGE / "_data" / kind
    if packaged.is_dir():
        return packaged
    # The source tree's copy; returned even when missing so that callers can say what they looked for.
    return _PACKAGE.parent / kind
