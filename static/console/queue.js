// The live queue of people waiting for a one-to-one chat, most urgent first (the server's
// order is kept). Priority is shown in words as well as colour; waiting times tick.

import { el } from "../participant/dom.js";
import { waitedText } from "./waittime.js";

const PRIORITY_WORDS = { urgent: "Urgent", concern: "Concern", normal: "Normal" };
const NEW_FOR_MS = 60_000; // a new ticket stays highlighted this long

export class Queue {
  /**
   * list: the <ol>; onClaim(ticket, topic); onNew(tickets) for tickets never seen before.
   */
  constructor(list, { onClaim, onNew, onCount }) {
    this.list = list;
    this.onClaim = onClaim;
    this.onNew = onNew;
    this.onCount = onCount;
    this.offset = 0;
    this.seen = new Map(); // ticket -> when this console first saw it
    this.items = [];
    this.first = true; // the first frame after connecting is not "new" to the person
    setInterval(() => this.tick(), 15_000);
  }

  setClockOffset(offset) {
    this.offset = offset;
  }

  topicOf(ticket) {
    const item = this.items.find((i) => i.ticket === ticket);
    return item ? item.topic : null;
  }

  priorityOf(ticket) {
    const item = this.items.find((i) => i.ticket === ticket);
    return item ? item.priority : "normal";
  }

  /** A `queue` frame: the full list as it is now. */
  update(waiting) {
    const now = Date.now();
    const items = (Array.isArray(waiting) ? waiting : []).filter(
      (i) => i && typeof i.ticket === "string",
    );
    const fresh = [];
    for (const item of items) {
      if (!this.seen.has(item.ticket)) {
        this.seen.set(item.ticket, this.first ? 0 : now);
        if (!this.first) fresh.push(item);
      }
    }
    const current = new Set(items.map((i) => i.ticket));
    for (const ticket of this.seen.keys()) if (!current.has(ticket)) this.seen.delete(ticket);
    this.first = false;
    this.items = items;
    this.render();
    this.onCount(items.length);
    if (fresh.length) this.onNew(fresh);
  }

  /** After a reconnect the next queue frame is compared against what was shown before. */
  clear() {
    this.items = [];
    this.seen.clear();
    this.first = true;
    this.render();
    this.onCount(0);
  }

  render() {
    const focused = document.activeElement;
    const focusTicket = focused && focused.dataset ? focused.dataset.ticket : null;
    const now = Date.now();
    this.list.replaceChildren(
      ...this.items.map((item) => this.row(item, now)),
    );
    if (focusTicket) {
      // Keep keyboard focus on the same ticket's button when the list is redrawn.
      const again = this.list.querySelector(`button[data-ticket="${CSS.escape(focusTicket)}"]`);
      if (again) again.focus();
    }
  }

  row(item, now) {
    const priority = PRIORITY_WORDS[item.priority] ? item.priority : "normal";
    const words = PRIORITY_WORDS[priority];
    const topic = typeof item.topic === "string" && item.topic.trim() ? item.topic.trim() : "";
    const since = this.seen.get(item.ticket) || 0;
    const isNew = since > 0 && now - since < NEW_FOR_MS;
    const claim = el("button", {
      className: "btn btn-primary btn-small",
      text: "Claim",
      attrs: {
        type: "button",
        "data-ticket": item.ticket,
        "aria-label": `Claim: ${words}${topic ? `, ${topic}` : ""}, waiting ${waitedText(item.since, this.offset)}`,
      },
    });
    claim.addEventListener("click", () => this.onClaim(item.ticket, claim));
    return el(
      "li",
      { className: `ticket prio-${priority}${isNew ? " is-new" : ""}`, attrs: { "data-ticket": item.ticket } },
      [
        el("div", { className: "ticket-text" }, [
          el("p", { className: "ticket-head" }, [
            el("span", { className: `prio prio-${priority}`, text: words }),
            isNew ? el("span", { className: "new-badge", text: "New" }) : null,
            // A chat a supporter handed back: the person has already talked with someone.
            item.transfer === true
              ? el("span", { className: "transfer-badge", text: "Transferred" })
              : null,
            el("span", {
              className: "waited",
              text: `waiting ${waitedText(item.since, this.offset)}`,
              attrs: { "data-since": String(item.since) },
            }),
          ]),
          el("p", {
            className: topic ? "ticket-topic" : "ticket-topic muted",
            text: topic || "No topic given",
          }),
        ]),
        claim,
      ],
    );
  }

  /** Waiting times move on without a new frame; the "New" highlight fades after a minute. */
  tick() {
    if (this.items.length) this.render();
  }
}
