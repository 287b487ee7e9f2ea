// DOM helpers shared by the pages: element builder, times, badges, notices, sparklines.

/** h("a", {href: "/"}, "text", child…): an element; null/false children are skipped. */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else if (k === "dataset") Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

/** Replaces the content of `el`. */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** A local date-time for an ISO string ("—" for none). */
export function when(iso) {
  if (!iso) return "—";
  const d = new Date(iso);
  return isNaN(d) ? iso : d.toLocaleString(undefined, { dateStyle: "short", timeStyle: "medium" });
}

/** datetime-local value (local time) <-> ISO UTC string. */
export function toIso(local) { return local ? new Date(local).toISOString() : ""; }
export function toLocal(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (isNaN(d)) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** "3 min ago"-style age of an ISO time. */
export function ago(iso, now = Date.now()) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((now - new Date(iso).getTime()) / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60)} min`;
  return `${Math.floor(s / 86400)} d ${Math.floor((s % 86400) / 3600)} h`;
}

/** A <time> with the age as text and the exact time as tooltip. */
export function ageEl(iso, suffix = " ago") {
  if (!iso) return h("span", { class: "muted" }, "—");
  return h("time", { datetime: iso, title: when(iso), "data-suffix": suffix }, ago(iso) + suffix);
}

/** Re-computes the text of every age shown under `root` (ages move, figures do not). */
export function refreshAges(root) {
  const now = Date.now();
  for (const t of root.querySelectorAll("time[data-suffix]")) {
    const text = ago(t.getAttribute("datetime"), now) + t.dataset.suffix;
    if (t.textContent !== text) t.textContent = text;
  }
}

const LABELS = {
  failed: "failed", failing: "failing", circuit_open: "circuit open", half_open: "probing",
  paused: "paused", stopped: "stopped", listening: "listening", ok: "ok", unknown: "unknown",
  dead: "dead", retrying: "retrying", pending: "pending", sent: "sent", error: "error",
  rejected: "rejected", received: "received", processing: "processing", routed: "routed",
  filtered: "filtered", unmatched: "unmatched", denied: "denied",
};
const TONE = {
  failed: "bad", failing: "bad", circuit_open: "bad", dead: "bad", error: "bad", rejected: "bad",
  denied: "bad", half_open: "warn", paused: "warn", stopped: "warn", retrying: "warn",
  unmatched: "warn", unknown: "warn", pending: "info", received: "info", processing: "info",
  listening: "good", ok: "good", sent: "good", routed: "good", filtered: "muted",
};

/** A status badge: text always says the state (colour is a second cue only). */
export function badge(state) {
  const s = String(state || "unknown");
  return h("span", { class: `badge ${TONE[s] || "muted"}`, "data-state": s }, LABELS[s] || s.replaceAll("_", " "));
}

export function notice(kind, text, ...more) {
  return h("div", { class: `notice ${kind}`, role: kind === "error" ? "alert" : "status" }, text, ...more);
}

/** The message for an API error, with what the user can do about it. */
export function errorText(err) {
  if (!err) return "";
  if (err.status === 403) return `Not allowed: ${err.message}`;
  if (err.status === 404) return "Not found (or outside the establishments you can see).";
  if (err.status === 0) return `${err.problem.title}: ${err.message}`;
  return err.message;
}

export function empty(text) {
  return h("p", { class: "empty" }, text);
}

/** A definition list from [label, value] pairs (values may be nodes). */
export function facts(pairs) {
  return h("dl", { class: "facts" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
}

/** A table: headers, rows of cells (nodes or text); `caption` for screen readers. */
export function table(caption, headers, rows, attrs = {}) {
  return h("table", attrs,
    h("caption", { class: caption.startsWith("!") ? "sr-only" : "" }, caption.replace(/^!/, "")),
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c) => h("td", {}, c))))));
}

const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attrs) {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

/**
 * An inline SVG sparkline of `values` (numbers or null) with an accessible label.
 * `failed` (optional) draws red bars under the line for failed counts.
 */
export function sparkline(values, { label, failed = null, width = 120, height = 26, kind = "line" } = {}) {
  const el = svg("svg", { width, height, viewBox: `0 0 ${width} ${height}`, role: "img", class: `spark ${kind}` });
  const title = svg("title", {});
  title.textContent = label;
  el.append(title);
  const n = values.length;
  if (!n) return el;
  const all = values.concat(failed || []).filter((v) => v !== null);
  const max = Math.max(1, ...all);
  const step = n > 1 ? (width - 2) / (n - 1) : 0;
  const y = (v) => (height - 2) - (v / max) * (height - 4);
  if (failed) {
    const bw = Math.max(1, (width - 2) / n - 1);
    failed.forEach((v, i) => {
      if (v > 0) el.append(svg("rect", { x: 1 + i * ((width - 2) / n), y: y(v), width: bw, height: height - 2 - y(v), class: "fail" }));
    });
  }
  let d = "";
  values.forEach((v, i) => {
    if (v === null) return;
    const joined = i > 0 && values[i - 1] !== null;
    d += `${joined ? "L" : "M"}${(1 + i * step).toFixed(1)},${y(v).toFixed(1)}`;
    if (!joined && (i === n - 1 || values[i + 1] === null)) {
      // a lone point: a dot, since a path of one point draws nothing
      el.append(svg("circle", { cx: (1 + i * step).toFixed(1), cy: y(v).toFixed(1), r: 1.8, class: "dot" }));
    }
  });
  if (d) el.append(svg("path", { d, class: "ok" }));
  return el;
}
