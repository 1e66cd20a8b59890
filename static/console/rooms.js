// The group rooms a facilitator can open from the console (the rooms in /api/info). Opening
// one joins it in a group-room chat pane; invite-only rooms need no code for facilitators.

import { el } from "../participant/dom.js";

export function renderRoomList(list, rooms, onOpen) {
  const items = (Array.isArray(rooms) ? rooms : []).filter((r) => r && typeof r.id === "string");
  list.replaceChildren(
    ...items.map((room) => {
      const name = String(room.name || room.id);
      const button = el("button", {
        className: "btn btn-small",
        text: "Open",
        attrs: { type: "button", "aria-label": `Open ${name}` },
      });
      button.addEventListener("click", () => onOpen({ room: room.id, roomName: name }));
      return el("li", { className: "room-row" }, [
        el("span", { className: "room-row-name", text: name }),
        room.access === "invite" ? el("span", { className: "badge", text: "Invite only" }) : null,
        button,
      ]);
    }),
  );
  return items.length;
}
