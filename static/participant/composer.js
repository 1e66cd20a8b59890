// Writing and sending: the composer, each message's say/ack cycle through the outbox, retries,
// a say the server refused, and the `typing` signal this person sends.

import { byId, setStatus } from "./dom.js";
import { RETRY_AFTER_MS, connection, messages, outbox, state } from "./page.js";
import { sendJoin } from "./rooms.js";

const MAX_TEXT = 4000;
const TYPING_SEND_MS = 2000; // send `typing` at most once every 2 s
const ACK_WAIT_MS = 15000; // a say with no answer this long is sent again (same nonce)

export function submitMessage(event) {
  event.preventDefault();
  const box = byId("composer-text");
  const text = box.value;
  if (!state.room) return;
  if (!text.trim()) {
    setStatus("chat-status", "Write something first.", "error");
    return;
  }
  if (text.length > MAX_TEXT) {
    setStatus("chat-status", `A message is at most ${MAX_TEXT} characters.`, "error");
    return;
  }
  setStatus("chat-status", "");
  const item = outbox.add(state.room, text);
  messages.addPending(item, state.me);
  box.value = "";
  sendSay(item);
}

function sendSay(item) {
  if (!connection.isReady || state.joinedRoom !== item.room) {
    messages.setState(item.nonce, "waiting");
    return;
  }
  const sent = connection.send({
    type: "say",
    room: item.room,
    text: item.text,
    nonce: item.nonce,
    ref: item.nonce,
  });
  if (sent) {
    item.sentAt = Date.now();
    item.everSent = true;
    item.retryAt = 0;
    messages.setState(item.nonce, "sending");
  }
}

/** After a (re)join: show and send everything still unacknowledged, oldest first. */
export function flushOutbox(room) {
  for (const item of outbox.forRoom(room)) {
    messages.addPending(item, state.me);
    sendSay(item);
  }
}

export function retryTick() {
  if (!connection.isReady) return;
  const now = Date.now();
  for (const item of outbox.items.values()) {
    if (item.room !== state.joinedRoom) continue;
    const due =
      (item.retryAt && now >= item.retryAt) || (item.sentAt && now - item.sentAt > ACK_WAIT_MS);
    if (due) sendSay(item);
  }
}

export function onComposerInput() {
  const now = Date.now();
  if (!byId("composer-text").value.trim()) return;
  if (now - state.typingSentAt < TYPING_SEND_MS) return;
  if (!connection.isReady || !state.joinedRoom) return;
  state.typingSentAt = now;
  connection.send({ type: "typing", room: state.joinedRoom });
}

export function onComposerKey(event) {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    byId("composer").requestSubmit();
  }
}

export function onAck(frame) {
  if (typeof frame.nonce !== "string" || typeof frame.id !== "string") return;
  state.ownIds.add(frame.id);
  outbox.remove(frame.nonce);
  messages.ackPending(frame.nonce, frame.id);
}

export function onSayError(item, code, detail) {
  if (code === "unavailable" || code === "rate_limited" || code === "internal") {
    // Not applied: the same nonce goes again in a few seconds.
    const wait = /wait ([\d.]+) s/.exec(detail);
    const delay = wait ? Math.max(RETRY_AFTER_MS, Number(wait[1]) * 1000 + 250) : RETRY_AFTER_MS;
    item.sentAt = 0;
    item.retryAt = Date.now() + delay;
    messages.setState(item.nonce, "retrying", detail);
    return;
  }
  if (code === "not_member") {
    // The socket lost the room (server restart of membership): join again, then resend.
    item.sentAt = 0;
    messages.setState(item.nonce, "waiting");
    if (state.room === item.room && connection.isReady) {
      state.joinedRoom = null;
      sendJoin(item.room, { since: state.lastId.get(item.room) || null });
    }
    return;
  }
  if (code === "muted") {
    // Not sent and not to be retried: the words go back to the composer, nothing is lost.
    outbox.remove(item.nonce);
    messages.dropPending(item.nonce);
    const box = byId("composer-text");
    if (!box.value.trim()) box.value = item.text;
    else if (!box.value.includes(item.text)) box.value = `${item.text}\n${box.value}`;
    // The server's detail says until when ("… you can write again in 9 min").
    const said = detail && detail !== "muted" ? detail.trim() : "";
    const why = said ? ` ${said.charAt(0).toUpperCase()}${said.slice(1)}${/[.!?]$/.test(said) ? "" : "."}` : "";
    setStatus("chat-status", `You can't send messages right now.${why}`, "error");
    return;
  }
  outbox.remove(item.nonce);
  messages.failPending(item.nonce, detail);
  setStatus("chat-status", `Your message was not sent: ${detail}.`, "error");
}
