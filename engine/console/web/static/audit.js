// The audit trail: who did what, on what, when, with what outcome; filters in the
// address, keyset paging, and (admins) the JSON-lines export of the same filters.

import { can, query, api } from "./api.js";
import { boot } from "./layout.js";
import { badge, empty, errorText, fill, h, notice, table, toIso, toLocal, when } from "./ui.js";

const KEYS = ["actor", "action", "object", "since", "until"];
const ACTIONS = ["login", "logout", "payload.view", "replay", "release", "destination.pause",
  "destination.resume", "channel.stop", "channel.start", "config.reload"];

async function render(app, session) {
  const url = new URLSearchParams(location.search);
  const inputs = {
    actor: h("input", { value: url.get("actor") || "", autocomplete: "off" }),
    action: h("input", { value: url.get("action") || "", list: "audit-actions", autocomplete: "off" }),
    object: h("input", { value: url.get("object") || "", autocomplete: "off", spellcheck: "false" }),
    since: h("input", { type: "datetime-local", value: toLocal(url.get("since")) }),
    until: h("input", { type: "datetime-local", value: toLocal(url.get("until")) }),
  };
  const field = (k, label) => {
    inputs[k].id = `audit-${k}`;
    return h("div", { class: "field" }, h("label", { for: `audit-${k}` }, label), inputs[k]);
  };
  const values = (before) => {
    const q = {};
    for (const k of KEYS) {
      const v = inputs[k].value.trim();
      if (v) q[k] = k === "since" || k === "until" ? toIso(v) : v;
    }
    if (before) q.before = before;
    return q;
  };
  const exportLink = h("a", { id: "audit-export", href: "/api/v1/audit/export", download: "audit.jsonl", hidden: !can(session, "admin") }, "Export (JSON lines)");
  const form = h("form", { class: "filters", role: "search", "aria-label": "Audit filters" },
    h("datalist", { id: "audit-actions" }, ACTIONS.map((a) => h("option", { value: a }))),
    h("div", { class: "row" }, field("actor", "Who"), field("action", "Action"), field("object", "Object (message id, destination…)"),
      field("since", "From"), field("until", "To")),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Filter"), exportLink),
    can(session, "admin") ? null : h("p", { class: "hint" }, "Operators see their own entries; administrators see everyone's."));
  const results = h("section", { id: "audit-results", "aria-live": "polite", "aria-label": "Audit entries" });
  fill(app, form, results);

  async function load(before, push) {
    const q = values(before);
    if (push) history.pushState(null, "", `/audit${query(q)}`);
    const { before: _b, ...filters } = q;
    exportLink.href = `/api/v1/audit/export${query(filters)}`;
    fill(results, h("p", { role: "status" }, "Loading…"));
    let page;
    try {
      page = await api("/audit", { params: { ...q, limit: 100 } });
    } catch (err) {
      fill(results, notice("error", errorText(err)));
      return;
    }
    const rows = page.items.map((e) => [when(e.at), e.actor, e.action,
      /^[0-9A-HJKMNP-TV-Z]{26}$/.test(e.object) ? h("a", { href: `/messages/${e.object}`, class: "mono" }, e.object) : e.object,
      badge(e.outcome), e.detail || "", e.client || ""]);
    fill(results,
      rows.length ? h("div", { class: "scroll" }, table("!Audit entries, newest first", ["At", "Who", "Action", "Object", "Outcome", "Detail", "Client"], rows, { class: "grid", id: "audit-table" }))
        : empty("No audit entry matches."),
      h("nav", { class: "pager", "aria-label": "Pages" },
        before ? h("button", { type: "button", onclick: () => load(null, true) }, "← Newest") : null,
        page.next ? h("button", { type: "button", onclick: () => load(page.next, true) }, "Older →") : null));
  }
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(null, true); });
  window.addEventListener("popstate", () => location.reload());
  await load(url.get("before"), false);
}

boot(render, { minRole: "operator" });
