// The moderator review API (crisis contract): built on the console's request helper, so the
// login, the staff cookie and the CSRF token are the same ones the console uses.

import { request } from "../console/api.js";

export const items = (status) => request("GET", `/api/review/items?status=${status === "all" ? "all" : "open"}`);
export const item = (id) => request("GET", `/api/review/items/${encodeURIComponent(id)}`);
export const act = (id, body) => request("POST", `/api/review/items/${encodeURIComponent(id)}/action`, body);
export const lexicon = () => request("GET", "/api/review/lexicon");
export const changeLexicon = (body) => request("POST", "/api/review/lexicon", body);

/** The server's own words for a refusal, when it gave some. */
export function why(result, fallback) {
  if (result.status === 0) return "The server cannot be reached. Check the connection and try again.";
  if (result.status === 403) return "Refused: your session may lack the moderator role. Reload the page.";
  const detail = result.body && typeof result.body.detail === "string" ? result.body.detail : "";
  return detail ? `${fallback}: ${detail}` : `${fallback} (error ${result.status}).`;
}
