// Peerline supporter console: login, the live queue, several one-to-one chats at once.
// Wire contract: the staff part of PROTOCOL.md (/tmp/staff-contract.md). Text from people or
// the server only ever reaches the page through textContent.

import { Connection } from "../participant/connection.js";
import { byId, closeDialog, openDialog, setStatus, setUpDialog } from "../participant/dom.js";
import { trackActivity } from "./activity.js";
import { AlertBoard } from "./alerts.js";
import * as api from "./api.js";
import { Chats } from "./chats.js";
import { Invitations } from "./invites.js";
import { playTone, setSoundEnabled, setTitleCounts, unlockAudio } from "./cue.js";
import { setUpLogin, showLoginNote } from "./login.js";
import { Queue } from "./queue.js";
import { renderRoomList } from "./rooms.js";
import { openTransfer, setUpTransfer } from "./transfer.js";

const VIEWS = ["loading", "login", "console"];

const state = {
  me: null, // /api/staff/me
  waiting: 0,
  claims: new Map(), // ticket -> {topic, priority, button}
  ending: null, // the chat the End dialog is about
  clockOffset: 0, // server clock minus this device's, from the Date header
};

const queue = new Queue(byId("queue"), {
  onClaim: claim,
  onNew: newTickets,
  onCount: (count) => {
    state.waiting = count;
    byId("queue-count").textContent = count ? `(${count})` : "";
    byId("queue-empty").hidden = count > 0 || !isSupporter();
    updateTitle();
  },
});

const chats = new Chats({
  tabs: byId("chat-tabs"),
  panes: byId("chat-panes"),
  empty: byId("chats-empty"),
  emptyPane: byId("panes-empty"),
  onUnreadChange: updateTitle,
  alertLevel: (room) => alerts.levelFor(room),
});

const alerts = new AlertBoard({
  container: byId("alerts"),
  live: byId("alert-live"),
  notes: byId("alert-notes"),
  send,
  serverNow: () => Date.now() + state.clockOffset,
  onOpenRoom: openAlertRoom,
  onInvite: (what) => invitations.invite(what),
  onChange: () => chats.renderTabs(),
});

const invitations = new Invitations({
  send,
  noteOn: (room, message, text) => alerts.noteOn(room, message, text),
  closeOn: (room, message, text) => alerts.closeOn(room, message, text),
  say: (text, kind, shown) => {
    if (!shown) setStatus("queue-status", text, kind);
    announce(text);
  },
});

const connection = new Connection({
  url: `${window.location.protocol === "https:" ? "wss://" : "ws://"}${window.location.host}/ws?as=staff`,
  onReady: handleReady,
  onFrame: handleFrame,
  onDown: handleDown,
  onEnd: handleEnd,
  checkSession: async () => ((await api.me()).status === 401 ? "gone" : "unknown"),
});

// ---- views and small helpers -------------------------------------------------------------------

function showView(name) {
  for (const view of VIEWS) byId(`view-${view}`).hidden = view !== name;
  document.body.dataset.view = name;
  byId("bar-tools").hidden = name !== "console";
  fitPanes();
  updateBanner();
}

/** A chat pane is as tall as the window below the pinned header (console.css). */
function fitPanes() {
  const bar = document.querySelector(".console-bar");
  if (bar) document.body.style.setProperty("--bar-height", `${bar.offsetHeight}px`);
}

function announce(text) {
  // Clearing first makes a repeated sentence be read again.
  const node = byId("announce");
  node.textContent = "";
  window.setTimeout(() => {
    node.textContent = text;
  }, 50);
}

/** Said at once, over whatever else is being read: for crisis marks only. */
function sayNow(text) {
  const node = byId("alert-live");
  node.textContent = "";
  window.setTimeout(() => {
    node.textContent = text;
  }, 50);
}

function updateTitle() {
  setTitleCounts(state.waiting, chats.totalUnread());
}

function updateBanner() {
  const banner = byId("conn-banner");
  const live = document.body.dataset.view === "console";
  const text =
    !live || connection.stopped || connection.isReady
      ? ""
      : connection.everReady
        ? "Connection lost. Reconnecting… Messages you write are sent when it is back."
        : "Connecting…";
  if (banner.textContent !== text) banner.textContent = text;
  banner.hidden = !text;
}

function hasRole(role) {
  const roles = (state.me && state.me.roles) || [];
  return Array.isArray(roles) && roles.includes(role);
}

function isSupporter() {
  return hasRole("supporter");
}

function isFacilitator() {
  return hasRole("facilitator");
}

function send(frame) {
  return connection.send(frame);
}

// ---- starting, login, logout -------------------------------------------------------------------

async function load() {
  showView("loading");
  const result = await api.me();
  if (result.status === 200 && result.body) {
    start(result.body, result.headers);
    return;
  }
  showLogin(result.status === 0 ? "The server cannot be reached. Reload the page to try again." : "");
}

function showLogin(note = "") {
  showLoginNote(note);
  showView("login");
  byId("login-username").focus();
}

async function afterLogin() {
  // The login answer has no canned replies or wrap-up lists: /me has everything.
  const result = await api.me();
  if (result.status === 200 && result.body) {
    start(result.body, result.headers);
    return;
  }
  showLogin("Logged in, but the console could not load. Reload the page.");
}

function start(me, headers) {
  state.me = me;
  api.setCsrf(me.csrf);
  const serverDate = Date.parse((headers && headers.get("Date")) || "");
  if (!Number.isNaN(serverDate)) {
    state.clockOffset = serverDate - Date.now();
    queue.setClockOffset(state.clockOffset);
  }
  byId("me-name").textContent = String(me.name || "");
  const roles = Array.isArray(me.roles) ? me.roles : [];
  byId("me-role").textContent = roles.length ? `(${roles.join(", ")})` : "";
  setAvailability(me.available !== false);
  byId("queue-norole").hidden = isSupporter();
  byId("queue-empty").hidden = !isSupporter();
  byId("on-call-box").hidden = !isFacilitator();
  setOnCall(me.on_call === true);
  byId("rooms-panel").hidden = !isFacilitator();
  // Without the supporter role the queue panel only says so: the rooms come before it.
  if (!isSupporter()) byId("rooms-panel").after(byId("queue-title").closest(".panel"));
  if (!isSupporter()) byId("chats-empty").textContent = "No open chats. Open a group room, or take an alert.";
  if (isFacilitator()) loadRooms();
  chats.configure({
    me: { name: String(me.name || "") },
    canned: Array.isArray(me.canned) ? me.canned.filter((c) => c && typeof c.text === "string") : [],
    wrapup: me.wrapup && typeof me.wrapup === "object" ? me.wrapup : { topics: [], outcomes: [] },
    send,
    onEnd: askEnd,
    onTransfer: askTransfer,
    onInvite: (what) => invitations.invite(what),
    onIncoming: (chat, frame) => {
      if (chat !== chats.active || document.visibilityState !== "visible") {
        const who = frame.from && frame.from.name ? String(frame.from.name) : "Someone";
        announce(`New message from ${who} in ${chat.title}.`);
      }
    },
  });
  showView("console");
  byId("queue-title").focus();
  connection.start();
}

/** The session is over (logout elsewhere, idle limit, disabled): wipe what was on screen. */
function teardown(note) {
  connection.stop();
  chats.clear();
  queue.clear();
  alerts.clear();
  state.me = null;
  state.claims.clear();
  api.setCsrf("");
  for (const id of ["transfer-dialog", "end-dialog"]) closeDialog(byId(id));
  showLogin(note);
}

async function logout() {
  const button = byId("logout");
  button.disabled = true;
  const result = await api.logout();
  if (result.status === 204 || result.status === 401) {
    connection.stop();
    // A fresh page: nothing of the chats stays in memory or on screen.
    window.location.replace("/console");
    return;
  }
  button.disabled = false;
  setStatus("queue-status", result.status === 0 ? "Logging out failed: the server cannot be reached." : "Logging out failed. Try again.", "error");
}

// ---- socket ------------------------------------------------------------------------------------

function handleReady(hello) {
  updateBanner();
  alerts.onReconnect();
  const rooms = Array.isArray(hello.rooms) ? hello.rooms.filter((r) => typeof r === "string") : [];
  for (const room of rooms) chats.open(room);
  // Rejoin every chat still open here, from the last message seen (the gap comes back).
  for (const chat of chats.all()) {
    if (!chat.ended) join(chat);
  }
}

function join(chat) {
  send({ type: "join", room: chat.room, since: chat.lastId, ref: `join:${chat.room}` });
}

function handleDown() {
  for (const chat of chats.all()) chat.onSocketDown();
  updateBanner();
}

function handleEnd(reason) {
  if (reason === "session") {
    teardown("Your session has ended (you logged out, were away too long, or the account was changed). Log in again to continue.");
    return;
  }
  teardown("The connection was closed by the server. Log in again to continue.");
}

function handleFrame(frame) {
  const chat = typeof frame.room === "string" ? chats.get(frame.room) : null;
  switch (frame.type) {
    case "queue":
      queue.update(frame.waiting);
      break;
    case "assigned":
      onAssigned(frame);
      break;
    case "joined":
      if (chat) chat.onJoined(frame);
      if (chat && frame.more === true) send({ type: "join", room: chat.room, since: chat.lastId, ref: `join:${chat.room}` });
      break;
    case "notes":
      if (chat) chat.onNotes(frame.notes);
      break;
    case "message":
      if (chat) chat.onMessage(frame);
      break;
    case "ack":
      for (const c of chats.all()) c.onAck(frame);
      break;
    case "flagged":
      if (chat) onFlagged(chat, frame);
      break;
    case "erased":
      if (chat && chat.onErased(frame.ids)) chats.renderTabs();
      break;
    case "invite_sent":
      invitations.onSent(frame);
      break;
    case "invite_declined":
      invitations.onDeclined(frame);
      break;
    case "noted":
      if (chat) chat.onNoted(frame);
      break;
    case "ended":
      if (chat) {
        chat.markEnded();
        announce(`${chat.title} has ended. Please fill in the wrap-up.`);
        if (chat === chats.active) chat.focus();
      }
      break;
    case "wrapped":
      if (chat) {
        chat.markWrapped();
        chats.renderTabs();
      }
      break;
    case "transferred":
      if (chat) {
        const title = chat.title;
        chats.close(frame.room);
        setStatus("queue-status", `${title} was transferred.`);
        announce(`${title} was transferred.`);
      }
      break;
    case "typing":
      if (chat && typeof frame.from === "string") chat.onTyping(frame.from);
      break;
    case "notice":
      if (chat) {
        chat.onNotice(frame.text);
        announce(`${chat.title}: ${String(frame.text || "")}`);
      }
      break;
    case "status":
      setAvailability(frame.available === true);
      break;
    case "on_call":
      setOnCall(frame.on === true);
      setStatus("queue-status", frame.on === true ? "You are on call: crisis alerts come to you first." : "You are no longer on call.");
      break;
    case "alert":
      alerts.onAlert(frame);
      break;
    case "alert_taken":
      alerts.onTaken(frame);
      break;
    case "error":
      onError(frame);
      break;
    default:
      break; // pong, presence and frames this console does not use
  }
}

function onFlagged(chat, frame) {
  chat.onFlagged(frame);
  const urgent = frame.label === "urgent";
  if (urgent) playTone({ urgent: true });
  const words = urgent ? "Urgent: a message reads as a crisis" : "Concern: a worrying message";
  sayNow(`${words} in ${chat.title}. It is marked in the chat.`);
}

function onAssigned(frame) {
  if (typeof frame.room !== "string") return;
  const claimed = typeof frame.ticket === "string" ? state.claims.get(frame.ticket) : null;
  if (claimed) state.claims.delete(frame.ticket);
  const invited = typeof frame.invite === "string" ? invitations.accepted(frame.invite) : null;
  const transfer = frame.transfer === true;
  const chat = chats.open(frame.room, {
    topic: claimed ? claimed.topic : null,
    origin: invited ? `Invited from ${invited.roomName}` : "",
    priority: claimed ? claimed.priority : "",
    activate: !transfer,
  });
  join(chat);
  if (transfer) {
    playTone({ urgent: false });
    announce("A chat was transferred to you. It is in “Your chats”.");
    setStatus("queue-status", "A chat was transferred to you.");
  } else {
    setStatus("queue-status", "");
  }
}

function onError(frame) {
  const ref = typeof frame.ref === "string" ? frame.ref : "";
  const code = String(frame.code || "");
  const detail = String(frame.detail || code || "something went wrong");
  if (alerts.onAckError(ref, code, detail)) return;
  if (invitations.onError(ref, code, detail)) return;
  if (ref === "on_call") {
    setOnCall(!byId("on-call").checked);
    setStatus("queue-status", `Your on-call status did not change: ${detail}.`, "error");
    return;
  }
  if (ref.startsWith("claim:")) {
    const ticket = ref.slice(6);
    const claimed = state.claims.get(ticket);
    state.claims.delete(ticket);
    if (claimed && claimed.button && document.contains(claimed.button)) claimed.button.disabled = false;
    const text = code === "already_claimed" ? "Another supporter has already taken that chat." : `Claiming failed: ${detail}.`;
    setStatus("queue-status", text, "error");
    announce(text);
    return;
  }
  if (ref.startsWith("join:")) {
    const chat = chats.get(ref.slice(5));
    if (chat) chat.setStatus(`Could not open this chat: ${detail}.`, "error");
    return;
  }
  for (const [prefix, what] of [["end:", "ended"], ["transfer:", "transferred"]]) {
    if (!ref.startsWith(prefix)) continue;
    const chat = chats.get(ref.slice(prefix.length));
    if (chat) chat.setStatus(`The chat was not ${what}: ${detail}.`, "error");
    else setStatus("queue-status", detail, "error");
    return;
  }
  for (const chat of chats.all()) if (chat.onError(ref, code, detail)) return;
  const chat = typeof frame.room === "string" ? chats.get(frame.room) : null;
  if (chat) chat.setStatus(detail, "error");
  else setStatus("queue-status", detail, "error");
}

// ---- actions -----------------------------------------------------------------------------------

function claim(ticket, button) {
  const ok = send({ type: "claim", ticket, ref: `claim:${ticket}` });
  if (!ok) {
    setStatus("queue-status", "Not connected. Try again in a moment.", "error");
    return;
  }
  button.disabled = true;
  state.claims.set(ticket, { topic: queue.topicOf(ticket), priority: queue.priorityOf(ticket), button });
  setStatus("queue-status", "Claiming…");
}

function newTickets(tickets) {
  const urgent = tickets.some((t) => t.priority === "urgent");
  playTone({ urgent });
  const words = urgent ? "urgent request" : "request";
  announce(tickets.length === 1 ? `New ${words} waiting.` : `${tickets.length} new requests waiting.`);
}

function askEnd(chat) {
  state.ending = chat;
  // An urgent flag or alert still open here: ending needs a second, deliberate step.
  const urgent = chats.urgencyOf(chat) === "urgent";
  byId("end-urgent").hidden = !urgent;
  byId("end-urgent-check").checked = false;
  setStatus("end-urgent-status", "");
  byId("end-confirm").textContent = urgent ? "End chat anyway" : "End chat";
  openDialog(byId("end-dialog"));
}

function confirmEnd() {
  const chat = state.ending;
  if (chat && !byId("end-urgent").hidden && !byId("end-urgent-check").checked) {
    setStatus("end-urgent-status", "Tick the box first: this chat has an urgent flag.", "error");
    byId("end-urgent-check").focus();
    return;
  }
  state.ending = null;
  closeDialog(byId("end-dialog"));
  if (!chat) return;
  if (!send({ type: "end", room: chat.room, ref: `end:${chat.room}` })) {
    chat.setStatus("Not connected: the chat was not ended. Try again in a moment.", "error");
    return;
  }
  chat.setStatus("Ending the chat…");
}

function askTransfer(chat) {
  openTransfer((to) => {
    if (!send({ type: "transfer", room: chat.room, to, ref: `transfer:${chat.room}` })) {
      chat.setStatus("Not connected: the chat was not transferred. Try again in a moment.", "error");
      return;
    }
    chat.setStatus("Transferring…");
  });
}

function setAvailability(available) {
  byId("status-available").checked = available;
  byId("status-away").checked = !available;
  document.body.dataset.available = available ? "yes" : "no";
}

function setOnCall(on) {
  byId("on-call").checked = on;
  document.body.dataset.onCall = on ? "yes" : "no";
}

function changeOnCall(event) {
  const on = event.target.checked;
  if (!send({ type: "on_call", on, ref: "on_call" })) {
    setOnCall(!on);
    setStatus("queue-status", "Not connected: your on-call status did not change.", "error");
  }
}

async function loadRooms() {
  const result = await api.info();
  const rooms = result.status === 200 && result.body ? result.body.rooms : [];
  const count = renderRoomList(byId("room-rows"), rooms, openGroupRoom);
  setStatus("rooms-status", count ? "" : result.status === 200 ? "This program has no group rooms." : "The rooms could not be loaded. Reload the page to try again.");
}

/** A group room in its own pane: join it (a facilitator needs no invite code). */
function openGroupRoom({ room, roomName }) {
  const chat = chats.open(room, { group: true, roomName: String(roomName || room), activate: true });
  join(chat);
}

/** "Open the room" after taking an alert: a direct room as a one-to-one chat, else the group room. */
function openAlertRoom({ room, roomName }) {
  if (typeof room !== "string" || !room) return;
  if (room.startsWith("dm-")) {
    const chat = chats.open(room, { topic: "Crisis alert", priority: "urgent", activate: true });
    join(chat);
    return;
  }
  openGroupRoom({ room, roomName });
}

function changeAvailability(event) {
  const available = event.target.value === "available";
  if (!send({ type: "status", available })) {
    setAvailability(!available);
    setStatus("queue-status", "Not connected: your status did not change.", "error");
  }
}

// ---- wiring ------------------------------------------------------------------------------------

function wire() {
  setUpLogin(afterLogin);
  setUpTransfer();
  setUpDialog(byId("transfer-dialog"));
  setUpDialog(byId("end-dialog"));
  byId("end-confirm").addEventListener("click", confirmEnd);
  byId("logout").addEventListener("click", logout);
  byId("status-available").addEventListener("change", changeAvailability);
  byId("status-away").addEventListener("change", changeAvailability);
  byId("on-call").addEventListener("change", changeOnCall);
  byId("sound-on").addEventListener("change", (event) => {
    setSoundEnabled(event.target.checked);
    if (event.target.checked) unlockAudio();
  });
  // Audio may only start after a gesture: the first click or key press unlocks it.
  document.addEventListener("pointerdown", unlockAudio, { passive: true });
  document.addEventListener("keydown", unlockAudio, { passive: true });
  trackActivity(document, send);
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") {
      chats.seen();
      connection.nudge();
    }
  });
  window.addEventListener("online", () => connection.nudge());
  // A chat pane is as tall as the window below the pinned header, so its composer is in view.
  window.addEventListener("resize", fitPanes);
  setInterval(updateBanner, 1000);

  // For the browser tests: only this page's own socket can be touched.
  Object.defineProperty(window, "__peerlineConsole", {
    value: Object.freeze({
      isConnected: () => connection.isReady,
      dropSocket: () => connection.drop({}),
      alarm: () => alerts.snapshot(),
    }),
  });
}

wire();
load();
