// Page start-up: the session (or the sign-in page), the user box, role-aware navigation.

import { can, getSession, signOut } from "./api.js";
import { errorText, fill, h, notice } from "./ui.js";

/**
 * Loads the session then calls `render(app, session)`; a 401 goes to /login, other
 * failures are shown in the page. `minRole` hides the page from lower roles.
 */
export async function boot(render, { minRole = "viewer" } = {}) {
  const app = document.getElementById("app");
  let session;
  try {
    session = await getSession();
  } catch (err) {
    if (err.status !== 401) fill(app, notice("error", errorText(err)));
    return;
  }
  const who = document.getElementById("who");
  if (who) {
    const scope = session.establishments && session.establishments.length
      ? ` · ${session.establishments.join(", ")}` : "";
    fill(who,
      h("span", { class: "user", "data-role": session.role }, `${session.user} (${session.role}${scope})`),
      h("button", { type: "button", class: "link", onclick: async () => {
        try { await signOut(); } finally { location.assign("/login"); }
      } }, "Sign out"));
  }
  for (const a of document.querySelectorAll("[data-nav]")) {
    const need = { audit: "operator", admin: "admin" }[a.dataset.nav];
    if (need && !can(session, need)) a.parentElement.hidden = true;
  }
  if (!can(session, minRole)) {
    fill(app, notice("error", `This page needs the ${minRole} role.`));
    return;
  }
  try {
    await render(app, session);
  } catch (err) {
    fill(app, notice("error", errorText(err)));
  }
}

/** Posts an action; shows the outcome in `out` (a live region); returns the body or null. */
export async function act(out, label, call) {
  fill(out, h("span", { role: "status" }, `${label}…`));
  try {
    const result = await call();
    fill(out, notice("ok", `${label}: done${result && result.note ? ` — ${result.note}` : ""}.`));
    return result ?? {};
  } catch (err) {
    fill(out, notice("error", `${label} failed: ${errorText(err)}`));
    return null;
  }
}
