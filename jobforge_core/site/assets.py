"""The site's stylesheet and script, written next to the pages (no CDN, nothing fetched).

The search reads `assets/search-index.js`, a plain script that sets `window.JOBFORGE_INDEX`:
loaded with a <script> tag, it works from `file://` where `fetch` of a local JSON would not.
"""

CSS = """
:root { --fg:#1d2330; --muted:#5b6475; --line:#d8dde6; --bg:#ffffff; --band:#f4f6f9;
  --accent:#1f5fbf; --file:#8a5a00; --staged:#6b7280; --bronze:#a0522d; --silver:#6d7c8c;
  --gold:#b08900; --bad:#b42318; --ok:#137333; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
  color:var(--fg); background:var(--bg); }
header { display:flex; flex-wrap:wrap; gap:8px 24px; align-items:center; padding:10px 20px;
  background:#172033; color:#fff; }
header a { color:#fff; text-decoration:none; }
header .brand { font-weight:700; font-size:16px; }
header nav a { margin-right:14px; opacity:.9; }
header nav a.here { border-bottom:2px solid #fff; opacity:1; }
header form { margin-left:auto; }
header input { width:280px; padding:5px 8px; border-radius:4px; border:0; }
main { padding:16px 20px 40px; max-width:1400px; }
main.wide { max-width:none; }
h1 { font-size:22px; margin:6px 0 4px; } h2 { font-size:17px; margin:26px 0 8px; }
p.lead { color:var(--muted); margin:0 0 12px; }
a { color:var(--accent); }
table.grid { border-collapse:collapse; width:100%; margin:6px 0 12px; }
table.grid th, table.grid td { border-bottom:1px solid var(--line); padding:5px 8px;
  text-align:left; vertical-align:top; }
table.grid th { background:var(--band); position:sticky; top:0; font-weight:600; }
table.grid td { overflow-wrap:break-word; }
table.grid td.nowrap { white-space:nowrap; }
#glossary { table-layout:fixed; } #glossary td:last-child { overflow-wrap:anywhere; }
#glossary th:nth-child(1) { width:18%; } #glossary th:nth-child(2) { width:11%; }
#glossary th:nth-child(3) { width:30%; } #glossary th:nth-child(4) { width:16%; }
#glossary th:nth-child(5) { width:25%; }
#columns { table-layout:fixed; } #columns td { overflow-wrap:anywhere; }
#columns th:nth-child(1) { width:19%; } #columns th:nth-child(2) { width:9%; }
#columns th:nth-child(3) { width:6%; } #columns th:nth-child(4) { width:23%; }
#columns th:nth-child(5) { width:10%; } #columns th:nth-child(6) { width:15%; }
#columns th:nth-child(7) { width:18%; }
table.grid td.num, table.grid th.num { text-align:right; font-variant-numeric:tabular-nums; }
table.fields th { text-align:left; padding:3px 14px 3px 0; color:var(--muted); font-weight:500; }
code, pre { font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace;
  font-size:12.5px; }
pre { background:var(--band); padding:10px; overflow:auto; border-radius:4px; }
.pill { display:inline-block; padding:0 7px; border-radius:9px; font-size:12px; color:#fff;
  background:var(--muted); }
.pill.gold { background:var(--gold); } .pill.silver { background:var(--silver); }
.pill.bronze { background:var(--bronze); } .pill.staged { background:var(--staged); }
.pill.file { background:var(--file); } .pill.failed { background:var(--bad); }
.pill.success { background:var(--ok); } .pill.pk { background:#4b5563; font-size:11px; }
.pill.partial { background:#b26b00; }
.layers a { margin-right:12px; }
.layers a.here { font-weight:700; text-decoration:none; color:var(--fg); }
.muted { color:var(--muted); } .bad { color:var(--bad); font-weight:600; }
.scroll { overflow:auto; border:1px solid var(--line); border-radius:4px; background:#fbfcfe; }
#search-results { margin:8px 0 18px; }
#search-results ol { margin:4px 0; padding-left:22px; }
#search-results li { margin:3px 0; }
#search-results .why { color:var(--muted); font-size:12.5px; }
svg.graph text { font:12px system-ui, sans-serif; fill:var(--fg); }
svg.graph text.sub, svg.graph text.row { fill:var(--muted); }
svg.graph .node rect { fill:#fff; stroke:#8892a6; stroke-width:1.2; }
svg.graph .node line { stroke:#c5ccd8; }
svg.graph a:hover rect { stroke:var(--accent); stroke-width:2.2; }
svg.graph .node.file rect { fill:#fff6e0; stroke:var(--file); }
svg.graph .node.staged rect { fill:#f1f2f4; stroke:var(--staged); }
svg.graph .node.bronze rect { fill:#f8ebe3; stroke:var(--bronze); }
svg.graph .node.silver rect { fill:#eef1f4; stroke:var(--silver); }
svg.graph .node.gold rect { fill:#fff8d6; stroke:var(--gold); }
svg.graph .node.focus rect { stroke:var(--accent); stroke-width:3; }
svg.graph .edge { fill:none; stroke:#9aa3b5; stroke-width:1.3; }
svg.graph .edge.fk { stroke:#1f5fbf; }
svg.graph .edge.lookup { stroke-dasharray:5 4; }
svg.graph marker path { fill:#9aa3b5; }
.bars { display:flex; align-items:flex-end; gap:4px; height:90px; margin:6px 0; }
.bars div { background:var(--accent); min-width:18px; }
.bars div.q { background:var(--bad); }
.sev-error { color:var(--bad); font-weight:600; }
.sev-warning { color:#9a5b00; font-weight:600; }
.sev-intended { color:#0b6e99; font-weight:600; }
h3.sev-error, h3.sev-warning, h3.sev-intended { margin:16px 0 4px; }
p.zeros { font-size:12.5px; }
.legend span { margin-right:14px; font-size:12.5px; }
footer { color:var(--muted); font-size:12px; padding:10px 20px 30px;
  border-top:1px solid var(--line); }
"""

JS = r"""
(function () {
  "use strict";
  var box = document.getElementById("search");
  var out = document.getElementById("search-results");
  var index = window.JOBFORGE_INDEX;
  if (!box || !out || !index) { return; }
  var fields = index.fields;  // per entry: name, url, kind, layer, then searchable texts
  function words(q) { return q.toLowerCase().split(/\s+/).filter(function (w) { return w; }); }
  function score(entry, q, ws) {
    var total = 0, why = "";
    for (var i = 0; i < ws.length; i++) {
      var found = false;
      for (var f = 0; f < fields.length; f++) {
        var text = (entry[4 + f] || "").toLowerCase();
        if (text.indexOf(ws[i]) >= 0) { found = true; break; }
      }
      if (!found) { return null; }
    }
    for (var g = 0; g < fields.length; g++) {
      var t = (entry[4 + g] || "");
      var low = t.toLowerCase();
      var weight = fields[g].weight;
      if (low === q) { total += weight * 4; }
      else if (low.indexOf(q) >= 0) { total += weight * 2; }
      else {
        for (var k = 0; k < ws.length; k++) {
          if (low.indexOf(ws[k]) >= 0) { total += weight / 2; }
        }
      }
      if (!why && low.indexOf(ws[0]) >= 0 && g > 0) {
        why = fields[g].label + ": " + snippet(t, ws[0]);
      }
    }
    // Gold tables are what most people look for; the other layers follow at equal scores.
    if (entry[3] === "gold") { total *= 1.5; }
    return { score: total, why: why };
  }
  function snippet(text, w) {
    var at = text.toLowerCase().indexOf(w);
    var start = Math.max(0, at - 40);
    return (start ? "\u2026" : "") + text.slice(start, at + w.length + 60) +
      (at + w.length + 60 < text.length ? "\u2026" : "");
  }
  function show(q) {
    q = q.trim().toLowerCase();
    out.textContent = "";
    if (!q) { out.hidden = true; return; }
    var ws = words(q), hits = [];
    for (var i = 0; i < index.entries.length; i++) {
      var s = score(index.entries[i], q, ws);
      if (s) { hits.push([s.score, i, s.why]); }
    }
    hits.sort(function (a, b) { return b[0] - a[0] || a[1] - b[1]; });
    var head = document.createElement("p");
    head.className = "muted";
    head.textContent = hits.length + " result(s) for \u201c" + q + "\u201d";
    out.appendChild(head);
    var list = document.createElement("ol");
    list.id = "search-hits";
    hits.slice(0, 100).forEach(function (h) {
      var e = index.entries[h[1]];
      var li = document.createElement("li");
      var a = document.createElement("a");
      a.href = e[1]; a.textContent = e[0]; a.className = "hit";
      li.appendChild(a);
      var tag = document.createElement("span");
      tag.className = "pill " + (e[3] || "");
      tag.textContent = e[3] ? e[2] + " \u00b7 " + e[3] : e[2];
      li.appendChild(document.createTextNode(" "));
      li.appendChild(tag);
      if (h[2]) {
        var why = document.createElement("div");
        why.className = "why"; why.textContent = h[2];
        li.appendChild(why);
      }
      list.appendChild(li);
    });
    out.appendChild(list);
    out.hidden = false;
  }
  var params = new URLSearchParams(window.location.search);
  if (params.get("q")) { box.value = params.get("q"); }
  box.addEventListener("input", function () { show(box.value); });
  show(box.value);
})();
"""

GRAPH_CSS = """
.graph-box { border:1px solid var(--line); border-radius:4px; background:#fbfcfe; }
.graph-tools { display:flex; flex-wrap:wrap; gap:6px 14px; align-items:center; padding:6px 8px;
  border-bottom:1px solid var(--line); background:var(--band); font-size:13px; }
.graph-tools button { font:inherit; padding:2px 9px; border:1px solid #b8c0cf;
  background:#fff; border-radius:4px; cursor:pointer; }
.graph-tools .views button.on { background:var(--accent); color:#fff; border-color:var(--accent); }
.graph-tools .zoom button { min-width:30px; }
.graph-tools .views, .graph-tools .zoom { display:inline-flex; gap:4px; }
.graph-view { position:relative; overflow:auto; max-height:70vh; }
.graph-view.live { overflow:hidden; max-height:none; height:70vh; min-height:220px;
  cursor:grab; touch-action:none; }
.graph-view.panning { cursor:grabbing; }
.graph-view.live > svg { display:block; width:100%; height:100%; user-select:none; }
svg.graph.focusing .node { opacity:.22; }
svg.graph.focusing .node.near, svg.graph.focusing .node.sel { opacity:1; }
svg.graph.focusing .edge { opacity:.1; }
svg.graph.focusing .edge.hot { opacity:1; stroke:var(--accent); stroke-width:2.2; }
svg.graph .node.sel rect { stroke:var(--accent); stroke-width:3.2; }
svg.graph .node.near rect { stroke:var(--accent); stroke-width:2; }
svg.graph .gone { display:none; }
"""

GRAPH_JS = r"""
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  function edgesOf(svg) {
    return Array.prototype.map.call(svg.querySelectorAll("[data-edge]"), function (p) {
      var ends = p.getAttribute("data-edge").split(" -> ");
      return { el: p, src: ends[0], dst: ends[1] };
    });
  }
  function nodeEl(svg, id) {
    var all = svg.querySelectorAll("[data-node]");
    for (var i = 0; i < all.length;
      i++) { if (all[i].getAttribute("data-node") === id) { return all[i]; } }
    return null;
  }
  function Graph(view, box) {
    var svg = view.querySelector("svg");
    this.view = view; this.svg = svg; this.box = box;
    this.W = +svg.getAttribute("width"); this.H = +svg.getAttribute("height");
    svg.removeAttribute("width"); svg.removeAttribute("height");
    view.classList.add("live");  // without this script the view scrolls instead
    this.edges = edgesOf(svg);
    this.selected = null;
    var tall = Math.min(this.H + 16, Math.max(260, window.innerHeight * 0.7));
    view.style.height = Math.max(220, tall) + "px";
    this.bind();
    var focus = svg.getAttribute("data-focus");
    var cw = view.clientWidth || 1, ch = view.clientHeight || 1;
    var whole = Math.min(1, (cw - 20) / this.W, (ch - 20) / this.H);
    // the whole graph when it reads at that size, else the page's own table in the middle
    if (whole >= 0.55 || !(focus && nodeEl(svg, focus))) { this.fit(); }
    else { this.center(nodeEl(svg, focus)); }
  }
  Graph.prototype.set = function (x, y, k) {
    var cw = this.view.clientWidth || 1, ch = this.view.clientHeight || 1;
    this.k = k; this.x = x; this.y = y;
    var box = [x, y, cw / k, ch / k].map(function (v) { return v.toFixed(1); });
    this.svg.setAttribute("viewBox", box.join(" "));
  };
  Graph.prototype.fitBox = function (bx, by, bw, bh, most) {
    var cw = this.view.clientWidth || 1, ch = this.view.clientHeight || 1;
    var k = Math.min(most, (cw - 20) / bw, (ch - 20) / bh);
    k = Math.max(k, 0.08);
    this.set(bx + bw / 2 - cw / k / 2, by + bh / 2 - ch / k / 2, k);
  };
  Graph.prototype.fit = function () {
    var cw = this.view.clientWidth || 1;
    var k = Math.min(1, (cw - 20) / this.W);
    if (this.H * k <= this.view.clientHeight) { this.fitBox(0, 0, this.W, this.H, 1); }
    else {
      // too tall to read whole: the first linked box of the leftmost column, mid-height
      var top = Infinity, left = Infinity, linked = {};
      this.edges.forEach(function (e) { linked[e.src] = true; linked[e.dst] = true; });
      Array.prototype.forEach.call(this.svg.querySelectorAll("[data-node]"), function (g) {
        if (!linked[g.getAttribute("data-node")]) { return; }  // a box with no edge
        var m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(g.getAttribute("transform"));
        var x = +m[1], y = +m[2];
        if (x < left - 1) { left = x; top = y; } else if (x < left + 1) { top = Math.min(top, y); }
      });
      k = Math.max(k, 0.35);
      var ch = this.view.clientHeight || 1;
      top = top === Infinity ? 0 : top;
      this.set(-10 / k, Math.max(-10 / k, top + 40 - ch / k / 2), k);
    }
  };
  Graph.prototype.bbox = function (els) {
    var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    els.forEach(function (g) {
      var m = /translate\(([-\d.]+),([-\d.]+)\)/.exec(g.getAttribute("transform"));
      var r = g.querySelector("rect");
      var x = +m[1], y = +m[2], w = +r.getAttribute("width"), h = +r.getAttribute("height");
      x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x + w);
        y1 = Math.max(y1, y + h);
    });
    return [x0, y0, x1 - x0, y1 - y0];
  };
  Graph.prototype.center = function (g) {
    var b = this.bbox([g]);
    var cw = this.view.clientWidth || 1;
    var k = Math.min(1, Math.max(0.6, (cw - 20) / this.W));
    var ch = this.view.clientHeight || 1;
    this.set(b[0] + b[2] / 2 - cw / k / 2, b[1] + b[3] / 2 - ch / k / 2, k);
  };
  Graph.prototype.zoom = function (factor, px, py) {
    var cw = this.view.clientWidth, ch = this.view.clientHeight;
    if (px === undefined) { px = cw / 2; py = ch / 2; }
    var k = Math.min(4, Math.max(0.05, this.k * factor));
    var gx = this.x + px / this.k, gy = this.y + py / this.k;
    this.set(gx - px / k, gy - py / k, k);
  };
  Graph.prototype.closure = function (id) {
    var seen = {}; seen[id] = true;
    var self = this;
    ["src", "dst"].forEach(function (from) {
      var to = from === "src" ? "dst" : "src", todo = [id];
      while (todo.length) {
        var n = todo.pop();
        self.edges.forEach(function (e) {
          if (e[from] === n && !seen[e[to]]) { seen[e[to]] = true; todo.push(e[to]); }
        });
      }
    });
    return seen;
  };
  Graph.prototype.clear = function () {
    this.selected = null;
    this.svg.classList.remove("focusing");
    var marked = this.svg.querySelectorAll(".sel, .near, .hot, .gone");
    Array.prototype.forEach.call(marked, function (el) {
      el.classList.remove("sel", "near", "hot", "gone");
    });
    this.status("");
  };
  Graph.prototype.select = function (id) {
    this.clear();
    var g = nodeEl(this.svg, id);
    if (!g) { return; }
    this.selected = id;
    this.svg.classList.add("focusing");
    g.classList.add("sel");
    var near = [g], ins = 0, outs = 0, self = this;
    this.edges.forEach(function (e) {
      if (e.src !== id && e.dst !== id) { return; }
      e.el.classList.add("hot");
      var other = nodeEl(self.svg, e.src === id ? e.dst : e.src);
      if (e.dst === id) { ins++; } else { outs++; }
      if (other) { other.classList.add("near"); near.push(other); }
    });
    var b = this.bbox(near);
    this.fitBox(b[0] - 20, b[1] - 20, b[2] + 40, b[3] + 40, 1.2);
    this.status(id, ins, outs, g.closest("a"));
  };
  Graph.prototype.around = function (id) {
    var keep = this.closure(id), self = this, shown = [];
    this.select(id);
    Array.prototype.forEach.call(this.svg.querySelectorAll("[data-node]"), function (g) {
      var wrap = g.closest("a") || g;
      if (!keep[g.getAttribute("data-node")]) { wrap.classList.add("gone");
        } else { shown.push(g); }
    });
    this.edges.forEach(function (e) {
      if (!keep[e.src] || !keep[e.dst]) { e.el.classList.add("gone"); }
    });
    var b = this.bbox(shown);
    this.fitBox(b[0] - 20, b[1] - 20, b[2] + 40, b[3] + 40, 1);
    var link = (nodeEl(this.svg, id) || this.svg).closest("a");
    self.status(id, null, Object.keys(keep).length - 1, link, true);
  };
  Graph.prototype.status = function (id, ins, outs, link, around) {
    var out = this.box.querySelector(".graph-sel");
    if (!out.dataset.hint) { out.dataset.hint = out.textContent; }
    out.textContent = "";
    if (!id) { out.textContent = out.dataset.hint; return; }
    var b = document.createElement("strong"); b.textContent = id; out.appendChild(b);
    var said = around ? " and the " + outs + " table(s) it comes from or feeds " :
      ": " + ins + " input(s), " + outs + " output(s) ";
    out.appendChild(document.createTextNode(said));
    var self = this;
    function act(label, fn) {
      var a = document.createElement("button"); a.type = "button"; a.textContent = label;
      a.addEventListener("click", fn); out.appendChild(a);
        out.appendChild(document.createTextNode(" "));
    }
    if (link) {
      var open = document.createElement("a"); open.href = link.getAttribute("href");
      open.textContent = "open its page"; out.appendChild(open);
        out.appendChild(document.createTextNode(" "));
    }
    if (!around) { act("around this table", function () { self.around(id); }); }
    act("clear", function () { self.clear(); self.fit(); });
  };
  Graph.prototype.bind = function () {
    var self = this, view = this.view, start = null, moved = false;
    view.addEventListener("pointerdown", function (ev) {
      if (ev.button !== 0) { return; }
      start = [ev.clientX, ev.clientY, self.x, self.y]; moved = false;
    });
    view.addEventListener("pointermove", function (ev) {
      if (!start) { return; }
      var dx = ev.clientX - start[0], dy = ev.clientY - start[1];
      if (!moved && Math.abs(dx) + Math.abs(dy) < 5) { return; }
      if (!moved) { moved = true; view.classList.add("panning");
        view.setPointerCapture(ev.pointerId); }
      self.set(start[2] - dx / self.k, start[3] - dy / self.k, self.k);
    });
    function end() { start = null; view.classList.remove("panning"); }
    view.addEventListener("pointerup", end);
    view.addEventListener("pointercancel", end);
    view.addEventListener("click", function (ev) {
      if (moved) { ev.preventDefault(); moved = false; return; }
      var g = ev.target.closest && ev.target.closest("[data-node]");
      if (!g) { if (self.selected) { self.clear(); } return; }
      var id = g.getAttribute("data-node");
      if (self.selected !== id) { ev.preventDefault(); self.select(id); }
    });
    view.addEventListener("wheel", function (ev) {
      if (!ev.ctrlKey && !ev.metaKey) { return; }
      ev.preventDefault();
      var r = view.getBoundingClientRect();
      self.zoom(ev.deltaY < 0 ? 1.15 : 1 / 1.15, ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
  };
  function setup(box) {
    var graphs = {};
    function current() {
      var v = box.querySelector(".graph-view:not([hidden])");
      var key = v.getAttribute("data-view");
      if (!graphs[key]) { graphs[key] = new Graph(v, box); }
      return graphs[key];
    }
    current();
    Array.prototype.forEach.call(box.querySelectorAll("button[data-view]"), function (b) {
      b.addEventListener("click", function () {
        Array.prototype.forEach.call(box.querySelectorAll(".graph-view"), function (v) {
          v.hidden = v.getAttribute("data-view") !== b.getAttribute("data-view");
        });
        Array.prototype.forEach.call(box.querySelectorAll("button[data-view]"), function (o) {
          o.classList.toggle("on", o === b);
        });
        current().status("");
      });
    });
    Array.prototype.forEach.call(box.querySelectorAll("button[data-zoom]"), function (b) {
      b.addEventListener("click", function () {
        var g = current(), how = b.getAttribute("data-zoom");
        if (how === "fit") { g.fitBox(0, 0, g.W, g.H, 1); }
        else { g.zoom(how === "in" ? 1.25 : 0.8); }
      });
    });
    box.addEventListener("keydown", function (ev) {
      if (ev.key === "Escape") { current().clear(); }
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll(".graph-box"), setup);
  window.JOBFORGE_GRAPH = true;
})();
"""
