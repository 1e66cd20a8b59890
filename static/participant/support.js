// One-to-one support: asking for a supporter, waiting (kept across a reload), stopping, being
// assigned a private room, the supporter ending it, and the feedback asked afterwards.

import { renderChatMode } from "./chat.js";
import { crisisRoomGone } from "./crisis.js";
import { byId, setStatus } from "./dom.js";
import { feedbackFailed, feedbackSending, readFeedback, resetFeedback } from "./feedback.js";
import { ROOM_KEY, connection, messages, outbox, showView, state, storageGet, storageSet } from "./page.js";
import { beginRoom, leaveRoom, sendJoin } from "./rooms.js";
import { renderTyping } from "./typing.js";

const WAITING_KEY = "peerline.waiting"; // the topic of a one-to-one request still waiting

export function readWaiting() {
  try {
    const saved = JSON.parse(storageGet(WAITING_KEY) || "null");
    if (!saved || typeof saved !== "object") return null;
    return { topic: typeof saved.topic === "string" ? saved.topic : null };
  } catch {
    return null;
  }
}

/** Forget every trace of one-to-one support (session gone, erased, banned). */
export function forgetSupport() {
  clearSupportRequest();
  state.cancelPending = false;
  state.direct.clear();
  state.endedRooms.clear();
  state.firstHello = true;
}

/** The rooms view offers the request, or a way back to a private chat that is still open. */
export function renderSupportOffer() {
  const offered = Boolean(state.info && state.info.support === true);
  byId("support-offer").hidden = !offered;
  const open = [...state.direct].some((room) => !state.endedRooms.has(room));
  byId("support-return-box").hidden = !open;
  byId("support-form").hidden = open;
}

export function askForSupport(event) {
  if (event) event.preventDefault();
  if (state.support) {
    showWaiting();
    return;
  }
  const topic = byId("support-topic").value.trim().slice(0, 200);
  state.support = { topic: topic || null, ticket: null };
  state.cancelPending = false;
  storageSet(WAITING_KEY, JSON.stringify({ topic: state.support.topic }));
  if (state.room) leaveRoom();
  showWaiting();
  if (connection.isReady) sendSupportRequest();
  else setStatus("waiting-status", "Connecting… your request is sent as soon as the connection is up.");
}

export function sendSupportRequest() {
  if (!state.support) return;
  connection.send({ type: "request_support", topic: state.support.topic, ref: "support:request" });
}

export function showWaiting() {
  const topic = state.support && state.support.topic;
  byId("waiting-topic").textContent = topic ? `You said you would like to talk about: ${topic}` : "";
  byId("waiting-topic").hidden = !topic;
  byId("support-cancel").disabled = false;
  showView("waiting");
}

export function onQueued(frame) {
  if (!state.support) return;
  state.support.ticket = typeof frame.ticket === "string" ? frame.ticket : null;
  // No position in line on purpose: it would promise a wait nobody can predict.
  setStatus("waiting-status", "Your request has been sent. You do not need to do anything else.");
}

export function cancelSupport() {
  if (!state.support) {
    showView("rooms");
    return;
  }
  byId("support-cancel").disabled = true;
  if (connection.isReady) {
    connection.send({ type: "cancel_support", ref: "support:cancel" });
    setStatus("waiting-status", "Stopping…");
    return;
  }
  // Not connected: forget it here now and tell the server once the socket is back.
  state.cancelPending = true;
  onCancelled();
}

export function onCancelled() {
  clearSupportRequest();
  if (state.view === "waiting") {
    showView("rooms");
    setStatus("rooms-status", "You stopped waiting. You can ask again at any time.");
  }
}

export function clearSupportRequest() {
  state.support = null;
  storageSet(WAITING_KEY, null);
  setStatus("waiting-status", "");
}

export function onAssigned(frame) {
  if (typeof frame.room !== "string") return;
  clearSupportRequest();
  state.cancelPending = false;
  state.direct.add(frame.room);
  state.endedRooms.delete(frame.room);
  if (state.room && state.room !== frame.room) leaveRoom();
  beginRoom(frame.room);
  setStatus("rooms-status", "A supporter has joined. Opening your private chat…");
  if (connection.isReady) sendJoin(frame.room, { since: null });
  renderSupportOffer();
}

export function onRoomEnded(frame) {
  const room = frame.room;
  if (typeof room !== "string") return;
  crisisRoomGone(room); // the crisis strip this chat raised goes with it
  state.direct.delete(room);
  renderSupportOffer();
  if (room !== state.room) {
    if (state.view === "rooms") setStatus("rooms-status", "The supporter ended your private chat.");
    return;
  }
  state.endedRooms.add(room);
  storageSet(ROOM_KEY, null);
  state.typers.clear();
  renderTyping();
  resetFeedback();
  renderChatMode();
  // Unsent words can no longer go anywhere; say so instead of retrying for ever.
  for (const item of outbox.forRoom(room)) {
    outbox.remove(item.nonce);
    messages.failPending(item.nonce, "the chat had ended");
  }
  byId("chat-ended-title").focus();
}

export function onSupportError(what, code, detail) {
  if (what === "request") {
    clearSupportRequest();
    const text =
      code === "not_available"
        ? "One-to-one chats are not available right now. The crisis lines under “Get help now” answer any time."
        : `Your request was not sent: ${detail}.`;
    showView("rooms");
    setStatus("rooms-status", text, "error");
    return;
  }
  // cancel: most likely nothing was waiting any more; either way the person is not.
  onCancelled();
}

export function submitFeedback(event) {
  event.preventDefault();
  const room = state.room;
  const answer = readFeedback();
  if (!answer || !room) return;
  const sent = connection.send({ type: "feedback", room, ...answer, ref: "feedback" });
  if (!sent) {
    feedbackFailed("not connected; try again in a moment");
    return;
  }
  feedbackSending();
}
