// The message list of the open room: ordered by id, each message shown once.
//
// Confirmed messages carry data-id and sit in id order; messages still being sent carry
// data-nonce and sit after them, in the order they were written. When an ack arrives the
// pending item takes its id, so the later `message` frame (or a history copy) is recognised
// as the same message and not shown twice.

import { el } from "./dom.js";
import { compareIds } from "./ids.js";

const MAX_SHOWN = 500; // older messages drop off the top of a very long session
const NEAR_BOTTOM_PX = 80;

const ROLE_LABELS = {
  supporter: "Supporter",
  facilitator: "Facilitator",
  moderator: "Moderator",
  admin: "Staff",
};

function timeText(ms) {
  const date = new Date(Number(ms));
  if (Number.isNaN(date.getTime())) return "";
  return date.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });
}

export class MessageList {
  constructor(list, { onReport, onRetry }) {
    this.list = list;
    this.onReport = onReport;
    this.onRetry = onRetry;
    this.byId = new Map(); // id -> li
    this.byNonce = new Map(); // nonce -> li (pending or failed)
  }

  // ---- whole list --------------------------------------------------------------------------

  reset() {
    this.list.replaceChildren();
    this.byId.clear();
    this.byNonce.clear();
  }

  /** Drop every confirmed message (a `reset` join), keeping what is still being sent. */
  clearConfirmed() {
    for (const li of this.byId.values()) li.remove();
    this.byId.clear();
    for (const li of this.list.querySelectorAll("li.notice")) li.remove();
  }

  has(id) {
    return this.byId.has(id);
  }

  setBusy(busy) {
    this.list.setAttribute("aria-busy", busy ? "true" : "false");
  }

  nearBottom() {
    const l = this.list;
    return l.scrollHeight - l.scrollTop - l.clientHeight < NEAR_BOTTOM_PX;
  }

  scrollToBottom() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  /** Run a change, then keep the view pinned to the newest message if it was there before. */
  keepPinned(change, force = false) {
    const pinned = force || this.nearBottom();
    const result = change();
    if (pinned) this.scrollToBottom();
    return result;
  }

  // ---- confirmed messages ------------------------------------------------------------------

  /** Show a `message` frame (live or from history). Returns false when it was already shown. */
  addMessage(frame, own, { force = false } = {}) {
    const id = String(frame.id || "");
    if (!id || this.byId.has(id)) return false;
    const li = this.build(frame, own);
    li.dataset.id = id;
    this.keepPinned(() => this.insertConfirmed(li, id), force);
    this.byId.set(id, li);
    this.trim();
    return true;
  }

  insertConfirmed(li, id) {
    const confirmed = this.list.querySelectorAll("li[data-id]");
    const last = confirmed[confirmed.length - 1];
    let before = null;
    if (last && compareIds(last.dataset.id, id) > 0) {
      for (const other of confirmed) {
        if (compareIds(other.dataset.id, id) > 0) {
          before = other;
          break;
        }
      }
    } else {
      before = this.list.querySelector("li[data-nonce]");
    }
    this.list.insertBefore(li, before);
  }

  removeIds(ids) {
    let removed = 0;
    for (const id of ids) {
      const li = this.byId.get(id);
      if (li) {
        li.remove();
        this.byId.delete(id);
        removed += 1;
      }
    }
    return removed;
  }

  trim() {
    while (this.byId.size > MAX_SHOWN) {
      const first = this.list.querySelector("li[data-id]");
      if (!first) return;
      this.byId.delete(first.dataset.id);
      first.remove();
    }
  }

  // ---- my messages on their way ------------------------------------------------------------

  hasPending(nonce) {
    return this.byNonce.has(nonce);
  }

  addPending(item, myName) {
    if (this.byNonce.has(item.nonce)) return;
    const li = this.build(
      { from: { name: myName, role: "participant" }, text: item.text, ts: item.created },
      true,
    );
    li.dataset.nonce = item.nonce;
    li.classList.add("pending");
    this.byNonce.set(item.nonce, li);
    this.setState(item.nonce, "waiting");
    this.keepPinned(() => this.list.append(li), true);
  }

  /** The pending message's state: "waiting" (no connection), "sending", "retrying". */
  setState(nonce, state, detail = "") {
    const li = this.byNonce.get(nonce);
    if (!li) return;
    const label = {
      waiting: "Not sent yet: waiting for the connection",
      sending: "Sending…",
      retrying: detail ? `Not sent yet: ${detail}. Trying again soon` : "Trying again soon",
    }[state];
    li.querySelector(".msg-state").textContent = label || "";
  }

  /**
   * A resumed history just showed one of my messages with the same words as this pending
   * one: most likely it is the same message, stored before the connection dropped. Hide the
   * pending copy until the ack says which id it has, so the words are not shown twice.
   */
  hidePending(nonce) {
    const li = this.byNonce.get(nonce);
    if (!li || li.hidden) return false;
    li.hidden = true;
    return true;
  }

  isHidden(nonce) {
    const li = this.byNonce.get(nonce);
    return Boolean(li && li.hidden);
  }

  /** The server acknowledged: the message now has its id. */
  ackPending(nonce, id) {
    const li = this.byNonce.get(nonce);
    if (!li) return;
    this.byNonce.delete(nonce);
    if (this.byId.has(id)) {
      li.remove(); // already shown (from history after a reconnect)
      return;
    }
    li.hidden = false;
    delete li.dataset.nonce;
    li.classList.remove("pending");
    li.querySelector(".msg-state").textContent = "";
    li.dataset.id = id;
    this.byId.set(id, li);
    // Keep id order: later messages of others may already be shown after it.
    li.remove();
    this.keepPinned(() => this.insertConfirmed(li, id));
  }

  /** Take a pending message off the list without a trace (its words went back to the composer). */
  dropPending(nonce) {
    const li = this.byNonce.get(nonce);
    if (!li) return;
    this.byNonce.delete(nonce);
    li.remove();
  }

  /** Refused for good (too long…): say so and offer to try again. */
  failPending(nonce, detail) {
    const li = this.byNonce.get(nonce);
    if (!li) return;
    li.hidden = false;
    li.classList.remove("pending");
    li.classList.add("failed");
    const state = li.querySelector(".msg-state");
    state.textContent = `Not sent: ${detail || "refused by the server"}.`;
    const retry = el("button", {
      className: "link-button msg-action",
      text: "Try again",
      attrs: { type: "button" },
    });
    retry.addEventListener("click", () => {
      this.byNonce.delete(nonce);
      li.remove();
      this.onRetry(li.querySelector(".msg-text").textContent);
    });
    const discard = el("button", {
      className: "link-button msg-action",
      text: "Remove",
      attrs: { type: "button" },
    });
    discard.addEventListener("click", () => {
      this.byNonce.delete(nonce);
      li.remove();
    });
    li.querySelector(".msg-foot").append(retry, discard);
  }

  // ---- private notices ---------------------------------------------------------------------

  addNotice(text, resourcesNode, label = "Only you can see this", kind = "") {
    const li = el("li", { className: kind ? `notice notice-${kind}` : "notice" }, [
      el("p", { className: "notice-label", text: label }),
      el("p", { className: "msg-text", text }),
      resourcesNode,
    ]);
    this.keepPinned(() => this.list.append(li), true);
  }

  // ---- one message -------------------------------------------------------------------------

  build(frame, own) {
    const from = frame.from && typeof frame.from === "object" ? frame.from : {};
    const name = String(from.name || "Someone");
    const role = String(from.role || "participant");
    const roleLabel = ROLE_LABELS[role] || "";
    const when = timeText(frame.ts);
    const who = own ? "You" : name;
    const meta = el("p", { className: "msg-meta" }, [
      el("span", { className: "msg-who", text: who }),
      roleLabel ? el("span", { className: "msg-role", text: roleLabel }) : null,
      when
        ? el("time", {
            className: "msg-time",
            text: when,
            attrs: { datetime: new Date(Number(frame.ts)).toISOString() },
          })
        : null,
    ]);
    const foot = el("div", { className: "msg-foot" }, [
      el("span", { className: "msg-state" }),
    ]);
    const li = el(
      "li",
      { className: `msg${own ? " own" : ""}${roleLabel ? " staff" : ""}` },
      [meta, el("p", { className: "msg-text", text: String(frame.text || "") }), foot],
    );
    if (!own) {
      const report = el("button", {
        className: "link-button msg-action msg-report",
        text: "Report",
        attrs: { type: "button", "aria-label": `Report message from ${name}` },
      });
      report.addEventListener("click", () => {
        const id = li.dataset.id;
        if (id) this.onReport(id, String(frame.text || ""), report);
      });
      foot.append(report);
    }
    return li;
  }
}
