// The room view: how a group or private chat looks, the history a join brings, new messages,
// erased ones, and notices (crisis resources, moderators' warnings, the end of a private chat).

import { flushOutbox } from "./composer.js";
import { showCrisis } from "./crisis.js";
import { byId, el, setStatus } from "./dom.js";
import { showFeedback } from "./feedback.js";
import { maxId } from "./ids.js";
import { DIRECT_TITLE, ROOM_KEY, messages, outbox, showView, state, storageSet } from "./page.js";
import { resourceItem } from "./resources.js";
import { sendJoin } from "./rooms.js";
import { onRoomEnded } from "./support.js";
import { clearTyper } from "./typing.js";

/** A direct room looks and behaves a little differently from a group room. */
export function renderChatMode() {
  const direct = Boolean(state.room && state.direct.has(state.room));
  const ended = Boolean(state.room && state.endedRooms.has(state.room));
  document.body.dataset.direct = direct || ended ? "yes" : "no";
  byId("chat-leave").textContent = direct || ended ? "Back to rooms" : "Leave room";
  byId("chat-support").hidden = !(state.info && state.info.support === true) || direct || ended;
  byId("composer").hidden = ended;
  byId("chat-ended").hidden = !ended;
  // An ended chat scrolls as a page, so the feedback form is not squeezed on a phone.
  document.body.dataset.chatEnded = ended ? "yes" : "no";
}

export function onJoined(frame) {
  const room = frame.room;
  if (room !== state.room) return; // left before the answer came
  const request = state.joinRequest && state.joinRequest.room === room ? state.joinRequest : null;
  const fresh = !request || request.since === null || frame.reset === true;
  const history = Array.isArray(frame.history) ? frame.history : [];
  if (fresh) {
    messages.clearConfirmed();
    state.lastId.delete(room);
  }
  // Unsent messages first (after a reload they come from sessionStorage), so a history copy
  // of one whose ack was lost can be matched with it.
  for (const item of outbox.forRoom(room)) messages.addPending(item, state.me);
  for (const message of history) {
    if (!message || typeof message.id !== "string") continue;
    state.lastId.set(room, maxId(state.lastId.get(room), message.id));
    const own = isOwn(message);
    if (messages.addMessage(message, own, { force: fresh }) && own) hideEchoedPending(message);
  }
  if (frame.more === true) {
    // More follow: ask from the last one we got until the server has no more.
    sendJoin(room, { since: state.lastId.get(room) || null });
    return;
  }
  if (!state.lastId.get(room)) {
    // An empty room. Resume from "now" on the server's clock (ids are server milliseconds),
    // so whatever is said while away comes back in full on a reconnect; a null `since` would
    // bring only the latest 50. A minute of margin covers the estimate's error.
    const serverNow = Date.now() + state.clockOffset;
    state.lastId.set(room, `${Math.max(0, Math.floor(serverNow - 60_000))}-0`);
  }
  state.joinRequest = null;
  state.joinedRoom = room;
  messages.setBusy(false);
  storageSet(ROOM_KEY, room);
  byId("chat-title").textContent = state.direct.has(room)
    ? DIRECT_TITLE
    : String(frame.name || state.roomName);
  renderChatMode();
  setStatus("rooms-status", "");
  if (state.view !== "chat") {
    showView("chat");
    messages.scrollToBottom();
  }
  flushOutbox(room);
}

/** A message of mine that history brought back may be a pending one whose ack was lost. */
function hideEchoedPending(message) {
  for (const item of outbox.forRoom(message.room)) {
    if (item.everSent && item.text === message.text && messages.hidePending(item.nonce)) return;
  }
}

function isOwn(message) {
  if (state.ownIds.has(message.id)) return true;
  const from = message.from || {};
  return from.role === "participant" && from.name === state.me;
}

export function onMessage(frame) {
  if (frame.room !== state.room || typeof frame.id !== "string") return;
  state.lastId.set(frame.room, maxId(state.lastId.get(frame.room), frame.id));
  const from = frame.from || {};
  if (from.name) clearTyper(String(from.name));
  messages.addMessage(frame, isOwn(frame));
}

export function onErased(frame) {
  if (frame.room !== state.room || !Array.isArray(frame.ids)) return;
  const removed = messages.removeIds(frame.ids.map(String));
  if (!removed) return;
  setStatus(
    "chat-status",
    frame.by === "moderator" ? "A moderator removed a message." : "Someone erased their messages.",
  );
}

export function onNotice(frame) {
  if (frame.kind === "crisis_resources") {
    // Whatever room it is about, it is about this person, now.
    showCrisis(frame);
    return;
  }
  if (frame.kind === "moderation") {
    // A moderator's warning concerns the person, not one room: show it wherever they are.
    const text = String(frame.text || "");
    if (state.view === "chat") messages.addNotice(text, null, "From the moderators · only you can see this", "moderation");
    else setStatus("rooms-status", `From the moderators: ${text}`);
    return;
  }
  if (frame.room && frame.room !== state.room) return;
  if (frame.kind === "feedback") {
    // Normally `ended` came first; if not, this notice ends the chat just the same.
    if (frame.room === state.room && !state.endedRooms.has(frame.room)) onRoomEnded(frame);
    if (state.view === "chat" && state.endedRooms.has(frame.room)) showFeedback();
    return;
  }
  const resources = Array.isArray(frame.resources) ? frame.resources : [];
  const list = resources.length
    ? el("ul", { className: "resource-list" }, resources.map(resourceItem))
    : null;
  const text = String(frame.text || "");
  if (state.view === "chat") {
    messages.addNotice(text, list);
  } else {
    setStatus("rooms-status", text);
  }
}
