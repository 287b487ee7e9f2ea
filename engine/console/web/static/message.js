// One message: facts, routing, history, deliveries with their attempts; for operators the
// raw message (segments laid out), the ACK, what was sent to each destination and the
// response (each view is audited by the API), replay with a dry-run first, release.

import { api, can } from "./api.js";
import { act, boot } from "./layout.js";
import { badge, empty, errorText, facts, fill, h, notice, table, when } from "./ui.js";

function messageId() {
  return decodeURIComponent(location.pathname.split("/")[2] || "");
}

/** Pretty-printed JSON when the text is JSON, the text otherwise. */
function pretty(text, contentType = "") {
  if (text === null || text === undefined) return "";
  if (contentType.includes("json") || /^\s*[[{]/.test(text)) {
    try { return JSON.stringify(JSON.parse(text), null, 2); } catch { /* not JSON after all */ }
  }
  return text;
}

function code(text, label, cls = "") {
  return h("pre", { class: `code ${cls}`, tabindex: "0", "aria-label": label }, text);
}

function segmentsView(raw) {
  if (!raw.segments || !raw.segments.length) return code(raw.text, "Raw message", "raw");
  return h("div", { class: "scroll" }, h("table", { class: "segments", id: "segments" },
    h("caption", { class: "sr-only" }, "Segments of the message, fields numbered"),
    h("thead", {}, h("tr", {}, h("th", { scope: "col" }, "Segment"), h("th", { scope: "col" }, "Fields"))),
    h("tbody", {}, raw.segments.map((s) => h("tr", {},
      h("th", { scope: "row", class: "mono" }, s.name),
      h("td", {}, s.fields.map((v, i) => v === "" ? null : h("span", { class: "field-v" },
        h("span", { class: "fnum" }, `${s.name}-${i + 1}`), String(v)))))))));
}

function rawSection(id, operator) {
  const body = h("div", { id: "raw-body" });
  const el = h("section", { id: "raw", "aria-labelledby": "raw-h" }, h("h2", { id: "raw-h" }, "Raw message and ACK"), body);
  if (!operator) {
    fill(body, h("p", { class: "hint" }, "The raw message and the ACK need the operator role."));
    return el;
  }
  const show = h("button", { type: "button", id: "show-raw", onclick: async () => {
    fill(body, h("p", { role: "status" }, "Loading…"));
    try {
      const [raw, ack] = await Promise.all([api(`/messages/${encodeURIComponent(id)}/raw`), api(`/messages/${encodeURIComponent(id)}/ack`)]);
      const asText = h("details", {}, h("summary", {}, "As text"), code(raw.text, "Raw message text", "raw"));
      fill(body,
        h("p", { class: "muted" }, `${raw.format} · ${raw.charset} · ${raw.size} bytes${raw.truncated ? " (shown truncated)" : ""} · this view is recorded in the audit trail`),
        raw.format === "hl7v2" ? [segmentsView(raw), asText] : code(pretty(raw.text), "Raw message", "raw"),
        h("h3", {}, "ACK returned to the sender"),
        ack.ack ? code(ack.ack, "ACK", "ack") : empty(ack.note || "No ACK recorded."));
    } catch (err) {
      fill(body, notice("error", errorText(err)), show);
    }
  } }, "Show raw message and ACK");
  fill(body, h("p", { class: "hint" }, "Contains patient data; opening it is recorded in the audit trail."), show);
  return el;
}

function payloadView(items, note) {
  if (!items.length) return empty(note || "No payload kept for this delivery (budget or retention).");
  return items.map((it) => h("div", { class: "payload", dataset: { attempt: it.number } },
    h("h4", {}, `Attempt ${it.number}`),
    h("div", { class: "pair" },
      h("div", {}, h("h5", {}, `Sent${it.sent ? ` (${it.sent.content_type || "?"})` : ""}`),
        it.sent ? code(pretty(it.sent.text, it.sent.content_type), `Payload sent at attempt ${it.number}`, "sent") : empty("Not kept (same as the stored message, or past the retention budget)."),
        it.sent && it.sent.truncated ? h("p", { class: "hint" }, "Shown truncated.") : null),
      h("div", {}, h("h5", {}, `Response${it.response ? ` (${it.response.content_type || "?"})` : ""}`),
        it.response ? code(pretty(it.response.text, it.response.content_type), `Response to attempt ${it.number}`, "response") : empty("No response kept.")))));
}

function deliveryCard(m, d, operator, reload) {
  const out = h("div", { "aria-live": "polite" });
  const payloads = h("div", { class: "payloads" });
  const buttons = [];
  if (operator) {
    buttons.push(h("button", { type: "button", class: "show-payloads", onclick: async () => {
      fill(payloads, h("p", { role: "status" }, "Loading…"));
      try {
        const r = await api(`/deliveries/${encodeURIComponent(d.id)}/payloads`);
        fill(payloads, payloadView(r.items || [], r.note));
      } catch (err) {
        fill(payloads, notice("error", errorText(err)));
      }
    } }, "Show what was sent"));
    if (d.state === "dead" && !d.released) {
      buttons.push(h("button", { type: "button", class: "release", onclick: async () => {
        if (await act(out, `Release ${d.destination}`, () => api(`/deliveries/${encodeURIComponent(d.id)}/release`, { method: "POST" }))) {
          reload(`Released at ${d.destination}: the messages waiting behind it go on.`);
        }
      } }, "Release (let later messages go on)"));
    }
  }
  const log = (d.attempt_log || []).map((a) => [String(a.number), when(a.at), badge(a.outcome), a.detail || ""]);
  return h("section", { class: "delivery", dataset: { destination: d.destination, state: d.state }, "aria-labelledby": `d-${d.id}` },
    h("h3", { id: `d-${d.id}` }, `${d.destination} `, badge(d.state), h("span", { class: "sub" }, ` route ${d.route}`)),
    facts([["Attempts", String(d.attempts)], ["Last error", d.last_error || "—"],
      ["Next attempt", when(d.next_attempt_at)], ["Released", d.released ? "yes" : "no"]]),
    log.length ? table(`Attempts to ${d.destination}`, ["#", "At", "Outcome", "Detail"], log, { class: "grid attempts" }) : empty("No attempt yet."),
    buttons.length ? h("div", { class: "buttons" }, buttons) : null,
    operator ? null : h("p", { class: "hint" }, "What was sent needs the operator role."),
    out, payloads);
}

function replaySection(m, follow) {
  const out = h("div", { id: "replay-out", "aria-live": "polite" });
  const dest = h("select", { id: "replay-destination" }, h("option", { value: "" }, "every route that applies"),
    [...new Set(m.deliveries.map((d) => d.destination))].map((n) => h("option", { value: n }, n)));
  const resend = h("input", { type: "checkbox", id: "replay-resend" });
  const body = () => ({ destination: dest.value || undefined, resend_sent: resend.checked });
  const preview = h("button", { type: "button", id: "replay-preview", onclick: async () => {
    fill(out, h("p", { role: "status" }, "Checking what a replay would do…"));
    let dry;
    try {
      dry = await api(`/messages/${encodeURIComponent(m.id)}/replay`, { method: "POST", body: { ...body(), dry_run: true } });
    } catch (err) {
      fill(out, notice("error", errorText(err)));
      return;
    }
    const rows = (dry.routes || []).map((r) => [r.route, r.destination, r.mapping || "—"]);
    const confirmBtn = h("button", { type: "button", class: "primary", id: "replay-confirm", disabled: !dry.would_replay, onclick: async () => {
      const done = await act(out, "Replay", () => api(`/messages/${encodeURIComponent(m.id)}/replay`, { method: "POST", body: body() }));
      if (done) follow(`Replayed${done.note ? `: ${done.note}` : ""}. Following its deliveries…`, m);
    } }, "Replay now");
    fill(out, h("div", { class: "preview", id: "replay-preview-result" },
      h("h3", {}, "Dry run: what a replay would do now"),
      rows.length ? table("Routes and maps that would apply", ["Route", "Destination", "Map"], rows, { class: "grid" }) : empty("No route applies."),
      dry.note ? h("p", {}, dry.note) : null,
      h("div", { class: "buttons" }, confirmBtn, h("button", { type: "button", onclick: () => fill(out) }, "Cancel"))));
    confirmBtn.focus();
  } }, "Preview replay…");
  return h("section", { id: "actions", "aria-labelledby": "actions-h" }, h("h2", { id: "actions-h" }, "Replay"),
    h("div", { class: "row" },
      h("div", { class: "field" }, h("label", { for: "replay-destination" }, "Destination"), dest),
      h("div", { class: "field check" }, resend, h("label", { for: "replay-resend" }, "also resend deliveries already sent"))),
    h("div", { class: "buttons" }, preview), out);
}

async function render(app, session) {
  const id = messageId();
  const operator = can(session, "operator");
  /** Re-renders the page; `flash` (optional) is shown at the top. Returns the message. */
  async function reload(flash = null) {
    const m = await api(`/messages/${encodeURIComponent(id)}`);
    const meta = Object.entries(m.metadata || {}).map(([k, v]) => [k, typeof v === "object" ? JSON.stringify(v) : String(v)]);
    const hist = (m.history || []).map((e) => [when(e.at), e.from ? badge(e.from) : "—", badge(e.to), e.reason || ""]);
    fill(app,
      h("p", { class: "crumbs" }, h("a", { href: "/messages" }, "← Messages")),
      flash ? notice("ok", flash) : null,
      h("section", { id: "summary", "aria-labelledby": "summary-h" },
        h("h2", { id: "summary-h" }, h("span", { class: "mono" }, m.id), " ", badge(m.state)),
        facts([["Channel", m.channel], ["Type", m.message_type || "—"], ["Control id", h("span", { class: "mono" }, m.control_id || "—")],
          ["Received", when(m.received_at)], ["Updated", when(m.updated_at)], ["Reason", m.reason || "—"]])),
      h("section", { id: "deliveries", "aria-labelledby": "deliveries-h" }, h("h2", { id: "deliveries-h" }, "Deliveries"),
        m.deliveries.length ? m.deliveries.map((d) => deliveryCard(m, d, operator, reload)) : empty("No delivery (filtered, unmatched or not routed yet).")),
      operator ? replaySection(m, follow) : null,
      h("section", { id: "routing", "aria-labelledby": "routing-h" }, h("h2", { id: "routing-h" }, "Routing facts"),
        meta.length ? h("div", { class: "wide-facts" }, facts(meta)) : empty("No routing facts recorded.")),
      h("section", { id: "history", "aria-labelledby": "history-h" }, h("h2", { id: "history-h" }, "History"),
        hist.length ? table("!State changes", ["At", "From", "To", "Reason"], hist, { class: "grid" }) : empty("No history.")),
      rawSection(id, operator));
    return m;
  }
  /** After an action: re-read the message every second until its deliveries settle (20 s). */
  async function follow(flash, before) {
    const facts0 = JSON.stringify(before.deliveries.map((d) => [d.id, d.state, d.attempts]));
    for (let i = 0; i < 20; i++) {
      await new Promise((r) => setTimeout(r, i ? 1000 : 300));
      const m = await reload(flash).catch(() => null);
      const moved = m && JSON.stringify(m.deliveries.map((d) => [d.id, d.state, d.attempts])) !== facts0;
      if (moved && m.deliveries.every((d) => d.state === "sent" || d.state === "dead")) {
        await reload(flash.replace(" Following its deliveries…", ""));
        return;
      }
    }
  }
  try {
    await reload();
  } catch (err) {
    fill(app, h("p", { class: "crumbs" }, h("a", { href: "/messages" }, "← Messages")), notice("error", errorText(err)));
  }
}

boot(render);
