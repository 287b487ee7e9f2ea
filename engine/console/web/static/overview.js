// The overview: every channel and destination, problems first, refreshed in place every
// few seconds (rows are replaced only when their figures change, so focus stays put).

import { api, can } from "./api.js";
import { boot, act } from "./layout.js";
import { ageEl, badge, errorText, fill, h, notice, refreshAges, sparkline, when } from "./ui.js";

const REFRESH_MS = 4000;
const WINDOW = 3600;
const BUCKET = 60;

const CHANNEL_RANK = { failed: 0, stopped: 1, unknown: 2, listening: 4 };
const DEST_RANK = { circuit_open: 0, failing: 1, half_open: 2, paused: 3, ok: 5 };

function channelRank(c) {
  let r = CHANNEL_RANK[c.status] ?? 2;
  if (r > 3 && ((c.counts.error || 0) + (c.counts.rejected || 0) > 0 && c.last_error_at)) r = 3;
  return r;
}

function destRank(d) {
  let r = DEST_RANK[d.status] ?? 2;
  if (r > 4 && (d.counts.dead || 0) > 0) r = 4;
  return r;
}

function byProblem(rank) {
  return (a, b) => rank(a) - rank(b) || a.name.localeCompare(b.name);
}

/** Series of the activity answer, keyed "kind:name", as arrays aligned on the window. */
function series(activity) {
  const out = new Map();
  if (!activity) return out;
  const bucket = activity.bucket * 1000;
  const since = new Date(activity.since).getTime();
  const n = Math.max(1, Math.round((WINDOW * 1000) / bucket));
  for (const s of activity.series || []) {
    const ok = new Array(n).fill(0), failed = new Array(n).fill(0), latency = new Array(n).fill(null);
    for (const p of s.points) {
      const i = Math.floor((new Date(p.start).getTime() - since) / bucket);
      if (i < 0 || i >= n) continue;
      ok[i] = p.ok; failed[i] = p.failed; latency[i] = p.latency_ms;
    }
    out.set(`${s.kind}:${s.name}`, { ok, failed, latency });
  }
  return out;
}

function sparks(s, what) {
  if (!s) return [h("span", { class: "muted" }, "no activity"), ""];
  const sent = s.ok.reduce((a, b) => a + b, 0), failed = s.failed.reduce((a, b) => a + b, 0);
  const lat = s.latency.filter((v) => v !== null);
  const mean = lat.length ? Math.round(lat.reduce((a, b) => a + b, 0) / lat.length) : null;
  return [
    sparkline(s.ok, { failed: s.failed, label: `Last hour: ${sent} ${what}, ${failed} failed, per minute` }),
    sparkline(s.latency, { kind: "latency", label: mean === null ? "No latency measured" : `Mean latency ${mean} ms over the last hour` }),
  ];
}

/** A count that links to the message browser filtered on it (plain text when zero). */
function countLink(n, params, label) {
  n = n || 0;
  if (!n) return h("span", { class: "zero" }, "0");
  const q = new URLSearchParams(params).toString();
  return h("a", { href: `/messages?${q}`, "aria-label": `${n} ${label}: show the messages` }, String(n));
}

/** The last error and its age; `recoveredAt` (a later success) marks it as fixed. */
function lastError(text, at, recoveredAt = null) {
  if (!text) return h("span", { class: "muted" }, "—");
  const fixed = recoveredAt && at && new Date(recoveredAt) > new Date(at);
  return h("div", { class: `err${fixed ? " fixed" : ""}` },
    fixed ? h("span", { class: "badge good" }, "recovered") : null, fixed ? " " : null,
    h("span", { class: "err-text" }, text), " ", ageEl(at));
}

function describe(name, type, establishment) {
  return h("div", {}, h("strong", {}, name),
    h("div", { class: "sub" }, [type, establishment && `FINESS ${establishment}`].filter(Boolean).join(" · ")));
}

function channelRow(c, s, ctx) {
  const k = c.counts, waiting = (k.received || 0) + (k.processing || 0);
  const p = (state) => ({ channel: c.name, state });
  const [thr, lat] = sparks(s, "messages");
  const action = ctx.operator ? (c.status === "stopped"
    ? h("button", { type: "button", "aria-label": `Start ${c.name}`, onclick: () => ctx.control(`/channels/${encodeURIComponent(c.name)}/start`, `Start ${c.name}`) }, "Start")
    : h("button", { type: "button", class: "danger", "aria-label": `Stop ${c.name}`, onclick: () => {
      if (confirm(`Stop channel ${c.name}? Senders will get no connection until it is started again.`)) {
        ctx.control(`/channels/${encodeURIComponent(c.name)}/stop`, `Stop ${c.name}`);
      }
    } }, "Stop")) : null;
  return [
    h("th", { scope: "row" }, describe(c.name, c.type, c.establishment)),
    badge(c.status),
    countLink(waiting, p("processing"), `waiting messages on ${c.name}`),
    countLink(k.routed, p("routed"), `routed messages on ${c.name}`),
    countLink(k.filtered, p("filtered"), `filtered messages on ${c.name}`),
    countLink(k.unmatched, p("unmatched"), `unmatched messages on ${c.name}`),
    countLink(k.error, p("error"), `messages in error on ${c.name}`),
    countLink(k.rejected, p("rejected"), `rejected messages on ${c.name}`),
    ageEl(c.oldest_waiting_at, ""),
    ageEl(c.last_received_at),
    lastError(c.last_error, c.last_error_at),
    thr, lat, action,
  ];
}

function destRow(d, s, ctx) {
  const k = d.counts;
  const p = (delivery_state) => ({ destination: d.name, delivery_state });
  const [thr, lat] = sparks(s, "sent");
  const circuit = d.circuit && d.circuit.state && d.circuit.state !== "closed"
    ? h("div", { class: "sub" }, `circuit ${d.circuit.state.replace("_", " ")}`,
      d.circuit.next_probe_at ? ` · next probe ${when(d.circuit.next_probe_at)}` : "") : null;
  const name = encodeURIComponent(d.name);
  const action = ctx.operator ? (d.status === "paused"
    ? h("button", { type: "button", "aria-label": `Resume ${d.name}`, onclick: () => ctx.control(`/destinations/${name}/resume`, `Resume ${d.name}`) }, "Resume")
    : h("button", { type: "button", "aria-label": `Pause ${d.name}`, onclick: () => ctx.control(`/destinations/${name}/pause`, `Pause ${d.name}`) }, "Pause")) : null;
  return [
    h("th", { scope: "row" }, describe(d.name, d.type, d.establishment)),
    h("div", {}, badge(d.status), circuit),
    countLink(d.backlog, p("pending"), `waiting deliveries to ${d.name}`),
    countLink(k.retrying, p("retrying"), `retrying deliveries to ${d.name}`),
    countLink(k.sent, p("sent"), `sent deliveries to ${d.name}`),
    countLink(k.dead, p("dead"), `dead letters at ${d.name}`),
    ageEl(d.oldest_waiting_at, ""),
    ageEl(d.last_sent_at),
    lastError(d.last_error, d.last_error_at, d.last_sent_at),
    thr, lat, action,
  ];
}

/** Keeps one <tr data-key> per item, re-rendering a row only when its signature changed. */
function syncRows(tbody, cols, items, key, signature, cells) {
  const old = new Map([...tbody.children].map((tr) => [tr.dataset.key, tr]));
  const rows = items.map((item) => {
    const k = key(item), sig = signature(item);
    let tr = old.get(k);
    if (!tr || tr.dataset.sig !== sig) {
      const fresh = h("tr", { dataset: { key: k, sig } });
      cells(item).forEach((c, i) => {
        const cell = c instanceof Node && c.tagName === "TH" ? c : h("td", {}, c);
        cell.dataset.col = cols[i].toLowerCase().replaceAll(" ", "-");
        fresh.append(cell);
      });
      if (tr && tr.contains(document.activeElement)) {
        // keep keyboard focus on the same control (by position: "Pause" becomes "Resume")
        const at = [...tr.querySelectorAll("button, a")].indexOf(document.activeElement);
        const col = document.activeElement.closest("[data-col]")?.dataset.col;
        queueMicrotask(() => {
          const same = [...fresh.querySelectorAll(`[data-col="${col}"] button, [data-col="${col}"] a`)];
          (same[0] || fresh.querySelectorAll("button, a")[at])?.focus();
        });
      }
      tr = fresh;
    }
    return tr;
  });
  if (rows.length !== tbody.children.length || rows.some((r, i) => tbody.children[i] !== r)) tbody.replaceChildren(...rows);
}

function section(id, title, headers) {
  const tbody = h("tbody", {});
  const tbl = h("table", { class: "grid", id: `${id}-table` },
    h("caption", { class: "sr-only" }, title),
    h("thead", {}, h("tr", {}, headers.map((t) => h("th", { scope: "col" }, t)))), tbody);
  const empty = h("p", { class: "empty", hidden: true }, `No ${title.toLowerCase()} to show.`);
  const el = h("section", { id, "aria-labelledby": `${id}-h` }, h("h2", { id: `${id}-h` }, title), h("div", { class: "scroll" }, tbl), empty);
  return { el, tbody, tbl, empty, headers };
}

function summary(o) {
  const chBad = o.channels.filter((c) => c.status !== "listening").length;
  const dBad = o.destinations.filter((d) => d.status !== "ok").length;
  const dead = o.destinations.reduce((a, d) => a + (d.counts.dead || 0), 0);
  const backlog = o.destinations.reduce((a, d) => a + (d.backlog || 0), 0);
  const oldest = [...o.destinations, ...o.channels].map((x) => x.oldest_waiting_at).filter(Boolean)
    .sort((a, b) => new Date(a) - new Date(b))[0];
  const tile = (label, value, bad, id) => h("div", { class: `tile ${bad ? "bad" : ""}`, id },
    h("span", { class: "value" }, value), h("span", { class: "label" }, label));
  return [
    tile("channels not listening", `${chBad} / ${o.channels.length}`, chBad > 0, "tile-channels"),
    tile("destinations with a problem", `${dBad} / ${o.destinations.length}`, dBad > 0, "tile-destinations"),
    h("a", { href: "/messages?delivery_state=dead", class: "tile-link" }, tile("dead letters", String(dead), dead > 0, "tile-dead")),
    tile("waiting deliveries", String(backlog), false, "tile-backlog"),
    tile("oldest waiting", oldest ? ageEl(oldest, "") : "—", false, "tile-oldest"),
  ];
}

async function render(app, session) {
  const operator = can(session, "operator");
  const out = h("div", { class: "actions-out", "aria-live": "polite" });
  const status = h("p", { class: "updated" });  // not a live region: it changes every few seconds
  const tiles = h("div", { class: "tiles", "aria-label": "Summary" });
  const cols = ["Channel", "Status", "Waiting", "Routed", "Filtered", "Unmatched", "Errors", "Rejected", "Oldest waiting", "Last received", "Last error", "Last hour", "Latency"];
  const dcols = ["Destination", "Status", "Backlog", "Retrying", "Sent", "Dead", "Oldest waiting", "Last sent", "Last error", "Last hour", "Latency"];
  const ch = section("channels", "Channels", operator ? [...cols, "Action"] : cols);
  const de = section("destinations", "Destinations", operator ? [...dcols, "Action"] : dcols);
  const nodes = h("p", { class: "nodes muted" });
  fill(app, status, out, tiles, de.el, ch.el, nodes);

  let activity = null, lastActivity = 0, lastFigures = "", timer = null;
  const ctx = {
    operator,
    control: async (path, label) => {
      if (await act(out, label, () => api(path, { method: "POST" }))) refresh();
    },
  };

  async function refresh() {
    clearTimeout(timer);
    try {
      const now = Date.now();
      const o = await api("/overview");
      // the sparklines follow when the figures move, and at least every 15 s
      const figures = JSON.stringify([o.channels.map((c) => c.counts), o.destinations.map((d) => d.counts)]);
      if (figures !== lastFigures || now - lastActivity > 15000 || !activity) {
        activity = await api("/activity", { params: { window: WINDOW, bucket: BUCKET } }).catch(() => activity);
        lastActivity = now;
        lastFigures = figures;
      }
      const s = series(activity);
      fill(tiles, summary(o));
      const chans = [...o.channels].sort(byProblem(channelRank));
      const dests = [...o.destinations].sort(byProblem(destRank));
      const sig = (kind) => (x) => JSON.stringify([x, s.get(`${kind}:${x.name}`)]);
      syncRows(ch.tbody, ch.headers, chans, (c) => c.name, sig("channel"), (c) => channelRow(c, s.get(`channel:${c.name}`), ctx));
      syncRows(de.tbody, de.headers, dests, (d) => d.name, sig("destination"), (d) => destRow(d, s.get(`destination:${d.name}`), ctx));
      refreshAges(app);
      ch.tbl.hidden = !chans.length; ch.empty.hidden = !!chans.length;
      de.tbl.hidden = !dests.length; de.empty.hidden = !!dests.length;
      fill(nodes, (o.nodes || []).length ? ["Engine nodes: ", o.nodes.map((n, i) => [i ? ", " : "",
        h("span", { class: n.alive ? "" : "bad-text" }, `${n.node} (pid ${n.pid}, ${n.alive ? "alive" : "no heartbeat"} — ${when(n.heartbeat_at)})`)])]
        : "No engine node has reported yet.");
      fill(status, `Updated ${new Date(now).toLocaleTimeString()} · refreshes every ${REFRESH_MS / 1000} s`);
      status.classList.remove("stale");
      app.classList.remove("stale-data");
    } catch (err) {
      if (err.status === 401) return;
      const text = `Could not refresh: ${errorText(err)} — showing the last figures, retrying.`;
      if (status.classList.contains("stale")) status.firstChild.textContent = text;  // announced once
      else fill(status, notice("error", text));
      status.classList.add("stale");
      app.classList.add("stale-data");
    }
    timer = setTimeout(refresh, document.hidden ? REFRESH_MS * 4 : REFRESH_MS);
  }
  document.addEventListener("visibilitychange", () => { if (!document.hidden) refresh(); });
  await refresh();
}

boot(render);
