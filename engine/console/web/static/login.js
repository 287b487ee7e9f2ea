// The sign-in page: a local account form (and OpenID Connect when the console offers it).

import { getSession, signIn } from "./api.js";
import { errorText, fill, h, notice } from "./ui.js";

function nextUrl() {
  const next = new URLSearchParams(location.search).get("next") || "/";
  // only a path of this console: no scheme, no protocol-relative "//host"
  return next.startsWith("/") && !next.startsWith("//") && !next.startsWith("/\\") ? next : "/";
}

async function main() {
  const app = document.getElementById("app");
  try {
    await getSession({ redirect401: false });
    location.replace(nextUrl());
    return;
  } catch {
    // not signed in: show the form
  }
  const out = h("div", { id: "login-error", "aria-live": "assertive" });
  const user = h("input", { id: "username", name: "username", autocomplete: "username", required: true, autofocus: true });
  const pass = h("input", { id: "password", name: "password", type: "password", autocomplete: "current-password", required: true });
  const form = h("form", { class: "login", "aria-describedby": "login-error" },
    h("p", {}, h("label", { for: "username" }, "User name"), user),
    h("p", {}, h("label", { for: "password" }, "Password"), pass),
    h("p", {}, h("button", { type: "submit", class: "primary" }, "Sign in")),
    out,
    document.body.dataset.oidc
      ? h("p", {}, h("a", { href: "/api/v1/session/oidc", id: "oidc-login" }, "Sign in with your organisation (single sign-on)"))
      : null);
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    fill(out);
    try {
      await signIn(user.value, pass.value);
      location.assign(nextUrl());
    } catch (err) {
      pass.value = "";
      fill(out, notice("error", err.status === 401 ? "Wrong user name or password." : errorText(err)));
      pass.focus();
    }
  });
  fill(app, form);
  user.focus();
}

main();
