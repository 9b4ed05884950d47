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
table.grid td.nowrap { white-space:nowrap; }
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
.pill.success { background:var(--ok); } .pill.partial { background:#b26b00; }
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
