// The list of review items: held alerts first (they wait for a person and are urgent), then
// the newest. Each item is one button; the chosen one is marked aria-current.

import { el } from "../participant/dom.js";
import { CATEGORY, KIND, STATUS, roomText, when } from "./words.js";

export function sortItems(items) {
  const list = (Array.isArray(items) ? items : []).filter((i) => i && typeof i === "object" && i.id !== undefined);
  // Stable: the server's order (newest first) is kept inside each group.
  // Urgent support topics too: a person who may be in danger now, waiting in the queue.
  const first = (i) => i.kind === "held" || (i.kind === "topic" && i.label === "urgent");
  return [...list.filter(first), ...list.filter((i) => !first(i))];
}

const MESSAGE_ID = /^\d{1,15}-\d{1,15}$/;

/**
 * The server sends the message's id in `message`, not its words: the text stays sealed until
 * a moderator opens the item (and every opening is audited). A text, if a server sends one,
 * is shown as a preview.
 */
function preview(item) {
  const message = String(item.message || "");
  return message && !MESSAGE_ID.test(message) ? message : "";
}

export function renderItems(listNode, items, selectedId, onSelect) {
  listNode.replaceChildren(
    ...items.map((item) => {
      const id = String(item.id);
      const held = item.kind === "held";
      const label = String(item.label || "");
      const status = String(item.status || "open");
      const button = el(
        "button",
        {
          className: `item${held ? " is-held" : ""}${id === selectedId ? " is-selected" : ""}`,
          attrs: {
            type: "button",
            "data-id": id,
            "data-message": MESSAGE_ID.test(String(item.message || "")) ? String(item.message) : null,
            "aria-current": id === selectedId ? "true" : null,
          },
        },
        [
          el("span", { className: "item-line" }, [
            el("span", { className: `kind kind-${item.kind}`, text: held ? "Held · urgent" : KIND[item.kind] || "Item" }),
            label && label !== "none" && !held ? el("span", { className: `level level-${label}`, text: label }) : null,
            item.category ? el("span", { className: "item-cat", text: CATEGORY[item.category] || String(item.category) }) : null,
            el("span", { className: `item-status status-${status}`, text: STATUS[status] || status }),
          ]),
          preview(item) ? el("span", { className: "item-text", text: preview(item) }) : null,
          el("span", { className: "item-where muted", text: [roomText(item), when(item.ts)].filter(Boolean).join(" · ") }),
        ],
      );
      button.addEventListener("click", () => onSelect(id));
      return el("li", {}, [button]);
    }),
  );
}
