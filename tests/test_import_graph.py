"""optloop's subpackages import one another without a cycle.

Show the graph (and any cycle) with:
``python -m pytest tests/test_import_graph.py -q`` (it prints the cycle with one import chain
per edge when it fails).
"""

from __future__ import annotations

import grimp

PACKAGE = "optloop"


def subpackage_graph() -> tuple[grimp.ImportGraph, dict[str, set[str]]]:
    """Return grimp's module graph and the graph of optloop's direct children.

    Every import counts: at module level, inside functions (lazy) and under TYPE_CHECKING.
    """
    graph = grimp.build_graph(PACKAGE, cache_dir=None)
    children = sorted(graph.find_children(PACKAGE))
    edges: dict[str, set[str]] = {c: set() for c in children}
    for a in children:
        for b in children:
            if a != b and graph.direct_import_exists(importer=a, imported=b, as_packages=True):
                edges[a].add(b)
    return graph, edges


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """Return one cycle ``[a, b, ..., a]`` of the directed graph, or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(edges.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt):], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(edges):
        if start not in state and (found := visit(start)):
            return found
    return None


def test_find_cycle_finds_one() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_the_subpackage_import_graph_has_no_cycle() -> None:
    graph, edges = subpackage_graph()
    assert {"optloop.analysis", "optloop.campaign", "optloop.tracking"} <= set(edges)
    cycle = find_cycle(edges)
    if cycle is not None:
        chains = []
        for a, b in zip(cycle, cycle[1:], strict=False):
            chain = graph.find_shortest_chain(importer=a, imported=b, as_packages=True)
            chains.append(f"  {a} -> {b}: {' -> '.join(chain or ())}")
        raise AssertionError("import cycle " + " -> ".join(cycle) + "\n" + "\n".join(chains))


def test_campaign_does_not_import_tracking_and_analysis_is_below_both() -> None:
    _, edges = subpackage_graph()
    assert "optloop.tracking" not in edges["optloop.campaign"]
    assert "optloop.analysis" in edges["optloop.campaign"]
    assert "optloop.analysis" in edges["optloop.tracking"]
    assert not edges["optloop.analysis"] & {
        "optloop.campaign", "optloop.tracking", "optloop.reports", "optloop.cli"
    }
