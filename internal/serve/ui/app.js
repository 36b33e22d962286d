// pf's web UI: the history graph, an image, its files, a diff, the trace.
// Plain JavaScript, no build step, nothing loaded from elsewhere. The
// history is drawn a window of rows at a time: the server lays out the
// whole graph and hands out the rows in view.
"use strict";

const ROW = 28, LANE = 14, BLOCK = 64;
const COLORS = ["#2563eb", "#16a34a", "#d97706", "#9333ea", "#dc2626", "#0891b2", "#4d7c0f", "#be185d"];
const main = document.getElementById("main");

// el builds an element: el("a", {href: "#/"}, "text", child...).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(e.dataset, v);
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c != null) e.append(c instanceof Node ? c : String(c));
  return e;
}

async function api(path) {
  const r = await fetch(path);
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(msg);
  }
  return r.json();
}

const short = id => id.replace(/^sha256:/, "").slice(0, 12);
const hex = id => id.replace(/^sha256:/, "");
// when shows a time in the browser's zone as 2026-12-04 01:55:36 (Intl's
// formatters cost more to start than drawing the first rows).
function when(s) {
  const d = new Date(s);
  if (isNaN(d)) return s;
  const p = n => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}
function bytes(n) {
  if (n < 1024) return n + " B";
  const u = "KMGTPE"; let i = -1;
  do { n /= 1024; i++; } while (n >= 1024 && i < u.length - 1);
  return n.toFixed(1) + " " + u[i] + "iB";
}
function fail(err) { main.replaceChildren(el("p", {class: "error", id: "error"}, String(err.message || err))); }
function badges(row) {
  const out = [];
  for (const t of row.tags || []) out.push(el("span", {class: "badge tag"}, t));
  for (const h of row.heads || []) out.push(el("span", {class: "badge head", title: h.dir}, "head " + h.dir.split("/").pop() + (h.session ? "@" + h.session : "")));
  return out;
}

// ---- history ----

const graph = {total: 0, width: 1, blocks: new Map(), pending: new Map(), version: 0};

function resetGraph() { graph.blocks.clear(); graph.pending.clear(); graph.version++; }

function loadBlock(b) {
  if (graph.blocks.has(b)) return Promise.resolve(graph.blocks.get(b));
  if (graph.pending.has(b)) return graph.pending.get(b);
  const v = graph.version;
  const p = api(`/api/v1/graph?offset=${b * BLOCK}&limit=${BLOCK}`).then(res => {
    graph.pending.delete(b);
    if (v !== graph.version) return null;
    graph.total = res.total; graph.width = Math.max(1, res.width);
    graph.blocks.set(b, res.rows);
    return res.rows;
  });
  graph.pending.set(b, p);
  return p;
}

function rowAt(i) {
  const b = graph.blocks.get(Math.floor(i / BLOCK));
  return b ? b[i % BLOCK] : null;
}

function drawLanes(row, width) {
  const ratio = window.devicePixelRatio || 1;
  const w = (width + 1) * LANE;
  const c = el("canvas", {width: w * ratio, height: ROW * ratio});
  c.style.width = w + "px"; c.style.height = ROW + "px";
  const g = c.getContext("2d");
  g.scale(ratio, ratio);
  g.lineWidth = 1.6;
  const x = lane => LANE / 2 + lane * LANE + 4, mid = ROW / 2;
  const line = (lane, x1, y1, x2, y2) => {
    g.strokeStyle = COLORS[lane % COLORS.length];
    g.beginPath(); g.moveTo(x1, y1);
    if (x1 === x2) g.lineTo(x2, y2); else g.bezierCurveTo(x1, (y1 + y2) / 2, x2, (y1 + y2) / 2, x2, y2);
    g.stroke();
  };
  for (const p of row.pass) line(p, x(p), 0, x(p), ROW);
  for (const p of row.into) line(p, x(p), 0, x(row.lane), mid);
  for (const p of row.out) line(p, x(row.lane), mid, x(p), ROW);
  g.fillStyle = COLORS[row.lane % COLORS.length];
  g.beginPath(); g.arc(x(row.lane), mid, 4.5, 0, 2 * Math.PI); g.fill();
  return c;
}

function historyRow(row, i) {
  if (!row) return el("div", {class: "hrow placeholder", dataset: {index: i}}, el("span", {class: "id"}, "…"));
  const r = el("div", {class: "hrow", dataset: {id: row.id, index: i}, onclick: () => { location.hash = "#/image/" + hex(row.id); }},
    drawLanes(row, graph.width),
    el("a", {class: "id", href: "#/image/" + hex(row.id)}, short(row.id)),
    el("span", {class: "when"}, when(row.created_at)),
    el("span", {class: "agent"}, row.agent),
    ...badges(row));
  if (graph.fresh && graph.fresh.has(row.id)) r.classList.add("fresh");
  return r;
}

async function showHistory() {
  const first = await loadBlock(0);
  if (!first) return;
  const scroller = el("div", {id: "history"});
  const spacer = el("div", {class: "spacer"});
  const rows = el("div", {class: "rows"});
  spacer.append(rows);
  scroller.append(spacer);
  if (graph.total === 0) {
    main.replaceChildren(el("p", {class: "muted", id: "empty"}, "No images yet: pf snapshot makes one."));
    document.body.dataset.view = "history";
    return;
  }
  main.replaceChildren(scroller);
  let drawn = "";
  const render = () => {
    spacer.style.height = graph.total * ROW + "px";
    const top = scroller.scrollTop, h = scroller.clientHeight || window.innerHeight;
    const from = Math.max(0, Math.floor(top / ROW) - 10);
    const to = Math.min(graph.total, Math.ceil((top + h) / ROW) + 10);
    const missing = new Set();
    for (let i = from; i < to; i++) if (!rowAt(i)) missing.add(Math.floor(i / BLOCK));
    const key = from + ":" + to + ":" + missing.size + ":" + graph.version;
    if (key !== drawn) {
      drawn = key;
      const out = [];
      for (let i = from; i < to; i++) out.push(historyRow(rowAt(i), i));
      rows.style.transform = `translateY(${from * ROW}px)`;
      rows.replaceChildren(...out);
    }
    for (const b of missing) loadBlock(b).then(() => requestAnimationFrame(render));
  };
  let queued = false;
  scroller.addEventListener("scroll", () => {
    if (queued) return;
    queued = true;
    requestAnimationFrame(() => { queued = false; render(); });
  }, {passive: true});
  graph.rerender = () => { drawn = ""; render(); };
  render();
  document.body.dataset.view = "history";
  if (window.pfHistoryMs === undefined) window.pfHistoryMs = performance.now();
}

// ---- an image ----

async function showImage(ref) {
  const res = await api("/api/v1/images/" + encodeURIComponent(ref));
  const img = res.image, id = img.id;
  const link = d => el("a", {href: "#/image/" + hex(d), class: "mono"}, short(d));
  const list = ds => ds.length ? ds.flatMap((d, i) => i ? [", ", link(d)] : [link(d)]) : [el("span", {class: "muted"}, "none")];
  const layers = el("table", {id: "layers"},
    el("tr", {}, el("th", {}, "layer"), el("th", {}, "digest"), el("th", {}, "size"), el("th", {}, "stored")),
    ...res.layers.map(l => el("tr", {},
      el("td", {}, l.name),
      el("td", {class: "mono"}, el("a", {href: "/api/v1/blobs/" + l.digest}, short(l.digest))),
      el("td", {}, l.missing ? el("span", {class: "error"}, "missing") : bytes(l.size)),
      el("td", {}, l.missing ? "" : bytes(l.stored)))));
  const other = el("input", {name: "other", placeholder: "another image: id, prefix or tag", "aria-label": "image to diff against"});
  const diffForm = el("form", {class: "inline", onsubmit: e => {
    e.preventDefault();
    if (other.value.trim()) location.hash = `#/diff/${hex(id)}/${encodeURIComponent(other.value.trim())}`;
  }}, other, " ", el("button", {type: "submit"}, "Diff"));
  const actions = el("p", {class: "actions"},
    el("a", {href: `#/files/${hex(id)}/`, id: "files-link"}, "Files"),
    el("a", {href: `#/trace/${hex(id)}`, id: "trace-link"}, "Trace"),
    img.parents.length ? el("a", {href: `#/diff/${hex(img.parents[0])}/${hex(id)}`, id: "diff-parent-link"}, "Diff with parent") : null);
  main.replaceChildren(
    el("h1", {}, "Image ", el("span", {class: "mono", id: "image-id"}, id)),
    el("table", {class: "props"},
      el("tr", {}, el("th", {}, "created"), el("td", {}, when(img.created_at), el("span", {class: "muted"}, "  " + img.created_at))),
      el("tr", {}, el("th", {}, "agent"), el("td", {id: "agent"}, `${img.agent.kind}@${img.agent.version}`)),
      el("tr", {}, el("th", {}, "fingerprint"), el("td", {class: "mono"}, img.agent.fingerprint)),
      el("tr", {}, el("th", {}, "tags"), el("td", {id: "tags"}, ...(img.tags.length ? img.tags.map(t => el("span", {class: "badge"}, t)) : [el("span", {class: "muted"}, "none")]))),
      el("tr", {}, el("th", {}, "heads"), el("td", {}, ...(res.heads.length ? res.heads.map(h => el("span", {class: "badge head"}, h.dir + (h.session ? " @" + h.session : ""))) : [el("span", {class: "muted"}, "none")]))),
      el("tr", {}, el("th", {}, "parents"), el("td", {id: "parents"}, ...list(img.parents))),
      el("tr", {}, el("th", {}, "children"), el("td", {id: "children"}, ...list(res.children)))),
    actions,
    el("h2", {}, "Layers"), layers,
    el("h2", {}, "Diff with another image"), diffForm);
  document.body.dataset.view = "image";
}

// ---- files ----

const trees = new Map();
async function treeOf(id) {
  if (!trees.has(id)) trees.set(id, api(`/api/v1/images/${id}/tree`));
  return trees.get(id);
}

async function showFiles(id, path) {
  path = path.replace(/\/+$/, "");
  const tree = await treeOf(id);
  const entry = path ? tree.entries.find(e => e.path === path) : null;
  const crumbs = el("div", {class: "crumbs", id: "crumbs"}, el("a", {href: `#/image/${id}`}, short(id)), " / ", el("a", {href: `#/files/${id}/`}, "files"));
  let acc = "";
  for (const seg of path ? path.split("/") : []) {
    acc = acc ? acc + "/" + seg : seg;
    crumbs.append(" / ", el("a", {href: `#/files/${id}/${acc.split("/").map(encodeURIComponent).join("/")}`}, seg));
  }
  if (entry && entry.kind !== "dir") {
    const body = el("div", {id: "file-view"}, el("p", {class: "muted"}, `${entry.kind}, ${bytes(entry.size)}, mode ${entry.mode}`));
    main.replaceChildren(crumbs, body);
    if (entry.kind === "symlink") {
      body.append(el("p", {}, "→ ", el("code", {id: "file-content"}, entry.target)));
    } else {
      const url = `/api/v1/images/${id}/files/${path.split("/").map(encodeURIComponent).join("/")}`;
      const r = await fetch(url, {headers: {Range: "bytes=0-1048575"}});
      if (!r.ok && r.status !== 206) throw new Error(`${r.status} ${r.statusText}`);
      if ((r.headers.get("Content-Type") || "").startsWith("text/")) {
        body.append(el("pre", {id: "file-content"}, await r.text()));
        if (entry.size > 1048576) body.append(el("p", {class: "muted"}, "Shown: the first MiB. ", el("a", {href: url, download: path.split("/").pop()}, "Download the whole file")));
      } else {
        body.append(el("p", {id: "file-content"}, "Binary file. ", el("a", {href: url, download: path.split("/").pop()}, "Download")));
      }
    }
    document.body.dataset.view = "file";
    return;
  }
  // Directories a tree lists only through their files are shown too.
  const prefix = path ? path + "/" : "";
  const children = new Map();
  for (const e of tree.entries) {
    if (!e.path.startsWith(prefix) || e.path === path) continue;
    const rest = e.path.slice(prefix.length), cut = rest.indexOf("/");
    const name = cut < 0 ? rest : rest.slice(0, cut);
    if (cut < 0) children.set(name, e);
    else if (!children.has(name)) children.set(name, {path: prefix + name, kind: "dir"});
  }
  const items = [...children.values()].map(e => {
    const name = e.path.slice(prefix.length) + (e.kind === "dir" ? "/" : "");
    return el("li", {}, el("a", {href: `#/files/${id}/${e.path.split("/").map(encodeURIComponent).join("/")}`, class: "entry", dataset: {path: e.path}}, name),
      e.kind === "file" ? el("span", {class: "size"}, bytes(e.size)) : null,
      e.kind === "symlink" ? el("span", {class: "size"}, "→ " + e.target) : null);
  });
  main.replaceChildren(crumbs, items.length ? el("ul", {class: "entries", id: "entries"}, ...items) : el("p", {class: "muted", id: "entries"}, tree.entries.length ? "Empty directory." : "This image has no files."));
  document.body.dataset.view = "files";
}

// ---- diff ----

function patchText(text) {
  const pre = el("pre", {class: "patch"});
  for (const line of text.split("\n")) {
    let cls = null;
    if (line.startsWith("+++") || line.startsWith("---") || line.startsWith("diff ") || line.startsWith("new file") || line.startsWith("deleted file") || line.startsWith("old mode") || line.startsWith("new mode") || line.startsWith("Binary")) cls = "meta";
    else if (line.startsWith("+")) cls = "add";
    else if (line.startsWith("-")) cls = "del";
    else if (line.startsWith("@@")) cls = "hunk";
    pre.append(cls ? el("span", {class: cls}, line) : line + "\n");
  }
  return pre;
}

async function showDiff(a, b) {
  const res = await api(`/api/v1/diff?from=${encodeURIComponent(a)}&to=${encodeURIComponent(b)}&patch=true`);
  const head = el("h1", {}, "Diff ", el("a", {href: "#/image/" + hex(res.from), class: "mono"}, short(res.from)), " → ", el("a", {href: "#/image/" + hex(res.to), class: "mono"}, short(res.to)));
  if (!res.changes.length) {
    main.replaceChildren(head, el("p", {class: "muted", id: "changes"}, "The two images have the same files."));
    document.body.dataset.view = "diff";
    return;
  }
  const list = el("ul", {class: "changes", id: "changes"}, ...res.changes.map((c, i) =>
    el("li", {class: "change", dataset: {path: c.path, kind: c.kind}}, el("span", {class: "kind kind-" + c.kind}, c.kind), el("a", {href: "#", onclick: e => { e.preventDefault(); document.getElementById("patch-" + i).scrollIntoView(); }}, c.path))));
  const patches = el("div", {id: "patches"}, ...res.changes.map((c, i) => {
    const box = el("div", {id: "patch-" + i, class: "patch-box"}, el("h2", {class: "mono"}, c.path));
    box.append(c.patch != null ? patchText(c.patch) : el("p", {class: "muted"}, "(patch not shown: too many changes)"));
    return box;
  }));
  main.replaceChildren(head, el("p", {class: "muted"}, `${res.changes.length} paths differ`), list, el("h2", {}, "Patches"), patches);
  document.body.dataset.view = "diff";
}

// ---- trace ----

async function showTrace(id) {
  const res = await api(`/api/v1/images/${id}/trace`);
  const msgs = res.messages.map(m => {
    const role = typeof m.role === "string" ? m.role : "message";
    let content = m.content;
    if (typeof content !== "string") content = JSON.stringify(content === undefined ? m : content, null, 2);
    return el("div", {class: "msg " + role.replace(/[^a-z]/gi, "")}, el("div", {class: "role"}, role), content);
  });
  main.replaceChildren(
    el("h1", {}, "Trace of ", el("a", {href: "#/image/" + id, class: "mono"}, short(id))),
    msgs.length ? el("div", {class: "transcript", id: "transcript"}, ...msgs) : el("p", {class: "muted", id: "transcript"}, "This image has no trace."));
  document.body.dataset.view = "trace";
}

// ---- routing and live updates ----

async function route() {
  const h = decodeURI(location.hash.replace(/^#\/?/, ""));
  const [view, ...rest] = h.split("/");
  document.body.dataset.view = "loading";
  graph.rerender = null;
  try {
    if (view === "image") await showImage(rest[0]);
    else if (view === "files") await showFiles(rest[0], rest.slice(1).join("/"));
    else if (view === "diff") await showDiff(rest[0], rest[1]);
    else if (view === "trace") await showTrace(rest[0]);
    else await showHistory();
  } catch (err) {
    fail(err);
    document.body.dataset.view = "error";
  }
}

function toast(text) {
  const t = document.getElementById("toast");
  t.textContent = text; t.hidden = false;
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => { t.hidden = true; }, 4000);
}

function live() {
  const badge = document.getElementById("live");
  const es = new EventSource("/api/v1/events");
  let refresh = null;
  const changed = ids => {
    graph.fresh = new Set(ids || []);
    resetGraph();
    clearTimeout(refresh);
    refresh = setTimeout(() => {
      if (document.body.dataset.view === "history") {
        loadBlock(0).then(() => graph.rerender && graph.rerender());
      }
    }, 100);
  };
  es.addEventListener("hello", e => { badge.textContent = "live"; badge.classList.add("on"); document.getElementById("store").textContent = JSON.parse(e.data).store; });
  es.addEventListener("image", e => { const img = JSON.parse(e.data); toast("new image " + short(img.id)); changed([img.id]); window.pfLastEvent = img.id; });
  es.addEventListener("tag", e => { const t = JSON.parse(e.data); toast(t.id ? `tag ${t.name} → ${short(t.id)}` : `tag ${t.name} deleted`); changed(); });
  es.addEventListener("head", e => { changed(); });
  es.addEventListener("reload", () => changed());
  es.onerror = () => { badge.textContent = "offline"; badge.classList.remove("on"); };
}

window.addEventListener("hashchange", route);
route();
live();
