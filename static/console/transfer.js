// The Transfer dialog: back to the queue, or to a supporter who is online now (from the
// roster). Calls done(to) with a staff id, or null for the queue.

import { byId, el, openDialog, setStatus } from "../participant/dom.js";
import * as api from "./api.js";

let onChosen = null;

export function setUpTransfer() {
  byId("transfer-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const picked = byId("transfer-form").querySelector("input[name=transfer-to]:checked");
    if (!picked) {
      setStatus("transfer-status", "Choose where the chat goes.", "error");
      return;
    }
    const done = onChosen;
    onChosen = null;
    byId("transfer-dialog").close();
    if (done) done(picked.value === "queue" ? null : picked.value);
  });
}

function choice(id, value, label, detail, checked = false) {
  return el("p", { className: "check" }, [
    el("input", { attrs: { type: "radio", name: "transfer-to", id, value, checked } }),
    el("label", { attrs: { for: id } }, [
      document.createTextNode(label),
      detail ? el("span", { className: "muted", text: ` (${detail})` }) : null,
    ]),
  ]);
}

export async function openTransfer(done) {
  onChosen = done;
  const holder = byId("transfer-choices");
  holder.replaceChildren(choice("transfer-queue", "queue", "Back to the queue", "the next free supporter claims it", true));
  setStatus("transfer-status", "Looking for supporters online…");
  openDialog(byId("transfer-dialog"));
  const result = await api.roster();
  if (result.status === 403) {
    // A facilitator in a private chat: the roster is the supporters' own; the queue is open.
    setStatus("transfer-status", "Back to the queue: the next free supporter takes it.");
    return;
  }
  if (result.status !== 200 || !result.body || !Array.isArray(result.body.staff)) {
    setStatus("transfer-status", "The list of supporters could not be loaded; you can still send it back to the queue.", "error");
    return;
  }
  const staff = result.body.staff.filter((s) => s && typeof s.id === "string");
  for (const [index, person] of staff.entries()) {
    const roles = Array.isArray(person.roles) ? person.roles.join(", ") : "";
    const status = person.available ? "available" : "away";
    holder.append(choice(`transfer-s${index}`, person.id, String(person.name || "Supporter"), [roles, status].filter(Boolean).join(", ")));
  }
  setStatus("transfer-status", staff.length ? "" : "No other supporter is online right now.");
}
