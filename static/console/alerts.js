// Crisis alerts: a banner above everything for each open escalation, with a live countdown to
// its deadline, a repeating alarm and a flashing title until someone takes it.
//
// Wire (crisis contract): `alert` (the same escalation again when it climbs a rung: update in
// place), `ack_alert` sent only by a click on "I'm taking this", `alert_taken` to every console
// that got it, `error already_taken` when a colleague was first. Nothing here moves focus to
// the button: a new alert must never be taken by an Enter meant for a chat.

import { el } from "../participant/dom.js";
import { audioState, flashTitle, playAlarm } from "./cue.js";

const ALARM_EVERY_MS = 3000;
const TICK_MS = 500;
const NOTE_MS = 10_000;
const STALE_AFTER_RECONNECT_MS = 6000;

const CATEGORY_WORDS = {
  suicide: "Suicide risk",
  self_harm: "Self-harm",
  overdose: "Possible overdose",
  medical: "Medical emergency",
  harm_to_others: "Harm to others",
  abuse_in_progress: "Abuse in progress",
};

const RUNG_WORDS = {
  1: "On-call alert",
  2: "Not taken yet: sent to every facilitator online",
  3: "Not taken yet: sent to all staff online",
};

// An alert raised because a flagged person went quiet, not by a message (issue 13).
const SILENCE_WORDS = "Gone quiet after a flagged message";

function isSilence(frame) {
  return frame.reason === "silence";
}

// A support request's topic has no room: the person is reached by claiming their request.
function isTopic(frame) {
  return frame.room === "";
}

export function roomWords(room, roomName) {
  if (typeof roomName === "string" && roomName.trim()) return roomName.trim();
  return typeof room === "string" && room.startsWith("dm-") ? "a private one-to-one chat" : String(room || "a room");
}

function clock(ms) {
  const total = Math.max(0, Math.ceil(ms / 1000));
  const minutes = Math.floor(total / 60);
  const seconds = total % 60;
  return `${minutes}:${String(seconds).padStart(2, "0")}`;
}

export class AlertBoard {
  /**
   * options: {container, live, notes, send(frame) -> bool, serverNow() -> ms,
   * onOpenRoom({room, roomName}), onChange()}
   */
  constructor(options) {
    this.opts = options;
    this.container = options.container;
    this.byId = new Map(); // escalation -> entry
    this.done = new Set(); // escalations taken (by anyone): a late copy must not ring again
    this.beeps = 0;
    this.lastAlarm = 0;
    this.reconnectedAt = 0;
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** "urgent" while an alert for this room is on the board (open, being taken, or mine). */
  levelFor(room) {
    for (const entry of this.byId.values()) if (entry.frame.room === room) return "urgent";
    return "";
  }

  /** A line on the card of the alert about this message; false when no card shows it. */
  noteOn(room, message, text) {
    for (const entry of this.byId.values()) {
      if (entry.frame.room === room && entry.frame.message === message) {
        entry.status.textContent = text;
        return true;
      }
    }
    return false;
  }

  /** The alert about this message is dealt with (its person accepted a private chat). */
  closeOn(room, message, text) {
    for (const entry of [...this.byId.values()]) {
      if (entry.state === "mine" && entry.frame.room === room && entry.frame.message === message) {
        this.remove(entry);
        this.note(text);
        this.update();
        return true;
      }
    }
    return false;
  }

  /** Escalations still waiting for someone (these ring). */
  ringing() {
    return [...this.byId.values()].filter((a) => a.state === "open");
  }

  // ---- frames ------------------------------------------------------------------------------

  onAlert(frame) {
    const id = typeof frame.escalation === "string" ? frame.escalation : "";
    if (!id || this.done.has(id)) return;
    let entry = this.byId.get(id);
    const fresh = !entry;
    if (!entry) {
      entry = { id, state: "open", frame, rung: 0 };
      this.build(entry);
      this.byId.set(id, entry);
      this.container.prepend(entry.node);
    }
    const climbed = !fresh && Number(frame.rung) > entry.rung;
    entry.frame = frame;
    entry.seenAt = Date.now();
    entry.rung = Number(frame.rung) || 1;
    this.render(entry);
    const where = roomWords(frame.room, frame.room_name);
    const what = CATEGORY_WORDS[frame.category] || "Crisis";
    if (fresh) {
      const why = isSilence(frame) ? `${SILENCE_WORDS}. ` : "";
      this.say(`Urgent crisis alert: ${why}${what} in ${where}. "${String(frame.excerpt || "")}". Use the button I'm taking this to respond.`);
      this.lastAlarm = 0; // ring now, not at the next beat
    } else if (climbed) {
      this.say(`The alert in ${where} is still not taken and has been passed on to more staff.`);
      this.lastAlarm = 0;
    }
    this.update();
  }

  onTaken(frame) {
    const id = typeof frame.escalation === "string" ? frame.escalation : "";
    if (!id) return;
    this.done.add(id);
    const entry = this.byId.get(id);
    const by = String(frame.by || "a colleague");
    if (entry && entry.state === "taking") {
      entry.state = "mine";
      this.render(entry);
      this.say(`You took the alert in ${roomWords(entry.frame.room, entry.frame.room_name)}.`);
      entry.openButton.focus(); // they just clicked in this card: the next step is here
    } else if (entry) {
      this.remove(entry);
      this.note(`Taken by ${by}: the alert in ${roomWords(entry.frame.room, entry.frame.room_name)}.`);
      this.say(`Taken by ${by}.`);
    }
    this.update();
  }

  /** An error answering `ack_alert` (ref "ack:E"). Returns true when it was one. */
  onAckError(ref, code, detail) {
    if (!ref.startsWith("ack:")) return false;
    const entry = this.byId.get(ref.slice(4));
    if (!entry) return true;
    if (code === "already_taken") {
      this.done.add(entry.id);
      this.remove(entry);
      this.note("Already taken by a colleague.");
      this.say("Already taken by a colleague.");
    } else {
      entry.state = "open";
      this.render(entry);
      entry.status.textContent = `Not taken: ${detail}. Try again.`;
    }
    this.update();
    return true;
  }

  /** After a reconnect the server sends every alert still open again; drop the others. */
  onReconnect() {
    this.reconnectedAt = Date.now();
  }

  clear() {
    for (const entry of [...this.byId.values()]) this.remove(entry);
    this.done.clear();
    this.update();
  }

  // ---- actions -----------------------------------------------------------------------------

  take(entry) {
    if (entry.state !== "open") return;
    const ok = this.opts.send({ type: "ack_alert", escalation: entry.id, ref: `ack:${entry.id}` });
    if (!ok) {
      entry.status.textContent = "Not connected: not taken yet. Try again in a moment.";
      return;
    }
    entry.state = "taking";
    this.render(entry);
    this.update();
  }

  // ---- view --------------------------------------------------------------------------------

  build(entry) {
    entry.kicker = el("p", { className: "alert-kicker" });
    entry.heading = el("h2", { className: "alert-room" });
    entry.excerpt = el("blockquote", { className: "alert-excerpt" });
    entry.clockLabel = el("span", { className: "alert-clock-label" });
    entry.clock = el("strong", { className: "alert-clock" });
    entry.countdown = el("p", { className: "alert-countdown", attrs: { role: "timer", "aria-live": "off" } }, [
      entry.clockLabel,
      " ",
      entry.clock,
    ]);
    entry.takeButton = el("button", { className: "btn btn-alert", text: "I'm taking this", attrs: { type: "button" } });
    entry.takeButton.addEventListener("click", () => this.take(entry));
    entry.openButton = el("button", { className: "btn btn-primary", text: "Open the room", attrs: { type: "button", hidden: true } });
    entry.openButton.addEventListener("click", () => {
      this.opts.onOpenRoom({ room: entry.frame.room, roomName: entry.frame.room_name });
      this.remove(entry);
      this.update();
    });
    // From a group room, the person can be offered a private chat; they accept or not.
    entry.inviteButton = el("button", { className: "btn", text: "Invite to a private chat", attrs: { type: "button", hidden: true } });
    entry.inviteButton.addEventListener("click", () => {
      const f = entry.frame;
      if (this.opts.onInvite({ room: f.room, message: f.message, roomName: f.room_name })) {
        entry.inviteButton.disabled = true;
        entry.status.textContent = "Sending the invitation…";
      }
    });
    entry.closeButton = el("button", { className: "btn btn-small", text: "Close", attrs: { type: "button", hidden: true } });
    entry.closeButton.addEventListener("click", () => {
      this.remove(entry);
      this.update();
    });
    entry.sound = el("p", { className: "alert-sound" });
    entry.status = el("p", { className: "alert-status", attrs: { role: "status" } });
    entry.node = el("article", { className: "alert-card", attrs: { "data-escalation": entry.id } }, [
      el("div", { className: "alert-main" }, [entry.kicker, entry.heading, entry.excerpt]),
      el("div", { className: "alert-side" }, [
        entry.countdown,
        el("div", { className: "alert-buttons" }, [entry.takeButton, entry.openButton, entry.inviteButton, entry.closeButton]),
        entry.status,
        entry.sound,
      ]),
    ]);
  }

  render(entry) {
    const f = entry.frame;
    entry.node.dataset.state = entry.state;
    entry.node.dataset.rung = String(entry.rung);
    const what = CATEGORY_WORDS[f.category] || "Crisis";
    entry.kicker.replaceChildren(
      el("span", { className: "alert-badge", text: "Urgent" }),
      el("span", { className: "alert-what", text: what }),
      el("span", { className: "alert-rung", text: RUNG_WORDS[entry.rung] || `Level ${entry.rung}` }),
      ...(isSilence(f) ? [el("span", { className: "alert-why", text: SILENCE_WORDS })] : []),
    );
    entry.heading.textContent = `In ${roomWords(f.room, f.room_name)}`;
    entry.excerpt.textContent = String(f.excerpt || "");
    const mine = entry.state === "mine";
    entry.takeButton.hidden = mine;
    entry.takeButton.disabled = entry.state === "taking";
    entry.takeButton.textContent = entry.state === "taking" ? "Taking…" : "I'm taking this";
    entry.openButton.hidden = !mine || isTopic(f);
    entry.closeButton.hidden = !mine;
    const group = typeof f.room === "string" && f.room !== "" && !f.room.startsWith("dm-");
    entry.inviteButton.hidden = !(mine && group && typeof f.message === "string" && f.message);
    entry.countdown.hidden = mine;
    if (mine) {
      if (isTopic(f)) {
        entry.status.textContent = "You took this. Their support request is at the top of the queue: claim it to reach them.";
      } else {
        entry.status.textContent = entry.inviteButton.hidden
          ? "You took this. Open the room to reach the person."
          : "You took this. Open the room, or invite the person to a private chat.";
      }
    }
    else if (entry.state === "taking") entry.status.textContent = "";
    this.renderClock(entry);
  }

  renderClock(entry) {
    if (entry.state === "mine") return;
    const left = Number(entry.frame.deadline) - this.opts.serverNow();
    if (!Number.isFinite(left)) {
      entry.clockLabel.textContent = "Respond now";
      entry.clock.textContent = "";
      return;
    }
    const overdue = left <= 0;
    entry.node.dataset.overdue = overdue ? "yes" : "no";
    entry.clockLabel.textContent = overdue
      ? entry.rung >= 3
        ? "Overdue: still waiting for someone"
        : "Time is up: passing to more staff"
      : "Respond within";
    const text = overdue ? "" : clock(left);
    if (entry.clock.textContent !== text) entry.clock.textContent = text;
  }

  remove(entry) {
    entry.node.remove();
    this.byId.delete(entry.id);
  }

  say(text) {
    // Clearing first makes the same sentence be read again.
    const live = this.opts.live;
    live.textContent = "";
    setTimeout(() => {
      live.textContent = text;
    }, 50);
  }

  note(text) {
    const item = el("li", { text });
    this.opts.notes.append(item);
    setTimeout(() => item.remove(), NOTE_MS);
  }

  /** Sound, title and the container's state follow the set of open alerts. */
  update() {
    const open = this.ringing().length;
    this.container.hidden = this.byId.size === 0;
    flashTitle(open ? `⚠ URGENT ALERT (${open}) ⚠` : "");
    document.body.dataset.alerting = open ? "yes" : "no";
    this.renderSound();
    this.opts.onChange();
  }

  renderSound() {
    const open = this.ringing().length > 0;
    const audio = audioState();
    const state = !open ? "quiet" : audio === "running" ? "ringing" : "locked";
    this.container.dataset.sound = state;
    for (const entry of this.byId.values()) {
      const text =
        entry.state === "open" && state === "locked"
          ? audio === "none"
            ? "This device cannot play the alarm sound."
            : "Click anywhere on this page to turn the alarm sound on."
          : "";
      if (entry.sound.textContent !== text) entry.sound.textContent = text;
    }
  }

  tick() {
    const now = Date.now();
    if (this.reconnectedAt && now - this.reconnectedAt > STALE_AFTER_RECONNECT_MS) {
      // Not sent again after the reconnect: taken (or closed) while this console was away.
      for (const entry of [...this.byId.values()]) {
        if (entry.state !== "mine" && (entry.seenAt || 0) < this.reconnectedAt) {
          this.remove(entry);
          this.note("An alert was taken or closed while this console was offline.");
        }
      }
      this.reconnectedAt = 0;
      this.update();
    }
    for (const entry of this.byId.values()) this.renderClock(entry);
    if (this.ringing().length && now - this.lastAlarm >= ALARM_EVERY_MS) {
      this.lastAlarm = now;
      if (playAlarm()) this.beeps += 1;
    }
    this.renderSound();
  }

  /** For the browser tests: what the alarm is doing. */
  snapshot() {
    return {
      open: this.ringing().length,
      shown: this.byId.size,
      sound: this.container.dataset.sound || "quiet",
      beeps: this.beeps,
      title: document.title,
    };
  }
}
