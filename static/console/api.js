// The staff HTTP API (/tmp/staff-contract.md): same origin only, JSON in and out.
// State-changing calls carry the CSRF token the server handed out at login (or in /me).

let csrf = "";

export function setCsrf(token) {
  csrf = typeof token === "string" ? token : "";
}

export async function request(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  };
  if (method !== "GET" && csrf) init.headers["X-CSRF-Token"] = csrf;
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { status: 0, body: null, headers: null }; // network down or server unreachable
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { status: response.status, body: data, headers: response.headers };
}

export const login = (username, password, totp) =>
  request("POST", "/api/staff/login", { username, password, totp });
export const me = () => request("GET", "/api/staff/me");
export const logout = () => request("POST", "/api/staff/logout");
export const roster = () => request("GET", "/api/staff/roster");
export const info = () => request("GET", "/api/info");
