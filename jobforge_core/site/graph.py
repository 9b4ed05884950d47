"""Directed graphs drawn as SVG with a simple layered layout, no graph library.

Layers: a node's layer is the longest path to it from a node without inputs (never less than
its declared `min_rank`), so every edge points right. Order inside a layer: a few sweeps of
the barycenter heuristic (each node moves to the mean position of its neighbours in the
previous layer), which removes most crossings of a pipeline-shaped graph. Each node is an
SVG link to its page; each carries `data-node` so a test (or a script) can find it.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from html import escape

CHAR_W = 7.2  # px per character of the 12px sans-serif labels (a safe over-estimate)
ROW_H = 18
PAD = 10
GAP_X = 90
GAP_Y = 14
SWEEPS = 6


@dataclass
class Node:
    id: str
    label: str
    href: str | None = None
    kind: str = ""  # CSS class: file, staged, bronze, silver, gold, dim, fact ...
    min_rank: int = 0
    sublabel: str = ""
    rows: list[tuple[str, str]] = field(default_factory=list)  # (row id, text): ER columns
    title: str = ""

    def width(self) -> float:
        texts = [self.label, self.sublabel, *(t for _, t in self.rows)]
        return max(120.0, max(len(t) for t in texts) * CHAR_W + 2 * PAD)

    def height(self) -> float:
        lines = 1 + bool(self.sublabel) + len(self.rows)
        return lines * ROW_H + PAD

    def port_y(self, row: str | None) -> float:
        """Vertical offset of an edge end: a named row's middle, else the node's middle."""
        for i, (rid, _) in enumerate(self.rows):
            if rid == row:
                return PAD / 2 + (1 + bool(self.sublabel) + i) * ROW_H + ROW_H / 2
        return self.height() / 2


@dataclass
class Edge:
    src: str
    dst: str
    kind: str = ""  # CSS class: fk, lookup ...
    src_row: str | None = None
    dst_row: str | None = None
    label: str = ""


@dataclass
class Layout:
    ranks: dict[str, int]
    order: list[list[str]]
    x: dict[str, float]
    y: dict[str, float]
    width: float
    height: float


def _ranks(nodes: dict[str, Node], edges: list[Edge]) -> dict[str, int]:
    """Longest path from the inputs; an edge closing a cycle is ignored for ranking."""
    outgoing: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        if e.src != e.dst:
            outgoing[e.src].append(e.dst)
    state: dict[str, int] = {}
    topo: list[str] = []
    back: set[tuple[str, str]] = set()
    for start in nodes:
        if start in state:
            continue
        stack = [(start, iter(outgoing[start]))]
        state[start] = 1
        while stack:
            node, children = stack[-1]
            for child in children:
                if state.get(child) == 1:
                    back.add((node, child))
                elif child not in state:
                    state[child] = 1
                    stack.append((child, iter(outgoing[child])))
                    break
            else:
                stack.pop()
                state[node] = 2
                topo.append(node)
    rank = {n: nodes[n].min_rank for n in nodes}
    for node in reversed(topo):
        for child in outgoing[node]:
            if (node, child) not in back:
                rank[child] = max(rank[child], rank[node] + 1)
    return rank


def layout(nodes: list[Node], edges: list[Edge]) -> Layout:
    by_id = {n.id: n for n in nodes}
    edges = [e for e in edges if e.src in by_id and e.dst in by_id]
    ranks = _ranks(by_id, edges)
    depth = max(ranks.values(), default=-1) + 1
    order: list[list[str]] = [[] for _ in range(depth)]
    for n in nodes:  # the caller's order is the starting order
        order[ranks[n.id]].append(n.id)
    ins: dict[str, list[str]] = defaultdict(list)
    outs: dict[str, list[str]] = defaultdict(list)
    for e in edges:
        ins[e.dst].append(e.src)
        outs[e.src].append(e.dst)

    def sweep(layer: list[str], neighbours: dict[str, list[str]]) -> list[str]:
        pos = {n: i for col in order for i, n in enumerate(col)}
        keyed = []
        for i, n in enumerate(layer):
            near = [pos[m] for m in neighbours[n] if m in pos and ranks[m] != ranks[n]]
            keyed.append((sum(near) / len(near) if near else float(i), i, n))
        return [n for _, _, n in sorted(keyed)]

    for i in range(SWEEPS):
        if i % 2 == 0:
            for r in range(1, depth):
                order[r] = sweep(order[r], ins)
        else:
            for r in range(depth - 2, -1, -1):
                order[r] = sweep(order[r], outs)

    x: dict[str, float] = {}
    y: dict[str, float] = {}
    left = PAD
    heights = []
    for col in order:
        width = max((by_id[n].width() for n in col), default=0)
        top = PAD
        for n in col:
            x[n], y[n] = left, top
            top += by_id[n].height() + GAP_Y
        heights.append(top)
        left += width + GAP_X
    return Layout(ranks, order, x, y, max(left - GAP_X + PAD, 0), max(heights, default=PAD) + PAD)


def _node_svg(node: Node, x: float, y: float) -> str:
    w, h = node.width(), node.height()
    parts = [
        f'<g class="node {escape(node.kind)}" data-node="{escape(node.id)}" '
        f'transform="translate({x:.1f},{y:.1f})">',
        f"<title>{escape(node.title or node.label)}</title>",
        f'<rect width="{w:.1f}" height="{h:.1f}" rx="5"/>',
        f'<text class="label" x="{PAD}" y="{PAD / 2 + ROW_H - 5}">{escape(node.label)}</text>',
    ]
    line = 1
    if node.sublabel:
        line += 1
        parts.append(
            f'<text class="sub" x="{PAD}" y="{PAD / 2 + line * ROW_H - 5}">'
            f"{escape(node.sublabel)}</text>"
        )
    if node.rows:
        parts.append(
            f'<line x1="0" x2="{w:.1f}" y1="{PAD / 2 + line * ROW_H:.1f}" '
            f'y2="{PAD / 2 + line * ROW_H:.1f}"/>'
        )
    for _, text in node.rows:
        line += 1
        parts.append(
            f'<text class="row" x="{PAD}" y="{PAD / 2 + line * ROW_H - 5}">{escape(text)}</text>'
        )
    parts.append("</g>")
    body = "".join(parts)
    if node.href:
        return f'<a href="{escape(node.href)}">{body}</a>'
    return body


def render_svg(nodes: list[Node], edges: list[Edge], css_class: str = "graph") -> str:
    """The graph as one inline <svg> element (styled by the site's CSS)."""
    by_id = {n.id: n for n in nodes}
    lay = layout(nodes, edges)
    paths = []
    for e in edges:
        if e.src not in by_id or e.dst not in by_id:
            continue
        a, b = by_id[e.src], by_id[e.dst]
        x1 = lay.x[e.src] + a.width()
        y1 = lay.y[e.src] + a.port_y(e.src_row)
        x2 = lay.x[e.dst]
        y2 = lay.y[e.dst] + b.port_y(e.dst_row)
        if x2 <= x1:  # same layer (a cycle edge): loop around the right side
            x2 = lay.x[e.dst] + b.width()
            bend = max(a.width(), b.width()) / 2 + 30
            d = (
                f"M{x1:.1f},{y1:.1f} C{x1 + bend:.1f},{y1:.1f} "
                f"{x2 + bend:.1f},{y2:.1f} {x2:.1f},{y2:.1f}"
            )
        else:
            mid = (x1 + x2) / 2
            d = f"M{x1:.1f},{y1:.1f} C{mid:.1f},{y1:.1f} {mid:.1f},{y2:.1f} {x2 - 2:.1f},{y2:.1f}"
        title = f"<title>{escape(e.label)}</title>" if e.label else ""
        paths.append(
            f'<path class="edge {escape(e.kind)}" data-edge="{escape(e.src)} -> {escape(e.dst)}" '
            f'd="{d}" marker-end="url(#arrow)">{title}</path>'
        )
    body = "".join(_node_svg(by_id[n], lay.x[n], lay.y[n]) for col in lay.order for n in col)
    return (
        f'<svg class="{escape(css_class)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" role="img">'
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
        f'<g class="edges">{"".join(paths)}</g><g class="nodes">{body}</g></svg>'
    )
