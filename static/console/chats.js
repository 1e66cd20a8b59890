// The set of chats a supporter has open: one pane each, and a list of tabs with unread counts.
// Only one pane shows at a time; the others keep their drafts, scroll and notes.

import { el } from "../participant/dom.js";
import { Chat } from "./chat.js";

export class Chats {
  constructor({ tabs, panes, empty, emptyPane, onUnreadChange, alertLevel = () => "" }) {
    this.alertLevel = alertLevel; // room -> "urgent" while a crisis alert for it is on the board
    this.tabs = tabs;
    this.panes = panes;
    this.empty = empty;
    this.emptyPane = emptyPane;
    this.onUnreadChange = onUnreadChange;
    this.byRoom = new Map();
    this.active = null;
    this.shared = null; // {me, canned, wrapup, send, onEnd, onTransfer, onIncoming}
  }

  configure(shared) {
    this.shared = shared;
  }

  get(room) {
    return this.byRoom.get(room) || null;
  }

  all() {
    return [...this.byRoom.values()];
  }

  /** Open (or find) the chat for a room; new chats become the active one when asked. */
  open(room, { topic = null, priority = "", activate = false, group = false, roomName = "", origin = "" } = {}) {
    let chat = this.byRoom.get(room);
    if (!chat) {
      chat = new Chat({
        ...this.shared,
        room,
        topic,
        priority,
        origin,
        group,
        roomName,
        onChange: () => this.renderTabs(),
        onClose: (c) => this.close(c.room),
        onIncoming: (c, frame) => {
          if (c !== this.active || document.visibilityState !== "visible") {
            c.unread += 1;
            this.renderTabs();
          }
          this.shared.onIncoming(c, frame);
        },
      });
      this.byRoom.set(room, chat);
      this.panes.append(chat.pane);
    }
    if (activate || !this.active) this.activate(chat, { focus: activate });
    this.renderTabs();
    return chat;
  }

  activate(chat, { focus = true } = {}) {
    this.active = chat;
    for (const other of this.byRoom.values()) other.show(other === chat);
    this.emptyPane.hidden = Boolean(chat);
    if (chat) {
      chat.unread = 0;
      if (focus) chat.focus();
    }
    this.renderTabs();
  }

  /** The person came back to the tab: what they now see is no longer unread. */
  seen() {
    if (this.active && this.active.unread) {
      this.active.unread = 0;
      this.renderTabs();
    }
  }

  close(room) {
    const chat = this.byRoom.get(room);
    if (!chat) return;
    this.byRoom.delete(room);
    chat.pane.remove();
    if (this.active === chat) {
      const next = this.byRoom.values().next().value || null;
      this.active = null;
      this.activate(next, { focus: false });
      // Focus goes somewhere sensible instead of being lost with the removed pane.
      const target = next ? next.heading : document.getElementById("queue-title");
      if (target) target.focus();
    }
    this.renderTabs();
  }

  clear() {
    for (const room of [...this.byRoom.keys()]) {
      this.byRoom.get(room).pane.remove();
      this.byRoom.delete(room);
    }
    this.active = null;
    this.emptyPane.hidden = false;
    this.renderTabs();
  }

  totalUnread() {
    let total = 0;
    for (const chat of this.byRoom.values()) total += chat.unread;
    return total;
  }

  /** "urgent", "concern" or "": an open flag in the chat, or an alert for its room. */
  urgencyOf(chat) {
    if (chat.ended) return "";
    const alert = this.alertLevel(chat.room);
    return alert === "urgent" || chat.urgency === "urgent" ? "urgent" : chat.urgency || alert || "";
  }

  renderTabs() {
    const chats = this.all();
    // Redrawing replaces the buttons: give focus back to the same chat's tab afterwards.
    const focused = this.tabs.contains(document.activeElement) ? document.activeElement.dataset.key : null;
    this.empty.hidden = chats.length > 0;
    this.tabs.replaceChildren(
      ...chats.map((chat) => {
        const state = chat.ended ? (chat.wrapped ? "ended, wrapped up" : "ended, wrap-up needed") : "";
        const urgency = this.urgencyOf(chat);
        const urgent = { urgent: "Urgent", concern: "Concern" }[urgency] || "";
        const label = [urgent, chat.title, chat.topic || chat.origin, chat.unread ? `${chat.unread} unread` : "", state]
          .filter(Boolean)
          .join(", ");
        const button = el(
          "button",
          {
            className: `chat-tab${chat === this.active ? " is-active" : ""}${chat.ended ? " is-ended" : ""}${urgency ? ` urgency-${urgency}` : ""}`,
            attrs: {
              type: "button",
              "data-key": chat.key,
              "aria-current": chat === this.active ? "true" : null,
              "aria-label": label,
            },
          },
          [
            urgent ? el("span", { className: `tab-urgency urgency-${urgency}`, text: urgent, attrs: { "aria-hidden": "true" } }) : null,
            el("span", { className: "tab-title", text: chat.title }),
            chat.topic || chat.origin ? el("span", { className: "tab-topic", text: chat.topic || chat.origin }) : null,
            chat.unread ? el("span", { className: "unread", text: String(chat.unread), attrs: { "aria-hidden": "true" } }) : null,
            chat.ended ? el("span", { className: "tab-state", text: chat.wrapped ? "Ended" : "Wrap-up", attrs: { "aria-hidden": "true" } }) : null,
          ],
        );
        button.addEventListener("click", () => this.activate(chat));
        return el("li", {}, [button]);
      }),
    );
    if (focused) {
      const again = this.tabs.querySelector(`button[data-key="${focused}"]`);
      if (again) again.focus();
    }
    this.onUnreadChange(this.totalUnread());
  }
}
