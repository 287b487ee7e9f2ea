// The JSON admin API (/api/v1) as the dashboard uses it: session cookie, CSRF header on
// every state-changing request, RFC 9457 problems turned into ApiError.

let csrfToken = null;

export class ApiError extends Error {
  constructor(status, problem) {
    const detail = (problem && (problem.detail || problem.title)) || `HTTP ${status}`;
    super(detail);
    this.status = status;
    this.problem = problem || {};
  }
}

/** The query string of `params`, without empty values. */
export function query(params) {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v !== undefined && v !== null && v !== "" && v !== false) q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : "";
}

/** Sends the user to the sign-in page, coming back here afterwards. */
export function toLogin() {
  const next = location.pathname + location.search;
  location.assign(`/login${query({ next })}`);
}

/** Calls the API; returns the parsed body (null for 204). Throws ApiError. */
export async function api(path, { method = "GET", body, params, redirect401 = true } = {}) {
  const headers = { Accept: "application/json" };
  const init = { method, headers, credentials: "same-origin", cache: "no-store" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  if (method !== "GET" && method !== "HEAD" && csrfToken) headers["X-CSRF-Token"] = csrfToken;
  let resp;
  try {
    resp = await fetch(`/api/v1${path}${query(params)}`, init);
  } catch (err) {
    throw new ApiError(0, { title: "The console cannot be reached", detail: String(err.message || err) });
  }
  if (resp.status === 204) return null;
  const type = resp.headers.get("Content-Type") || "";
  const data = type.includes("json") ? await resp.json().catch(() => null) : await resp.text();
  if (!resp.ok) {
    if (resp.status === 401 && redirect401) toLogin();
    throw new ApiError(resp.status, typeof data === "object" ? data : { detail: String(data).slice(0, 200) });
  }
  return data;
}

/** The current session (user, role, establishments, csrf_token); remembers the CSRF token. */
export async function getSession({ redirect401 = true } = {}) {
  const s = await api("/session", { redirect401 });
  csrfToken = s.csrf_token;
  return s;
}

export async function signIn(username, password) {
  const s = await api("/session", { method: "POST", body: { username, password }, redirect401: false });
  csrfToken = s.csrf_token;
  return s;
}

export async function signOut() {
  await api("/session", { method: "DELETE", redirect401: false });
  csrfToken = null;
}

const RANK = { viewer: 0, operator: 1, admin: 2 };

/** True when `session`'s role is at least `role`. */
export function can(session, role) {
  return (RANK[session && session.role] ?? -1) >= RANK[role];
}
