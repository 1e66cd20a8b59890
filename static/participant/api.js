// The participant HTTP API (PROTOCOL.md): same origin only, JSON in and out.

async function request(method, path, body) {
  const init = {
    method,
    credentials: "same-origin",
    cache: "no-store",
    headers: { Accept: "application/json" },
  };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    return { status: 0, body: null }; // the network is down or the server is unreachable
  }
  let data = null;
  if (response.status !== 204) {
    try {
      data = await response.json();
    } catch {
      data = null;
    }
  }
  return { status: response.status, body: data, date: response.headers.get("date") };
}

export const getInfo = () => request("GET", "/api/info");
export const getSession = () => request("GET", "/api/session");
export const createSession = (version) =>
  request("POST", "/api/session", { consent_version: version, accept: true });
export const deleteSession = () => request("DELETE", "/api/session");

/** A readable sentence for a failed call, from the server's `detail` when it sent one. */
export function failureText(result, fallback) {
  if (result.status === 0) return "Peerline cannot be reached. Check your connection and try again.";
  const detail = result.body && typeof result.body.detail === "string" ? result.body.detail : "";
  if (detail) return `${fallback} (${detail})`;
  return fallback;
}
