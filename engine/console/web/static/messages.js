// The message browser: filters in the address (except patient identifiers, which stay in
// this tab's sessionStorage), newest first, keyset paging with the API's "next" cursor.

import { api, can } from "./api.js";
import { boot } from "./layout.js";
import { badge, empty, errorText, fill, h, notice, toIso, toLocal, when } from "./ui.js";

const MESSAGE_STATES = ["received", "processing", "routed", "filtered", "unmatched", "error", "rejected"];
const DELIVERY_STATES = ["pending", "retrying", "sent", "dead"];
const WINDOWS = { "15m": 900, "1h": 3600, "24h": 86400, "7d": 604800 };
const URL_KEYS = ["state", "channel", "route", "destination", "delivery_state", "window", "since", "until", "control_id", "limit"];
const PAGE_SIZES = ["25", "50", "100", "200"];
const PATIENT_KEYS = ["ipp", "nda", "ins"];
const PATIENT_STORE = "passerelle.patient.";

// A patient search lives in this tab's sessionStorage under a random token that only the
// history entry of that search holds (history.state): back, forward and reload restore
// it, while a fresh link (an overview count, a bookmark) starts without it.
function readPatient() {
  const token = history.state && history.state.patient;
  if (!token) return {};
  try { return JSON.parse(sessionStorage.getItem(PATIENT_STORE + token) || "{}"); } catch { return {}; }
}

function savePatient(p) {
  if (!Object.keys(p).length) return null;
  const token = (history.state && history.state.patient && JSON.stringify(readPatient()) === JSON.stringify(p))
    ? history.state.patient : crypto.getRandomValues(new Uint32Array(2)).join("-");
  sessionStorage.setItem(PATIENT_STORE + token, JSON.stringify(p));
  return token;
}

function forgetPatients() {
  for (const k of Object.keys(sessionStorage)) if (k.startsWith(PATIENT_STORE)) sessionStorage.removeItem(k);
}

function field(id, label, control, hint) {
  control.id = id;
  control.name = id;
  return h("div", { class: "field" }, h("label", { for: id }, label), control, hint && h("small", { id: `${id}-hint` }, hint));
}

function select(values, current, anyLabel) {
  return h("select", {}, h("option", { value: "" }, anyLabel),
    values.map((v) => h("option", { value: v, selected: v === current }, v.replaceAll("_", " "))));
}

async function render(app, session) {
  const operator = can(session, "operator");
  const url = new URLSearchParams(location.search);
  const names = await api("/overview").catch(() => ({ channels: [], destinations: [] }));
  const lists = h("div", {},
    h("datalist", { id: "channel-names" }, names.channels.map((c) => h("option", { value: c.name }))),
    h("datalist", { id: "destination-names" }, names.destinations.map((d) => h("option", { value: d.name }))));

  const f = {
    state: select(MESSAGE_STATES, url.get("state"), "any state"),
    channel: h("input", { list: "channel-names", value: url.get("channel") || "", autocomplete: "off" }),
    route: h("input", { value: url.get("route") || "", autocomplete: "off" }),
    destination: h("input", { list: "destination-names", value: url.get("destination") || "", autocomplete: "off" }),
    delivery_state: select(DELIVERY_STATES, url.get("delivery_state"), "any delivery state"),
    window: h("select", {}, h("option", { value: "" }, "any time"),
      Object.keys(WINDOWS).map((w) => h("option", { value: w, selected: url.get("window") === w }, `last ${w}`))),
    since: h("input", { type: "datetime-local", value: toLocal(url.get("since")) }),
    until: h("input", { type: "datetime-local", value: toLocal(url.get("until")) }),
    control_id: h("input", { value: url.get("control_id") || "", autocomplete: "off", spellcheck: "false" }),
    limit: h("select", {}, [...new Set([...PAGE_SIZES, url.get("limit") || "50"])].map((n) =>
      h("option", { value: n === "50" ? "" : n, selected: n === (url.get("limit") || "50") }, n))),
  };
  const patient = readPatient();
  const p = Object.fromEntries(PATIENT_KEYS.map((k) => [k, h("input", { value: patient[k] || "", autocomplete: "off", spellcheck: "false" })]));

  const patientBox = operator
    ? h("fieldset", { class: "patient" }, h("legend", {}, "Patient"),
      field("ipp", "IPP", p.ipp), field("nda", "NDA", p.nda), field("ins", "INS", p.ins),
      h("small", { class: "hint" }, "Patient identifiers stay in this browser tab only: never in the address, history or bookmarks."))
    : h("p", { class: "hint" }, "Searching by patient (IPP, NDA, INS) needs the operator role.");

  const form = h("form", { class: "filters", role: "search", "aria-label": "Message filters" },
    h("div", { class: "row" },
      field("state", "Message state", f.state), field("channel", "Channel", f.channel),
      field("route", "Route", f.route), field("destination", "Destination", f.destination),
      field("delivery_state", "Delivery state", f.delivery_state), field("control_id", "Control id (MSH-10)", f.control_id)),
    h("div", { class: "row" },
      field("window", "Received in", f.window), field("since", "From", f.since), field("until", "To", f.until),
      field("limit", "Per page", f.limit)),
    patientBox,
    h("div", { class: "buttons" },
      h("button", { type: "submit", class: "primary" }, "Search"),
      h("button", { type: "button", id: "clear-filters", onclick: () => {
        forgetPatients();
        location.assign("/messages");
      } }, "Clear")));

  const results = h("section", { id: "results", "aria-labelledby": "results-h", "aria-live": "polite" });
  fill(app, lists, form, results);

  function params(before) {
    const q = {};
    for (const k of URL_KEYS) {
      const v = f[k].value.trim();
      if (!v) continue;
      if (k === "since" || k === "until") q[k] = toIso(v);
      else q[k] = v;
    }
    if (before) q.before = before;
    return q;
  }

  async function load(before, push) {
    const q = params(before);
    const shown = new URLSearchParams(q).toString();
    const pat = {};
    if (operator) for (const k of PATIENT_KEYS) { const v = p[k].value.trim(); if (v) pat[k] = v; }
    const token = savePatient(pat);
    if (push) history.pushState(token ? { patient: token } : null, "", `/messages${shown ? `?${shown}` : ""}`);
    const apiq = { ...q };
    if (apiq.window) {
      if (!apiq.since) apiq.since = new Date(Date.now() - WINDOWS[apiq.window] * 1000).toISOString();
      delete apiq.window;
    }
    fill(results, h("h2", { id: "results-h" }, "Results"), h("p", { role: "status" }, "Searching…"));
    let page;
    try {
      page = await api("/messages", { params: { limit: 50, ...apiq, ...pat } });
    } catch (err) {
      const text = err.status === 409 ? `Patient search is not available: ${err.message}` : errorText(err);
      fill(results, h("h2", { id: "results-h" }, "Results"), notice("error", text));
      return;
    }
    const active = Object.keys(pat).length;
    const rows = page.items.map((m) => h("tr", { dataset: { id: m.id } },
      h("td", {}, when(m.received_at)),
      h("td", {}, h("a", { href: `/messages/${encodeURIComponent(m.id)}`, class: "mono" }, m.id)),
      h("td", {}, m.channel), h("td", {}, m.message_type || "—"),
      h("td", { class: "mono" }, m.control_id || "—"), h("td", {}, badge(m.state)),
      h("td", { class: "reason" }, m.reason || "")));
    fill(results, h("h2", { id: "results-h" }, "Results"),
      active ? notice("info", "Filtered on a patient identifier (kept in this tab only).") : null,
      rows.length
        ? h("div", { class: "scroll" }, h("table", { class: "grid", id: "messages-table" },
          h("caption", { class: "sr-only" }, "Messages, newest first"),
          h("thead", {}, h("tr", {}, ["Received", "Message", "Channel", "Type", "Control id", "State", "Reason"].map((t) => h("th", { scope: "col" }, t)))),
          h("tbody", {}, rows)))
        : empty(before ? "No older messages." : "No message matches these filters."),
      h("nav", { class: "pager", "aria-label": "Pages" },
        before ? h("button", { type: "button", onclick: () => load(null, true) }, "← Newest") : null,
        page.next ? h("button", { type: "button", id: "next-page", onclick: () => load(page.next, true) }, "Older →") : null));
  }

  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(null, true); });
  window.addEventListener("popstate", () => location.reload());
  await load(url.get("before"), false);
}

boot(render);
