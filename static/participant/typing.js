// The "X is typing…" hint under the chat: who is typing, and when the hint goes away.

import { byId } from "./dom.js";
import { state } from "./page.js";

const TYPING_SHOW_MS = 3000; // show "X is typing…" for 3 s after the last signal

export function onTyping(frame) {
  if (frame.room !== state.room || typeof frame.from !== "string") return;
  if (frame.from === state.me) return;
  state.typers.set(frame.from, Date.now() + TYPING_SHOW_MS);
  renderTyping();
}

export function clearTyper(name) {
  if (state.typers.delete(name)) renderTyping();
}

export function renderTyping() {
  const now = Date.now();
  for (const [name, until] of state.typers) if (until <= now) state.typers.delete(name);
  const names = [...state.typers.keys()];
  let text = "";
  if (names.length === 1) text = `${names[0]} is typing…`;
  else if (names.length === 2) text = `${names[0]} and ${names[1]} are typing…`;
  else if (names.length > 2) text = "Several people are typing…";
  byId("typing").textContent = text;
  clearTimeout(state.typingTimer);
  if (names.length) {
    const next = Math.min(...state.typers.values()) - now;
    state.typingTimer = setTimeout(renderTyping, Math.max(100, next));
  }
}
