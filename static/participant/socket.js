// The page's side of the connection: each (re)connect's hello, a lost socket, a socket that
// must not come back, and where every frame (and every error frame) goes.

import { onErased, onJoined, onMessage, onNotice } from "./chat.js";
import { onAck, onSayError } from "./composer.js";
import { hideCrisis } from "./crisis.js";
import { byId, closeDialog, setStatus } from "./dom.js";
import { feedbackDone, feedbackFailed } from "./feedback.js";
import { invitationAnswered, onInvitationError, onInvited } from "./invitation.js";
import { connection, messages, outbox, showView, state, updateBanner } from "./page.js";
import { clearAllStorage } from "./quickexit.js";
import { onReported } from "./reports.js";
import { beginRoom, onJoinError, sendJoin } from "./rooms.js";
import { sessionGone } from "./session.js";
import {
  clearSupportRequest,
  forgetSupport,
  onAssigned,
  onCancelled,
  onQueued,
  onRoomEnded,
  onSupportError,
  renderSupportOffer,
  sendSupportRequest,
} from "./support.js";
import { onTyping, renderTyping } from "./typing.js";

export function handleReady(hello) {
  if (hello.you && typeof hello.you.name === "string") {
    state.me = hello.you.name;
    byId("rooms-pseudonym").textContent = state.me;
    byId("chat-pseudonym").textContent = state.me;
  }
  state.joinedRoom = null;
  updateBanner();
  const direct = Array.isArray(hello.rooms) ? hello.rooms.filter((r) => typeof r === "string") : [];
  const first = state.firstHello;
  state.firstHello = false;
  for (const room of direct) state.direct.add(room);
  if (direct.length && (first || state.support)) {
    // A reload (or a reconnect while waiting) with a one-to-one chat open: go back into it.
    clearSupportRequest();
    if (state.room !== direct[0]) beginRoom(direct[0]);
    setStatus("rooms-status", "Going back to your private chat…");
  }
  renderSupportOffer();
  if (state.room && !state.endedRooms.has(state.room)) {
    // Resume where we were: everything after the last message we got.
    sendJoin(state.room, { since: state.lastId.get(state.room) || null });
  } else if (state.cancelPending) {
    state.cancelPending = false;
    connection.send({ type: "cancel_support", ref: "support:cancel" });
  } else if (state.support) {
    // Still waiting: ask again (the server answers with the same ticket while it has it).
    sendSupportRequest();
  }
}

export function handleDown() {
  state.joinedRoom = null;
  state.joinRequest = null;
  state.typers.clear();
  renderTyping();
  for (const item of outbox.items.values()) {
    item.sentAt = 0;
    messages.setState(item.nonce, "waiting");
  }
  updateBanner();
}

export function handleEnd(reason) {
  updateBanner();
  if (reason === "session") {
    if (state.erasing) {
      state.endedDuringErase = true; // the erase itself closed the socket; it reports
      return;
    }
    sessionGone("Your session has ended. To continue, read and accept again.");
    return;
  }
  if (reason === "banned") {
    // Final: no reconnect (the connection has stopped itself), nothing kept on this device.
    outbox.clear();
    clearAllStorage();
    forgetSupport();
    state.me = null;
    state.room = null;
    state.joinedRoom = null;
    messages.reset();
    hideCrisis();
    for (const id of ["erase-dialog", "invite-dialog", "report-dialog"]) closeDialog(byId(id));
    byId("ended-title").textContent = "This session was closed by the program's moderators.";
    byId("ended-text").textContent =
      "You can no longer write in this chat. Whatever is going on, you still deserve support.";
    byId("ended-help").hidden = false;
    byId("ended-retry").hidden = true;
    showView("ended");
    return;
  }
  // "broken": the server refused what this page sent (a bug). Say so; let the person retry.
  byId("ended-help").hidden = true;
  byId("ended-title").textContent = "Something went wrong";
  byId("ended-text").textContent =
    "The chat connection was closed because of an error in this page. Your unsent messages are kept.";
  byId("ended-retry").hidden = false;
  showView("ended");
}

export function handleFrame(frame) {
  switch (frame.type) {
    case "joined":
      onJoined(frame);
      break;
    case "message":
      onMessage(frame);
      break;
    case "ack":
      onAck(frame);
      break;
    case "error":
      onError(frame);
      break;
    case "typing":
      onTyping(frame);
      break;
    case "presence":
      if (frame.room === state.room) {
        const count = Number(frame.count) || 0;
        byId("chat-presence").textContent = `${count} here`;
      }
      break;
    case "erased":
      onErased(frame);
      break;
    case "left":
      break;
    case "reported":
      onReported(frame);
      break;
    case "notice":
      onNotice(frame);
      break;
    case "queued":
      onQueued(frame);
      break;
    case "cancelled":
      onCancelled();
      break;
    case "assigned":
      if (typeof frame.invite === "string") invitationAnswered();
      onAssigned(frame);
      break;
    case "invited":
      onInvited(frame);
      break;
    case "declined":
      invitationAnswered();
      break;
    case "ended":
      onRoomEnded(frame);
      break;
    case "thanks":
      feedbackDone(true);
      break;
    default:
      break; // pong and frames this page does not use
  }
}

function onError(frame) {
  const ref = typeof frame.ref === "string" ? frame.ref : "";
  const detail = String(frame.detail || frame.code || "Something went wrong");
  const code = String(frame.code || "");
  if (ref.startsWith("join:")) {
    onJoinError(ref.slice(5), code, detail);
    return;
  }
  if (ref.startsWith("support:")) {
    onSupportError(ref.slice(8), code, detail);
    return;
  }
  if (ref.startsWith("invite:")) {
    onInvitationError(detail);
    return;
  }
  if (ref === "feedback") {
    feedbackFailed(detail);
    return;
  }
  if (ref.startsWith("report:")) {
    setStatus("chat-status", `The report was not sent: ${detail}.`, "error");
    if (state.reportTarget && state.reportTarget.button) state.reportTarget.button.disabled = false;
    return;
  }
  const item = ref ? outbox.get(ref) : null;
  if (item) {
    onSayError(item, code, detail);
    return;
  }
  if (code === "too_many_sockets") {
    setStatus("rooms-status", "Peerline is open in too many tabs. Close another tab.", "error");
    setStatus("chat-status", "Peerline is open in too many tabs. Close another tab.", "error");
    return;
  }
  const where = state.view === "chat" ? "chat-status" : "rooms-status";
  setStatus(where, detail, "error");
}
