"""Directed graphs drawn as SVG: a layered layout with orthogonal edges routed between layers.

Why no edge can cross a box: every node sits in a layer (a column); a node's layer is the
longest path to it from a node without inputs (never less than its declared `min_rank`), so
every edge points right. An edge that spans several layers gets a placeholder ("dummy") in
each layer it passes through: a thin slot in that layer's stack of boxes, which no box
overlaps. An edge is then drawn as horizontal runs (out of its node's right side, through
its placeholders, into its target's left side) joined by vertical runs that lie in the empty
channels between two layers, each on its own track. Horizontal runs stay at a height owned
by their node or placeholder, vertical runs stay outside every column: no run enters a box.

Order inside a layer: sweeps of the barycenter heuristic (a node moves to the mean position
of its neighbours in the previous layer), which removes most crossings of a pipeline-shaped
graph. Heights: each layer is placed as close to its neighbours as the order allows (an
isotonic regression: the stack keeps its order and its gaps). Each node is an SVG link to
its page and carries `data-node`; each edge carries `data-edge="src -> dst"`, which the
site's graph script (zoom, pan, focus) and the tests read.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from html import escape

CHAR_W = 7.2  # px per character of the 12px sans-serif labels (a safe over-estimate)
ROW_H = 18
PAD = 10
GAP_Y = 16
DUMMY_H = 6  # the slot an edge passing through a layer reserves in it
TRACK = 9  # px between two vertical runs in one channel
MIN_CHANNEL = 56
SWEEPS = 8
PLACE_PASSES = 6


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
    order: list[list[str]]  # per layer, top to bottom (placeholders included)
    x: dict[str, float]
    y: dict[str, float]
    width: float
    height: float
    paths: list[tuple[Edge, list[tuple[float, float]]]]  # each edge's polyline, src to dst


def _ranks(nodes: dict[str, Node], edges: list[Edge]) -> tuple[dict[str, int], set]:
    """Longest path from the inputs; an edge closing a cycle is reversed for ranking."""
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
    # ranks in topological order of the graph with back edges reversed
    forward: dict[str, list[str]] = defaultdict(list)
    indeg: dict[str, int] = dict.fromkeys(nodes, 0)
    for a, targets in outgoing.items():
        for b in targets:
            s, t = (b, a) if (a, b) in back else (a, b)
            forward[s].append(t)
            indeg[t] += 1
    ready = [n for n in nodes if indeg[n] == 0]
    while ready:
        n = ready.pop()
        for t in forward[n]:
            rank[t] = max(rank[t], rank[n] + 1)
            indeg[t] -= 1
            if indeg[t] == 0:
                ready.append(t)
    return rank, back


def _isotonic(desired: list[float], weights: list[float]) -> list[float]:
    """Pool adjacent violators: the non-decreasing sequence nearest to `desired`."""
    blocks: list[list[float]] = []  # [value, weight, count]
    for d, w in zip(desired, weights, strict=True):
        blocks.append([d, w, 1])
        while len(blocks) > 1 and blocks[-2][0] > blocks[-1][0]:
            v2, w2, c2 = blocks.pop()
            v1, w1, c1 = blocks.pop()
            blocks.append([(v1 * w1 + v2 * w2) / (w1 + w2), w1 + w2, c1 + c2])
    out: list[float] = []
    for v, _, c in blocks:
        out.extend([v] * int(c))
    return out


def layout(nodes: list[Node], edges: list[Edge]) -> Layout:
    by_id = {n.id: n for n in nodes}
    edges = [e for e in edges if e.src in by_id and e.dst in by_id and e.src != e.dst]
    ranks, back = _ranks(by_id, edges)
    # no empty column (a gold-only view has every node at least at the gold rank)
    used = {r: i for i, r in enumerate(sorted(set(ranks.values())))}
    ranks = {n: used[r] for n, r in ranks.items()}
    depth = max(ranks.values(), default=-1) + 1
    order: list[list[str]] = [[] for _ in range(depth)]
    for n in nodes:  # the caller's order is the starting order
        order[ranks[n.id]].append(n.id)
    height = {n.id: n.height() for n in nodes}

    # each edge as a chain through placeholders, left to right: (node, port y offset) ...
    chains: list[tuple[Edge, bool, list[str]]] = []
    for i, e in enumerate(edges):
        reverse = (e.src, e.dst) in back or ranks[e.src] > ranks[e.dst]
        a, b = (e.dst, e.src) if reverse else (e.src, e.dst)
        chain = [a]
        for r in range(ranks[a] + 1, ranks[b]):
            dummy = f"\0{i}:{r}"
            ranks[dummy] = r
            height[dummy] = DUMMY_H
            order[r].append(dummy)
            chain.append(dummy)
        chain.append(b)
        chains.append((e, reverse, chain))
    if any(ranks[c[-2]] == ranks[c[-1]] for _, _, c in chains):
        raise ValueError("an edge within one layer")  # cannot happen: ranks follow edges
    left_of: dict[str, list[str]] = defaultdict(list)
    right_of: dict[str, list[str]] = defaultdict(list)
    for _, _, chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            right_of[a].append(b)
            left_of[b].append(a)

    # a node with no edge at all (an aggregate table in the model) goes below the others
    alone = {n for n in by_id if not left_of[n] and not right_of[n]}
    for r, col in enumerate(order):
        order[r] = [n for n in col if n not in alone] + [n for n in col if n in alone]

    def sweep(layer: list[str], neighbours: dict[str, list[str]]) -> list[str]:
        pos = {n: i / max(1, len(col)) for col in order for i, n in enumerate(col)}
        keyed = []
        for i, n in enumerate(layer):
            near = [pos[m] for m in neighbours[n]]
            own = i / max(1, len(layer)) + (2.0 if n in alone else 0.0)
            keyed.append((sum(near) / len(near) if near else own, i, n))
        return [n for _, _, n in sorted(keyed)]

    for i in range(SWEEPS):
        if i % 2 == 0:
            for r in range(1, depth):
                order[r] = sweep(order[r], left_of)
        else:
            for r in range(depth - 2, -1, -1):
                order[r] = sweep(order[r], right_of)

    # heights: stack each layer, then pull each layer towards its neighbours' middles
    y: dict[str, float] = {}
    for col in order:
        top = PAD
        for n in col:
            y[n] = top
            top += height[n] + GAP_Y

    def place(col: list[str], neighbours: dict[str, list[str]]) -> None:
        if not col:
            return
        offsets, acc = [], 0.0
        for n in col:
            offsets.append(acc)
            acc += height[n] + GAP_Y
        desired, weights = [], []
        for n, off in zip(col, offsets, strict=True):
            near = neighbours[n]
            if near:
                mid = sum(y[m] + height[m] / 2 for m in near) / len(near)
                desired.append(mid - height[n] / 2 - off)
                weights.append(float(len(near)) + (0.5 if n.startswith("\0") else 1.0))
            else:
                desired.append(y[n] - off)
                weights.append(0.3)
        fitted = _isotonic(desired, weights)
        for n, off, z in zip(col, offsets, fitted, strict=True):
            y[n] = z + off
        low = min(y[n] for n in col)
        if low < PAD:
            for n in col:
                y[n] += PAD - low

    both: dict[str, list[str]] = {n: left_of[n] + right_of[n] for n in ranks}
    for i in range(PLACE_PASSES):
        cols = range(depth) if i % 2 == 0 else range(depth - 1, -1, -1)
        side = left_of if i % 2 == 0 else right_of
        for r in cols:
            place(order[r], both if i >= PLACE_PASSES - 2 else side)

    # channels: one vertical track per group of runs (runs leaving one port share a track)
    def port(node: str, row: str | None) -> float:
        if node in by_id:
            return y[node] + by_id[node].port_y(row)
        return y[node] + DUMMY_H / 2

    runs: dict[int, list[tuple[tuple, float, float, int, int]]] = defaultdict(list)
    hops: list[list[tuple[str, float, str, float]]] = []
    for k, (e, reverse, chain) in enumerate(chains):
        first_row, last_row = (e.dst_row, e.src_row) if reverse else (e.src_row, e.dst_row)
        pts = []
        for j, (a, b) in enumerate(zip(chain, chain[1:], strict=False)):
            ya = port(a, first_row if j == 0 else None)
            yb = port(b, last_row if j == len(chain) - 2 else None)
            pts.append((a, ya, b, yb))
            if abs(ya - yb) > 0.5:
                group = (a, round(ya, 1)) if a in by_id else (k, j)
                runs[ranks[a]].append((group, min(ya, yb), max(ya, yb), k, j))
        hops.append(pts)
    track: dict[tuple[int, int], int] = {}
    tracks_in: dict[int, int] = {}
    for r, items in runs.items():
        spans: dict[tuple, list[float]] = {}
        members: dict[tuple, list[tuple[int, int]]] = defaultdict(list)
        for group, lo, hi, k, j in items:
            s = spans.setdefault(group, [lo, hi])
            s[0], s[1] = min(s[0], lo), max(s[1], hi)
            members[group].append((k, j))
        ends: list[float] = []  # per track, the lowest end used so far
        for group in sorted(spans, key=lambda g: (spans[g][0], spans[g][1])):
            lo, hi = spans[group]
            t = next((i for i, end in enumerate(ends) if end + 6 < lo), len(ends))
            if t == len(ends):
                ends.append(hi)
            else:
                ends[t] = hi
            for kj in members[group]:
                track[kj] = t
        tracks_in[r] = len(ends)

    # columns left to right: a layer's width, then its channel
    x_left: list[float] = []
    col_w: list[float] = []
    left = PAD
    for r, col in enumerate(order):
        width = max((by_id[n].width() for n in col if n in by_id), default=40.0)
        x_left.append(left)
        col_w.append(width)
        left += width + max(MIN_CHANNEL, (tracks_in.get(r, 0) + 1) * TRACK + 24)
    x = {n: x_left[ranks[n]] for col in order for n in col}

    paths = []
    for k, (e, reverse, _chain) in enumerate(chains):
        pts: list[tuple[float, float]] = []
        for j, (a, ya, b, yb) in enumerate(hops[k]):
            r = ranks[a]
            start = x[a] + (by_id[a].width() if a in by_id else 0.0)
            if j == 0:
                pts.append((start, ya))
            channel_start = x_left[r] + col_w[r]
            channel_end = x_left[r + 1]
            if abs(ya - yb) > 0.5:
                n_tracks = tracks_in[r]
                width = channel_end - channel_start
                tx = channel_start + width / 2 + (track[(k, j)] - (n_tracks - 1) / 2) * TRACK
                pts += [(tx, ya), (tx, yb)]
            end = x[b] if b in by_id else x_left[ranks[b]]
            pts.append((end, yb))
            if b not in by_id:  # through the placeholder's layer
                pts.append((x_left[ranks[b]] + col_w[ranks[b]], yb))
        paths.append((e, list(reversed(pts)) if reverse else pts))
    height_total = max((y[n] + height[n] for n in y), default=0.0) + PAD
    real_order = [[n for n in col if n in by_id] for col in order]
    return Layout(
        {n: ranks[n] for n in by_id},
        real_order,
        x,
        y,
        max(left - MIN_CHANNEL + PAD, 0),
        height_total,
        paths,
    )


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


def _path_d(points: list[tuple[float, float]], radius: float = 5.0) -> str:
    """A polyline with its corners rounded (a corner never leaves its two runs' box)."""
    pts = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    d = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
    for i in range(1, len(pts) - 1):
        (x0, y0), (x1, y1), (x2, y2) = pts[i - 1], pts[i], pts[i + 1]
        r = min(radius, abs(x1 - x0 + y1 - y0) / 2, abs(x2 - x1 + y2 - y1) / 2)
        ax = x1 - r * _sign(x1 - x0)
        ay = y1 - r * _sign(y1 - y0)
        bx = x1 + r * _sign(x2 - x1)
        by = y1 + r * _sign(y2 - y1)
        d.append(f"L{ax:.1f},{ay:.1f} Q{x1:.1f},{y1:.1f} {bx:.1f},{by:.1f}")
    d.append(f"L{pts[-1][0]:.1f},{pts[-1][1]:.1f}")
    return " ".join(d)


def _sign(v: float) -> int:
    return (v > 0) - (v < 0)


def render_svg(
    nodes: list[Node],
    edges: list[Edge],
    css_class: str = "graph",
    focus: str = "",
    ident: str = "g",
) -> str:
    """The graph as one inline <svg> element (styled by the site's CSS); `focus` names the
    node the page is about, which the graph script brings into view."""
    by_id = {n.id: n for n in nodes}
    lay = layout(nodes, edges)
    marker = f"arrow-{escape(ident)}"
    paths = []
    for e, pts in lay.paths:
        if len(pts) < 2:
            continue
        # stop short of the target so the arrow head touches its side
        (xa, ya), (xb, yb) = pts[-2], pts[-1]
        pts = [*pts[:-1], (xb - 2 * _sign(xb - xa), yb - 2 * _sign(yb - ya))]
        title = f"<title>{escape(e.label)}</title>" if e.label else ""
        paths.append(
            f'<path class="edge {escape(e.kind)}" data-edge="{escape(e.src)} -> {escape(e.dst)}" '
            f'd="{_path_d(pts)}" marker-end="url(#{marker})">{title}</path>'
        )
    body = "".join(_node_svg(by_id[n], lay.x[n], lay.y[n]) for col in lay.order for n in col)
    focus_attr = f' data-focus="{escape(focus)}"' if focus in by_id else ""
    return (
        f'<svg class="{escape(css_class)}" xmlns="http://www.w3.org/2000/svg" '
        f'width="{lay.width:.0f}" height="{lay.height:.0f}" '
        f'viewBox="0 0 {lay.width:.0f} {lay.height:.0f}" role="img"{focus_attr}>'
        f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" '
        'markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z"/></marker></defs>'
        f'<g class="edges">{"".join(paths)}</g><g class="nodes">{body}</g></svg>'
    )
