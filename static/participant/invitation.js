// An invitation to a private chat from a facilitator or supporter (after something the person
// wrote in a group room): a small prompt above the page, whatever view is showing. It never
// takes the focus, so a key pressed while typing cannot answer it by accident.
// Wire: `invited` -> `accept_invite` (answered by `assigned`) or `decline_invite` (`declined`).

import { el } from "./dom.js";
import { connection } from "./page.js";

let box = null;
let parts = null; // {text, status, accept, decline}
let current = null; // the invitation shown: {invite, ...}

function build() {
  parts = {
    text: el("p", { attrs: { "aria-live": "polite" } }),
    status: el("p", { className: "status-line", attrs: { role: "status" } }),
    accept: el("button", { className: "btn btn-primary", text: "Accept private chat", attrs: { type: "button" } }),
    decline: el("button", { className: "btn", text: "No thanks", attrs: { type: "button" } }),
  };
  parts.accept.addEventListener("click", () => answer("accept_invite"));
  parts.decline.addEventListener("click", () => answer("decline_invite"));
  box = el("section", { className: "invitation", attrs: { "aria-labelledby": "invitation-title", hidden: true } }, [
    el("h2", { text: "A private chat is offered", attrs: { id: "invitation-title" } }),
    parts.text,
    el("div", { className: "actions" }, [parts.accept, parts.decline]),
    parts.status,
  ]);
  document.getElementById("main").prepend(box);
}

function answer(type) {
  if (!current) return;
  if (!connection.send({ type, invite: current.invite, ref: `invite:${type}` })) {
    parts.status.textContent = "Not connected. Try again in a moment.";
    return;
  }
  parts.accept.disabled = parts.decline.disabled = true;
  parts.status.textContent = "";
}

export function onInvited(frame) {
  if (typeof frame.invite !== "string") return;
  if (!box) build();
  current = frame;
  const from = frame.from && typeof frame.from === "object" ? frame.from : {};
  const who = String(from.name || "A staff member");
  const where = String(frame.room_name || "the group room");
  parts.text.textContent = `${who} (${from.role === "supporter" ? "supporter" : "facilitator"}) saw what you wrote in ${where} and would like to talk with you one-to-one, privately. You can say no.`;
  parts.accept.disabled = parts.decline.disabled = false;
  parts.status.textContent = "";
  box.hidden = false;
}

/** `assigned` for an invitation, or `declined`: the prompt goes. */
export function invitationAnswered() {
  current = null;
  if (box) box.hidden = true;
}

/** An error answering accept/decline: the invitation expired or was answered elsewhere. */
export function onInvitationError(detail) {
  if (!box) return;
  parts.status.textContent = `That did not work: ${detail}.`;
  parts.accept.disabled = parts.decline.disabled = true;
  setTimeout(invitationAnswered, 8000);
}
