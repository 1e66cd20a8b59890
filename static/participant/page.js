// What every part of the participant page shares: its state, the unsent messages (outbox),
// the message list, the one connection, this tab's storage, and which view is showing.

import * as api from "./api.js";
import { Connection, socketUrl } from "./connection.js";
import { byId, setStatus } from "./dom.js";
import { MessageList } from "./messages.js";
import { Outbox } from "./outbox.js";
import { openReport } from "./reports.js";
import { handleDown, handleEnd, handleFrame, handleReady } from "./socket.js";

export const ROOM_KEY = "peerline.room";
export const DIRECT_TITLE = "Private chat with a supporter";
export const RETRY_AFTER_MS = 3000; // a say refused as `unavailable` is retried after this
const VIEWS = ["loading", "consent", "rooms", "waiting", "chat", "erased", "ended"];

export const state = {
  info: null,
  me: null, // my pseudonym
  view: "loading",
  room: null, // the room the person is in (or is entering)
  roomName: "",
  joinedRoom: null, // the room the current socket has fully joined
  joinRequest: null, // {room, since, invite}
  lastId: new Map(), // room -> id of the last message received there
  ownIds: new Set(),
  clockOffset: 0, // server clock minus this device's clock, from the Date header
  typingSentAt: 0,
  typers: new Map(), // name -> time the hint expires
  typingTimer: null,
  erasing: false,
  endedDuringErase: false,
  reportTarget: null, // {id, button}
  inviteRoom: null,
  // One-to-one support: the request while waiting, the direct rooms this person is in, and
  // the ones a supporter has ended (no more writing there, feedback may be asked).
  support: null, // {topic, ticket}
  cancelPending: false,
  direct: new Set(),
  endedRooms: new Set(),
  firstHello: true,
};

export const outbox = new Outbox();

export const messages = new MessageList(byId("messages"), {
  onReport: openReport,
  onRetry: (text) => {
    const box = byId("composer-text");
    if (!box.value) box.value = text;
    box.focus();
  },
});

export const connection = new Connection({
  url: socketUrl(),
  onReady: handleReady,
  onFrame: handleFrame,
  onDown: handleDown,
  onEnd: handleEnd,
  onProblem: (problem) => {
    if (problem === "too_big") {
      setStatus("chat-status", "A message was too big for the connection and was not sent.", "error");
    }
  },
  checkSession: async () => {
    const result = await api.getSession();
    return result.status === 401 ? "gone" : "unknown";
  },
});

export function storageGet(key) {
  try {
    return window.sessionStorage.getItem(key);
  } catch {
    return null;
  }
}

export function storageSet(key, value) {
  try {
    if (value === null) window.sessionStorage.removeItem(key);
    else window.sessionStorage.setItem(key, value);
  } catch {
    /* blocked storage: fine, it only helps a reload */
  }
}

export function showView(name, { focus = true } = {}) {
  state.view = name;
  for (const view of VIEWS) byId(`view-${view}`).hidden = view !== name;
  document.body.dataset.view = name;
  if (focus) {
    const heading = byId(`view-${name}`).querySelector("h1");
    if (heading) heading.focus({ preventScroll: false });
  }
  updateBanner();
}

export function updateBanner() {
  const banner = document.getElementById("conn-banner");
  if (!banner) return; // Quick Exit emptied the page; a socket's close may still arrive

  const needsSocket =
    state.me && (state.view === "rooms" || state.view === "chat" || state.view === "waiting");
  const text =
    !needsSocket || connection.stopped || connection.isReady
      ? ""
      : connection.everReady || connection.attempt > 0
        ? "Reconnecting… Your messages are kept and will be sent."
        : "Connecting…";
  // Only touch the live region when the words change, so nothing is announced twice.
  if (banner.textContent !== text) banner.textContent = text;
  banner.hidden = !text;
}

export function roomById(id) {
  const rooms = (state.info && state.info.rooms) || [];
  return rooms.find((room) => room.id === id) || null;
}
