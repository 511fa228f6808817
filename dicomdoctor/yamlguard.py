"""Bounded YAML from users ("billion laughs"): refuse documents whose aliases expand past a small budget.

PyYAML builds an alias as a second reference to the anchored node, so a 500-byte document can describe a
tree of 10^9 nodes; anything that walks or copies it (validation, deep copies per target, JSON) then takes
gigabytes. We walk the composed node graph once, memoizing each node's expanded size, and refuse a document
whose expansion passes `MAX_EXPANDED_NODES` (or that refers to itself), naming the line where it happens.
Pure: used by engine/playbook.py (playbooks, --set values) and engine/kb.py (checks/*.yaml).
"""

from __future__ import annotations

from typing import Any

# A large playbook or knowledge-base file has a few thousand nodes; merge keys and anchors reuse a few.
MAX_EXPANDED_NODES = 20000


class ExpansionTooLarge(ValueError):
    """`line` (1-based) is where the expansion passes the budget; `size` is how far we counted."""

    def __init__(self, line: int, size: int, recursive: bool = False) -> None:
        self.line, self.size, self.recursive = line, size, recursive
        what = "an alias refers to the node that contains it" if recursive else (
            f"aliases expand this document to more than {MAX_EXPANDED_NODES} nodes (counted {size}); "
            "refusing it (\"billion laughs\")")
        super().__init__(what)


def check_expansion(root: Any, budget: int = MAX_EXPANDED_NODES) -> None:
    """Raise ExpansionTooLarge when the node graph under `root` (a yaml.Node) expands past `budget` nodes."""
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Any) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise ExpansionTooLarge(node.start_mark.line + 1, 0, recursive=True)
        active.add(key)
        total = 1
        value = node.value
        if isinstance(value, list):
            for child in value:
                if isinstance(child, tuple):  # a mapping's (key, value) pair
                    total += size(child[0]) + size(child[1])
                else:
                    total += size(child)
                if total > budget:
                    raise ExpansionTooLarge(node.start_mark.line + 1, total)
        active.discard(key)
        sizes[key] = total
        return total

    if root is not None:
        size(root)
