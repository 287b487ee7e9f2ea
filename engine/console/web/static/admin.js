// Administration: accounts (role, establishments, disabled), API tokens (secret shown
// once), configuration reload. Admin role only; the API refuses anyone else anyway.

import { api } from "./api.js";
import { act, boot } from "./layout.js";
import { empty, errorText, fill, h, notice, table, when } from "./ui.js";

const ROLES = ["viewer", "operator", "admin"];

function roleSelect(id, current = "viewer") {
  return h("select", { id }, ROLES.map((r) => h("option", { value: r, selected: r === current }, r)));
}

function field(label, control) {
  return h("div", { class: "field" }, h("label", { for: control.id }, label), control);
}

async function render(app) {
  const out = h("div", { id: "admin-out", "aria-live": "polite" });
  const accounts = h("div", {});
  const tokens = h("div", {});

  async function loadAccounts() {
    try {
      const r = await api("/accounts");
      const items = r.items || r;
      fill(accounts, items.length ? table("!Accounts", ["Name", "Role", "Establishments", "Source", "State", ""], items.map((a) => [
        a.name, a.role, (a.establishments || []).join(", ") || "all", a.source || "local", a.disabled ? "disabled" : "active",
        h("span", { class: "buttons" },
          h("button", { type: "button", onclick: async () => {
            if (await act(out, `${a.disabled ? "Enable" : "Disable"} ${a.name}`, () => api(`/accounts/${encodeURIComponent(a.name)}`, { method: "PATCH", body: { disabled: !a.disabled } }))) loadAccounts();
          } }, a.disabled ? "Enable" : "Disable"),
          h("button", { type: "button", class: "danger", onclick: async () => {
            if (confirm(`Delete account ${a.name}?`) && await act(out, `Delete ${a.name}`, () => api(`/accounts/${encodeURIComponent(a.name)}`, { method: "DELETE" }))) loadAccounts();
          } }, "Delete")),
      ]), { class: "grid" }) : empty("No account."));
    } catch (err) {
      fill(accounts, notice("error", errorText(err)));
    }
  }

  async function loadTokens() {
    try {
      const r = await api("/tokens");
      const items = r.items || r;
      fill(tokens, items.length ? table("!API tokens", ["Id", "Account", "Label", "Role", "Created", "Expires", "Last used", ""], items.map((t) => [
        h("span", { class: "mono" }, t.id), t.account, t.label, t.role, when(t.created_at), when(t.expires_at), when(t.last_used_at),
        t.revoked ? "revoked" : h("button", { type: "button", class: "danger", onclick: async () => {
          if (await act(out, `Revoke token ${t.id}`, () => api(`/tokens/${encodeURIComponent(t.id)}`, { method: "DELETE" }))) loadTokens();
        } }, "Revoke"),
      ]), { class: "grid" }) : empty("No API token."));
    } catch (err) {
      fill(tokens, notice("error", errorText(err)));
    }
  }

  const a = { name: h("input", { id: "acc-name", required: true, autocomplete: "off" }), role: roleSelect("acc-role"),
    password: h("input", { id: "acc-password", type: "password", autocomplete: "new-password", minlength: 12 }),
    est: h("input", { id: "acc-est", placeholder: "FINESS, comma-separated; empty = all", autocomplete: "off" }) };
  const accountForm = h("form", { class: "filters", "aria-label": "New account" },
    h("div", { class: "row" }, field("Name", a.name), field("Role", a.role), field("Password", a.password), field("Establishments", a.est)),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Create account")));
  accountForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const establishments = a.est.value.split(",").map((s) => s.trim()).filter(Boolean);
    const body = { name: a.name.value.trim(), role: a.role.value, password: a.password.value || undefined, establishments };
    if (await act(out, `Create ${body.name}`, () => api("/accounts", { method: "POST", body }))) {
      accountForm.reset();
      loadAccounts();
    }
  });

  const t = { label: h("input", { id: "tok-label", required: true, autocomplete: "off" }), role: roleSelect("tok-role"),
    account: h("input", { id: "tok-account", autocomplete: "off", placeholder: "yourself when empty" }),
    days: h("input", { id: "tok-days", type: "number", min: 1, inputmode: "numeric", placeholder: "never" }) };
  const secret = h("div", { "aria-live": "polite" });
  const tokenForm = h("form", { class: "filters", "aria-label": "New API token" },
    h("div", { class: "row" }, field("Label", t.label), field("Role", t.role), field("Account", t.account), field("Expires in (days)", t.days)),
    h("div", { class: "buttons" }, h("button", { type: "submit", class: "primary" }, "Create token")), secret);
  tokenForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const days = parseInt(t.days.value, 10);
    const body = { label: t.label.value.trim(), role: t.role.value, account: t.account.value.trim() || undefined,
      expires_in: days > 0 ? days * 86400 : undefined };
    const made = await act(out, "Create token", () => api("/tokens", { method: "POST", body }));
    if (made) {
      fill(secret, notice("ok", "Copy the secret now: it is not shown again. ", h("code", { id: "token-secret" }, made.secret || made.token || "")));
      tokenForm.reset();
      loadTokens();
    }
  });

  const reload = h("button", { type: "button", onclick: () => act(out, "Reload the configuration", () => api("/reload", { method: "POST" })) }, "Reload routes.yaml");

  fill(app, out,
    h("section", { "aria-labelledby": "acc-h" }, h("h2", { id: "acc-h" }, "Accounts"), accounts, h("h3", {}, "New account"), accountForm),
    h("section", { "aria-labelledby": "tok-h" }, h("h2", { id: "tok-h" }, "API tokens"), tokens, h("h3", {}, "New token"), tokenForm),
    h("section", { "aria-labelledby": "cfg-h" }, h("h2", { id: "cfg-h" }, "Configuration"),
      h("p", {}, "Reloads routes.yaml as SIGHUP does; an invalid file is refused and the running configuration stays."), reload));
  await Promise.all([loadAccounts(), loadTokens()]);
}

boot(render, { minRole: "admin" });
