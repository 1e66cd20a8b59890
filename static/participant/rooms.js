// The rooms list and going in and out of a room: choosing one, joining (with an invite code
// when the room needs one), a join the server refused, and leaving.

import { renderChatMode } from "./chat.js";
import { crisisRoomGone } from "./crisis.js";
import { byId, closeDialog, el, openDialog, setStatus } from "./dom.js";
import {
  DIRECT_TITLE,
  RETRY_AFTER_MS,
  ROOM_KEY,
  connection,
  messages,
  roomById,
  showView,
  state,
  storageGet,
  storageSet,
  updateBanner,
} from "./page.js";
import { readWaiting, renderSupportOffer, showWaiting } from "./support.js";
import { renderTyping } from "./typing.js";

export function renderRooms(rooms) {
  const list = byId("room-list");
  list.replaceChildren(
    ...rooms.map((room) => {
      const name = String(room.name || room.id);
      const invite = room.access === "invite";
      const button = el("button", {
        className: "btn btn-primary",
        text: "Join",
        attrs: { type: "button", "aria-label": `Join ${name}` },
      });
      button.addEventListener("click", () => chooseRoom(String(room.id)));
      return el("li", { className: "room" }, [
        el("div", { className: "room-text" }, [
          el("h2", { className: "room-name" }, [
            document.createTextNode(name),
            invite ? el("span", { className: "badge", text: "Invite only" }) : null,
          ]),
          room.description ? el("p", { className: "room-desc", text: room.description }) : null,
        ]),
        button,
      ]);
    }),
  );
}

export function enterRooms({ resume }) {
  byId("rooms-pseudonym").textContent = state.me;
  byId("chat-pseudonym").textContent = state.me;
  setStatus("rooms-status", "");
  renderSupportOffer();
  const stored = resume ? storageGet(ROOM_KEY) : null;
  const waiting = resume ? readWaiting() : null;
  if (waiting) {
    // A reload while waiting for a supporter: keep waiting (the request is sent again).
    state.support = { topic: waiting.topic, ticket: null };
    showWaiting();
  } else if (stored && roomById(stored)) {
    // A reload inside a room: go back into it as soon as the socket is up.
    beginRoom(stored);
    showView("rooms");
    setStatus("rooms-status", "Going back to your room…");
  } else {
    showView("rooms");
  }
  connection.start();
  updateBanner();
}

function chooseRoom(roomId) {
  const room = roomById(roomId);
  if (!room) return;
  beginRoom(roomId);
  setStatus("rooms-status", connection.isReady ? "Joining…" : "Connecting…");
  if (connection.isReady) sendJoin(roomId, { since: null });
}

export function beginRoom(roomId) {
  if (state.room !== roomId) {
    messages.reset();
    state.lastId.delete(roomId);
  }
  state.room = roomId;
  state.joinedRoom = null;
  const room = roomById(roomId);
  state.roomName = state.direct.has(roomId) ? DIRECT_TITLE : room ? String(room.name) : roomId;
  renderChatMode();
}

export function sendJoin(roomId, { since = null, invite = null } = {}) {
  state.joinRequest = { room: roomId, since, invite };
  const frame = { type: "join", room: roomId, since, ref: `join:${roomId}` };
  if (invite) frame.invite = invite;
  messages.setBusy(true);
  connection.send(frame);
}

export function leaveRoom() {
  const room = state.room;
  if (room) crisisRoomGone(room);
  // A direct room is not left: the supporter is still there, and "Back to my private chat"
  // on the rooms view returns to it. An ended one is simply closed.
  const group = room && !state.direct.has(room) && !state.endedRooms.has(room);
  if (group && connection.isReady) connection.send({ type: "leave", room, ref: `leave:${room}` });
  if (room) state.endedRooms.delete(room);
  state.room = null;
  state.joinedRoom = null;
  state.joinRequest = null;
  state.typers.clear();
  renderTyping();
  storageSet(ROOM_KEY, null);
  messages.reset();
  setStatus("chat-status", "");
  setStatus("rooms-status", "");
  renderChatMode();
  renderSupportOffer();
  showView("rooms");
}

function openInvite(roomId, detail) {
  state.inviteRoom = roomId;
  const room = roomById(roomId);
  byId("invite-desc").textContent = `${room ? room.name : "This room"} is invite only. Enter the code you were given.`;
  setStatus("invite-status", detail || "", detail ? "error" : "info");
  const dialog = byId("invite-dialog");
  openDialog(dialog);
  byId("invite-code").focus();
}

export function submitInvite(event) {
  event.preventDefault();
  const code = byId("invite-code").value.trim();
  const roomId = state.inviteRoom;
  if (!code || !roomId) return;
  byId("invite-code").value = "";
  closeDialog(byId("invite-dialog"));
  beginRoom(roomId);
  if (!connection.isReady) {
    setStatus("rooms-status", "Not connected yet. Try again in a moment.", "error");
    return;
  }
  setStatus("rooms-status", "Joining…");
  sendJoin(roomId, { since: null, invite: code });
}

export function onJoinError(roomId, code, detail) {
  messages.setBusy(false);
  if (code === "rate_limited" || code === "unavailable" || code === "internal") {
    setStatus(state.view === "chat" ? "chat-status" : "rooms-status", `${detail}. Trying again…`, "error");
    setTimeout(() => {
      if (state.room === roomId && connection.isReady && state.joinedRoom !== roomId) {
        sendJoin(roomId, { since: state.lastId.get(roomId) || null });
      }
    }, RETRY_AFTER_MS);
    return;
  }
  const tried = state.joinRequest && state.joinRequest.invite;
  state.joinRequest = null;
  if (state.room === roomId) {
    state.room = null;
    state.joinedRoom = null;
    storageSet(ROOM_KEY, null);
  }
  if (state.view === "chat") showView("rooms");
  if (code === "invite_required") {
    setStatus("rooms-status", "");
    openInvite(roomId, tried ? detail : "");
    return;
  }
  setStatus("rooms-status", detail, "error");
}
