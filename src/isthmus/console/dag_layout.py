"""A job's DAG laid out in layers for the job page's SVG: our own small layered layout.

``layout(dag)`` places every task in a layer one below its lowest upstream task (the
longest path from a task without inputs), so every edge points down at least one layer,
and orders each layer by the mean column of its upstream tasks (one barycentre pass,
ties in the DAG's order), so a chain stays straight and branches sit under their source.
Boxes in a layer are ``BOX_W + GAP_X`` apart and layers ``BOX_H + GAP_Y`` apart, so no
two boxes overlap. It runs without recursion in time linear in the DAG (plus sorting
each layer), and an input naming no task, or a cycle (which the job's validation refuses
before any job is recorded), never makes it fail: such edges are left out of the layering.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BOX_W, BOX_H = 168, 52
GAP_X, GAP_Y = 28, 44
MARGIN = 12


@dataclass(frozen=True)
class Position:
    """A task's box: its layer (0 at the top), its slot in the layer, its top-left."""

    layer: int
    slot: int
    x: int
    y: int


@dataclass(frozen=True)
class Edge:
    """An arrow from the bottom centre of ``source`` to the top centre of ``target``."""

    source: str
    target: str
    x1: int
    y1: int
    x2: int
    y2: int


def _layers(dag: Mapping[str, Sequence[str]]) -> dict[str, int]:
    """Longest-path layering by Kahn's algorithm; tasks on a cycle go below the rest."""
    ups = {n: [u for u in dict.fromkeys(dag[n]) if u in dag and u != n] for n in dag}
    downs: dict[str, list[str]] = {n: [] for n in dag}
    for n, us in ups.items():
        for u in us:
            downs[u].append(n)
    waiting = {n: len(us) for n, us in ups.items()}
    layer = dict.fromkeys(dag, 0)
    ready = [n for n in dag if waiting[n] == 0]
    placed: list[str] = []
    while ready:
        n = ready.pop()
        placed.append(n)
        for d in downs[n]:
            layer[d] = max(layer[d], layer[n] + 1)
            waiting[d] -= 1
            if waiting[d] == 0:
                ready.append(d)
    if len(placed) < len(dag):  # a cycle: below everything placed, in the DAG's order
        floor = max((layer[n] for n in placed), default=-1) + 1
        for n in dag:
            if waiting[n] > 0:
                layer[n] = floor
    return layer


def layout(dag: Mapping[str, Sequence[str]]) -> dict[str, Position]:
    """``dag``: task name → the names of its upstream tasks, in the DAG's order."""
    layer_of = _layers(dag)
    order = {n: i for i, n in enumerate(dag)}
    rows: dict[int, list[str]] = {}
    for n in dag:
        rows.setdefault(layer_of[n], []).append(n)
    slot: dict[str, int] = {}
    for depth in sorted(rows):

        def key(n: str) -> tuple[float, int]:
            placed = [slot[u] for u in dag[n] if u in slot]
            return (sum(placed) / len(placed) if placed else float(order[n]), order[n])

        rows[depth].sort(key=key)
        for i, n in enumerate(rows[depth]):
            slot[n] = i
    widest = max((len(r) for r in rows.values()), default=0)
    step_x, step_y = BOX_W + GAP_X, BOX_H + GAP_Y
    found: dict[str, Position] = {}
    for depth, names in rows.items():
        indent = (widest - len(names)) * step_x // 2
        for i, n in enumerate(names):
            found[n] = Position(depth, i, MARGIN + indent + i * step_x, MARGIN + depth * step_y)
    return found


def size(positions: Mapping[str, Position]) -> tuple[int, int]:
    """The drawing's width and height, margins included."""
    right = max((p.x for p in positions.values()), default=0) + BOX_W + MARGIN
    bottom = max((p.y for p in positions.values()), default=0) + BOX_H + MARGIN
    return right, bottom


def edges(dag: Mapping[str, Sequence[str]], positions: Mapping[str, Position]) -> list[Edge]:
    """The arrows to draw: each distinct upstream → task pair between placed tasks."""
    found = []
    for target, ups in dag.items():
        for source in dict.fromkeys(ups):
            if source in positions and target in positions and source != target:
                s, t = positions[source], positions[target]
                found.append(
                    Edge(source, target, s.x + BOX_W // 2, s.y + BOX_H, t.x + BOX_W // 2, t.y)
                )
    return found
